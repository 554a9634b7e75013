#pragma once

/*
 * The cairn client. One command table (commands.c) drives argument parsing, the --help text and
 * the REPL's tab completion; client.c speaks doc/api.md over the daemon's unix socket; output.c
 * renders tables, csv, json and yaml; one cmd_*.c file per command family holds the handlers.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

struct err;
struct cli_ctx;
struct cli_client;

#define CLI_VERSION "0.1.0"

/* The most flags one command may declare (the parser keeps their values in a fixed array). */
#define CLI_MAX_FLAGS 12

/* What the REPL offers when completing a command's positional arguments. */
enum cli_complete {
	CLI_COMPLETE_NONE,
	CLI_COMPLETE_INSTANCE,		     /* every argument is an instance name */
	CLI_COMPLETE_INSTANCE_THEN_KEY,	     /* an instance, then config keys */
	CLI_COMPLETE_IMAGE,		     /* image aliases and fingerprints */
	CLI_COMPLETE_IMAGE_THEN_NONE,	     /* the first argument is an image */
	CLI_COMPLETE_POOL,		     /* storage pool names */
	CLI_COMPLETE_FILE,		     /* local file names (readline's default) */
	CLI_COMPLETE_INSTANCE_THEN_SNAPSHOT, /* an instance, then snapshots of it */
	CLI_COMPLETE_OPERATION,		     /* operation ids */
	CLI_COMPLETE_PROFILE,		     /* the first argument is a profile name */
	CLI_COMPLETE_PROFILE_THEN_KEY,	     /* a profile, then config keys */
	CLI_COMPLETE_INSTANCE_THEN_PROFILE,  /* an instance, then profile names */
	CLI_COMPLETE_NETWORK,		     /* network names */
	CLI_COMPLETE_MAX,
};

enum cli_flag_type {
	CLI_FLAG_BOOL,	 /* --force; "--force=false" is accepted too */
	CLI_FLAG_STRING, /* --description TEXT; the last one wins */
	CLI_FLAG_INT,	 /* --timeout N; checked to be a whole number at parse time */
	CLI_FLAG_LIST,	 /* -c KEY=VALUE, repeatable; every value is kept in order */
	CLI_FLAG_TYPE_MAX,
};

struct cli_flag {
	const char *name; /* long name without the dashes */
	char short_name;  /* 0 when none */
	enum cli_flag_type type;
	const char *arg_name; /* placeholder in the help text ("KEY=VALUE"); NULL for booleans */
	const char *help;
};

/* The value of one flag after parsing. */
struct cli_flag_value {
	bool set;
	char *value; /* owned; last value for STRING/INT, "true"/"false" for BOOL */
	char **list; /* owned NULL-terminated array, LIST flags only */
};

struct cli_args;

/* A handler runs one parsed command; 0 or a negative errno with *err filled. */
typedef int (*cli_handler_t)(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);

/* Which positional arguments may name a remote ("r2:c1"). The default follows `complete`: the
 * first argument for instance, profile and pool commands, the second (NAME) for those whose
 * first is an image; others use the default remote. */
enum cli_remote_args {
	CLI_REMOTE_DEFAULT,
	CLI_REMOTE_ALL,		 /* every argument is a name (start, delete, copy ...) */
	CLI_REMOTE_LAST,	 /* the last one (file push's NAME/PATH) */
	CLI_REMOTE_ALL_BUT_LAST, /* all but the last (file pull's NAME/PATH...) */
	CLI_REMOTE_LIST,	 /* "cairn list r2:" and "r2:FILTER" */
	CLI_REMOTE_NONE,	 /* no argument names a remote */
	/* each argument on a remote of its own (copy, move): ctx->arg_remotes */
	CLI_REMOTE_EACH,
	CLI_REMOTE_ARGS_MAX,
};

struct cli_command {
	const char *name;
	const char *const *aliases;	       /* NULL-terminated, or NULL */
	const struct cli_command *subcommands; /* terminated by a NULL name, or NULL */
	const char *usage;		       /* the arguments part of the usage line */
	const char *help;		       /* one line */
	int min_args;
	int max_args;		      /* -1: no limit */
	const struct cli_flag *flags; /* terminated by a NULL name, or NULL */
	cli_handler_t handler;	      /* NULL for a family that only has subcommands */
	enum cli_complete complete;
	enum cli_remote_args remote;
	/* The command passes descriptors over the unix socket (exec, shell, console): an HTTPS
	 * remote is refused with an error naming it. */
	bool local_only;
};

/* The result of parsing a command line against the table. */
struct cli_args {
	const struct cli_command *cmd; /* the deepest command matched; borrowed from the table */
	char *path;		       /* "cairn config set": the words that led to cmd; owned */
	char **argv;		       /* positional arguments, NULL-terminated, owned */
	size_t argc;
	bool help;				     /* --help or -h was given */
	bool version;				     /* --version was given (top level only) */
	struct cli_flag_value values[CLI_MAX_FLAGS]; /* parallel to cmd->flags */
};

/* ---- commands.c: the table ---- */

/* The top-level command: its subcommands are the table of every command. Static. */
const struct cli_command *cli_root(void);

/* ---- args.c: parsing, usage, line splitting ---- */

/*
 * Parses argv (without the program name) against the table under `root`. Subcommand words are
 * matched first, then flags and positional arguments may be mixed; "--" ends the flags. On
 * success *ret is filled (free it with cli_args_done()); a command that has only subcommands and
 * got none comes back with help set. Errors (-EINVAL, message as printed after "Error: "):
 * `unknown command "x" for "cairn"` (with cobra's "Did you mean this?" lines for the commands
 * close to it), `unknown flag "--y"`, `flag needs an argument: "-c"`,
 * `invalid argument "x" for "--timeout" flag`, `Invalid number of arguments`. *ret->cmd and
 * ret->path are filled even on an argument count error so the caller can print the usage.
 */
int cli_parse(const struct cli_command *root, char *const *argv, size_t argc, struct cli_args *ret,
	      struct err **err);

/*
 * The settings of a `set` command (`config set`, `storage set`) after its NAME, as Incus reads
 * them: `KEY VALUE` when there are exactly two words and the first has no '=', else
 * `KEY=VALUE...`. *ret is a JSON object of strings in the order given (a repeated key: the last
 * value), the caller's to put. -EINVAL with `Invalid key=value configuration: WORD` for a word
 * without a key (`...: the key cannot be empty` for an empty KEY).
 */
int cli_parse_settings(char *const *words, size_t n, json_object **ret, struct err **err);

/*
 * For `storage set` and `network set`: adds the parsed `settings` to the object's `config`, except
 * `description`, which is a field of the object (as in Incus) and replaces *description (owned,
 * never NULL on success).
 */
int cli_settings_apply(json_object *settings, json_object *config, char **description,
		       struct err **err);

/* For `storage edit` and `network edit`: the description and config of the YAML `text` (a
 * mapping, as `show` prints it); *ret_config may be NULL (none given). `what` names the object
 * in the error ("storage pool", "network"). *ret_doc holds both; the caller puts it. */
int cli_parse_object_yaml(const char *text, const char *what, json_object **ret_doc,
			  json_object **ret_config, const char **ret_description, struct err **err);

/* Frees the contents of `a` and leaves it zeroed; may be called twice. */
void cli_args_done(struct cli_args *a);

/* The value of STRING/INT flag `name`, or NULL when not given. Borrowed from `a`. */
const char *cli_flag_string(const struct cli_args *a, const char *name);

/* True when BOOL flag `name` was given (and not as "=false"). */
bool cli_flag_bool(const struct cli_args *a, const char *name);

/* The values of LIST flag `name` (NULL-terminated, possibly empty, never NULL). Borrowed. */
char *const *cli_flag_list(const struct cli_args *a, const char *name);

/* The value of INT flag `name`, or `fallback` when not given. */
long long cli_flag_int(const struct cli_args *a, const char *name, long long fallback);

/* Writes the help of `cmd` (description, usage, subcommands, flags) in the cobra layout that
 * Incus prints. `path` is the words that lead to it ("cairn config"). */
void cli_print_help(FILE *out, const struct cli_command *cmd, const char *path);

/*
 * Splits one REPL line into words the way a shell does: blanks separate words, single quotes
 * keep everything literally, double quotes keep blanks and allow \" and \\, a backslash outside
 * quotes escapes the next character. *ret_argv is NULL-terminated and the caller's to free
 * (strv_free). -EINVAL with `Unterminated quote` / `Trailing backslash` otherwise.
 */
int cli_split_line(const char *line, char ***ret_argv, size_t *ret_argc, struct err **err);

/* ---- cli.c: the context and dispatch ---- */

struct cli_ctx {
	struct cli_client *client; /* opened on first use, owned */
	char *dir;		   /* $CAIRN_DIR, owned */
	FILE *out;		   /* normal output (stdout) */
	bool in_repl;		   /* commands run from the REPL */
	bool stdin_tty;		   /* stdin is a terminal */
	bool quiet;		   /* --quiet: no progress, ctx->out discards */
	int exit_status;	   /* what a successful command exits with (exec: the command's) */
	char *remote;		   /* the remote the command's arguments named; NULL: the default */
	char *client_remote;	   /* the remote `client` is connected to, owned */
	/* CLI_REMOTE_EACH: the remote each of the first two arguments named (NULL: none) */
	char *arg_remotes[2];
};

/* ---- cmd_migrate.c: copy and move between daemons ---- */

/*
 * The part of `copy` and `move` that crosses daemons: when the arguments' remotes
 * (ctx->arg_remotes, else the default one) are one and the same, sets ctx->remote to it and
 * returns 0 for the caller to go on as on one daemon; otherwise transfers the instance (push
 * mode when the target serves HTTPS, pull mode when only the source does; with `move`, then
 * deletes the source) and returns 1.
 */
int cli_migrate(struct cli_ctx *ctx, const struct cli_args *args, bool move, struct err **err);

/* Initialises a context from the environment (CAIRN_DIR, whether stdin is a terminal). */
int cli_ctx_init(struct cli_ctx *ctx, struct err **err);

/* Closes the client and frees the context's contents; may be called twice. */
void cli_ctx_done(struct cli_ctx *ctx);

/* The connected client of `ctx` for its remote (ctx->remote, else the default one), opened
 * (and the socket checked) on first use. Borrowed. */
int cli_ctx_client(struct cli_ctx *ctx, struct cli_client **ret, struct err **err);

/*
 * Opens a client for remote `name`: `local` is $CAIRN_DIR/unix.socket, a unix:// remote its
 * socket, an HTTPS remote its address with the client's certificate (made on first need) and
 * the remote's stored certificate pinned. -ENOENT with `Remote "x" doesn't exist`.
 */
int cli_open_remote(struct cli_ctx *ctx, const char *name, struct cli_client **ret,
		    struct err **err);

/*
 * Takes the "REMOTE:" prefixes off the arguments of `args` that may carry one (cmd->remote) and
 * sets ctx->remote. The prefix must name a known remote (-ENOENT `Remote "x" doesn't exist`);
 * names on two different remotes are -EINVAL. A command marked local_only on an HTTPS remote is
 * -EOPNOTSUPP naming the remote. `remote add`'s own words are never touched.
 */
int cli_resolve_remote(struct cli_ctx *ctx, struct cli_args *args, struct err **err);

/* The `show` of an API object: GET `path` and write what it answers as YAML. */
int cli_show_yaml(struct cli_ctx *ctx, const char *path, struct err **err);

/*
 * Parses and runs one command line (argv without the program name), printing help, version or
 * usage as asked. Returns 0 or the negative errno of the failure with *err filled; the caller
 * prints the error.
 */
int cli_dispatch(struct cli_ctx *ctx, char *const *argv, size_t argc, struct err **err);

/* The program: runs argv, prints `Error: ...` on failure and returns the exit status. */
int cli_main(int argc, char **argv);

/* ---- complete.c: completion for the REPL and the shell ---- */

/*
 * The candidates for `text`, the word being completed after `words` (the words before it, without
 * the program name): subcommands, flags (when `text` starts with '-'), and names from the daemon
 * by the command's enum cli_complete ("c1/" completes the snapshots of c1). *ret is
 * NULL-terminated or NULL, only candidates starting with `text`, the caller's to strv_free().
 * *ret_files is set when local file names are what fits. A daemon that cannot be reached gives
 * no names. Always 0.
 */
int cli_complete_words(struct cli_ctx *ctx, char *const *words, size_t nwords, const char *text,
		       char ***ret, bool *ret_files);

/* `cairn __complete WORD... CURRENT`: prints the candidates for CURRENT, one a line. */
int cli_complete_main(struct cli_ctx *ctx, char *const *argv, size_t argc);

/* ---- gendoc.c: the shell completion script and the manual pages ---- */

/* Writes the bash completion script for the table under `root`: commands, subcommands and flags
 * from the table, names through `cairn __complete`. */
void cli_gen_bash(FILE *out, const struct cli_command *root);

/* Writes one man(7) page for `cmd`, whose words are `path` ("cairn config set"). */
void cli_gen_manpage(FILE *out, const struct cli_command *cmd, const char *path);

/* Writes DIR/<path with dashes>.1 for the root and every command under it. -errno on failure
 * with the file named. */
int cli_gen_manpages(const struct cli_command *root, const char *dir, struct err **err);

/* ---- progress.c: one line of progress on a terminal ---- */

struct cli_progress {
	FILE *out;	   /* NULL: inactive (not a terminal, or --quiet) */
	char *label;	   /* "Importing image", owned */
	long long total;   /* bytes expected, 0 when unknown */
	long long done;	   /* bytes so far */
	double started;	   /* CLOCK_MONOTONIC seconds */
	double last_shown; /* when the line was last written */
	size_t last_len;   /* width of the line last written, to blank what it leaves */
};

/* Starts a progress line on `out` when it is a terminal and `quiet` is false; otherwise every
 * call on `p` does nothing. `total` may be 0. */
void cli_progress_start(struct cli_progress *p, FILE *out, bool quiet, const char *label,
			long long total);

/* Records `done` bytes and redraws the line at most every 100 ms. */
void cli_progress_update(struct cli_progress *p, long long done);

/* Redraws the line with a text in place of the byte count ("Unpacking: 40%"). */
void cli_progress_text(struct cli_progress *p, const char *text);

/* Clears the line and frees the label; may be called twice. */
void cli_progress_done(struct cli_progress *p);

/* "1.50MB" for 1500000 (decimal units, as Incus' progress shows them), into buf. */
void cli_progress_format_bytes(char *buf, size_t len, double bytes);

/* ---- client.c: HTTP over the unix socket ---- */

/*
 * Opens a client for the daemon whose socket is `socket_path`. It connects once itself before
 * any request so that the two common failures read clearly: -EACCES with `You don't have the
 * needed permissions to talk to cairnd (not in group cairn-admin)` (the socket's group when it
 * has one) and -ENOENT/-ECONNREFUSED with `cairnd is not running (no socket at <path>)`.
 * Free with cli_client_free().
 */
int cli_client_open(const char *socket_path, struct cli_client **ret, struct err **err);

/* Frees a client; NULL is accepted. */
void cli_client_free(struct cli_client *c);

/* What a client needs to reach an HTTPS remote. */
struct cli_https {
	const char *base;      /* "https://HOST:PORT" */
	const char *remote;    /* the remote's name, for messages */
	const char *cert_path; /* the client's certificate and key (PEM files); NULL: none */
	const char *key_path;
	const char *server_cert; /* the stored server certificate (PEM); NULL: not checked */
};

/*
 * Opens a client for an HTTPS remote. Every request then pins the key of `server_cert`: a
 * server presenting another certificate is refused before anything is sent, -EPERM with `The
 * certificate of remote "r" (URL) has changed: its fingerprint is NEW, not OLD as stored...`.
 * A server that cannot be reached is -EHOSTUNREACH naming the remote; an answer that is not an
 * API envelope -EPROTO `Remote "r" at URL is not cairnd...`. Nothing is connected here.
 */
int cli_client_open_https(const struct cli_https *h, struct cli_client **ret, struct err **err);

/* True for a client on a unix socket (exec, console and files pass descriptors on it). */
bool cli_client_is_local(const struct cli_client *c);

/*
 * Connects to `base` ("https://HOST:PORT") without trusting it yet and reads GET /1.0: the
 * certificate the server presented (PEM, *ret_cert, the caller's) and the server object
 * (*ret_server, may be NULL). -EPROTO with `URL is not cairnd: ...` when the answer is not
 * cairnd's (or Incus's) server object, -EHOSTUNREACH when nothing answers.
 */
int cli_client_probe(const char *base, char **ret_cert, json_object **ret_server, struct err **err);

/*
 * Sends `method` `path` (under http://cairn, e.g. "/1.0/instances?recursion=1") with `body`
 * (JSON, may be NULL) and reads the envelope. A sync answer gives its metadata; an async answer
 * is waited for (GET /1.0/operations/<id>/wait) and gives the finished operation object. A
 * failed operation's `err` becomes the error. *ret_metadata (may be NULL) is the caller's to
 * put. Errors: the errno of the daemon's error code with its message, -EACCES for a refused
 * peer, -EIO when the daemon cannot be reached, -EPROTO for an answer that is not an envelope.
 */
int cli_client_query(struct cli_client *c, const char *method, const char *path, json_object *body,
		     json_object **ret_metadata, struct err **err);

/* Sends a request answered with an operation and returns that operation object (the caller's)
 * without waiting for it. -EPROTO when the answer is not an operation. */
int cli_client_start(struct cli_client *c, const char *method, const char *path, json_object *body,
		     json_object **ret_operation, struct err **err);

/* Waits for operation `id` to end, showing its progress on `progress` (may be NULL) meanwhile;
 * its failure becomes the error (-EIO with its message). *ret_operation (may be NULL) is the
 * finished operation object. */
int cli_client_wait(struct cli_client *c, const char *id, struct cli_progress *progress,
		    json_object **ret_operation, struct err **err);

/*
 * POSTs the file `fd` (of `size` bytes, streamed, never read into memory as a whole) to `path`
 * with the extra header lines `headers` (NULL-terminated, may be NULL), then as
 * cli_client_query().
 */
int cli_client_upload(struct cli_client *c, const char *path, int fd, long long size,
		      char *const *headers, json_object **ret_metadata, struct err **err);

/* As cli_client_upload(), updating `progress` (may be NULL) with the bytes sent, then with the
 * operation's progress while the daemon works on it. */
int cli_client_upload_progress(struct cli_client *c, const char *path, int fd, long long size,
			       char *const *headers, struct cli_progress *progress,
			       json_object **ret_metadata, struct err **err);

/* As cli_client_query(), showing the running operation's metadata "progress" text (Incus's
 * shape: {"progress": {"stage", "percent", "processed", "speed"}}) on `progress` (may be NULL)
 * while it waits. */
int cli_client_query_progress(struct cli_client *c, const char *method, const char *path,
			      json_object *body, struct cli_progress *progress,
			      json_object **ret_metadata, struct err **err);

/*
 * GETs `path` (an endless stream of newline-separated JSON, /1.0/events) and calls `fn` with each
 * non-empty line until `fn` returns non-zero, *stop becomes true (checked at least once a
 * second) or the daemon ends the stream. 0 when stopped by *stop or the end of the stream.
 */
int cli_client_stream_lines(struct cli_client *c, const char *path,
			    int (*fn)(const char *line, void *data), void *data,
			    volatile const bool *stop, struct err **err);

/* GETs `path` and writes the body to `fd` as it arrives (never held whole in memory), updating
 * `progress` (may be NULL) with the bytes so far. An error answer becomes the error. */
int cli_client_download(struct cli_client *c, const char *path, int fd,
			struct cli_progress *progress, struct err **err);

/* POSTs `body` (JSON) to `path` asking for application/octet-stream (Incus's direct backup) and
 * writes the answer to `fd` as it arrives, as cli_client_download(). A transfer that breaks off
 * is an error with the message of the daemon's operation, when it names one. */
int cli_client_post_download(struct cli_client *c, const char *path, json_object *body, int fd,
			     struct cli_progress *progress, struct err **err);

/* The socket of a client on a unix socket, NULL for an HTTPS remote. Borrowed. */
const char *cli_client_socket_path(const struct cli_client *c);

/* A daemon's answer as it came, for `cairn webui`'s proxy. */
struct cli_forward {
	long status; /* HTTP status */
	bool json;   /* the body is application/json */
	char *body;  /* owned, NUL-terminated */
	size_t len;
};

/*
 * Sends `method` `target` (a path and query, e.g. "/1.0/instances?recursion=2") with `body` (JSON,
 * `body_len` bytes; NULL for none) and gives back the status and body as they came, without
 * reading the envelope or waiting for an operation. Errors: as cli_client_query() when the daemon
 * cannot be reached; an error answer is not an error here.
 */
int cli_client_forward(struct cli_client *c, const char *method, const char *target,
		       const char *body, size_t body_len, struct cli_forward *ret,
		       struct err **err);

/* A copy of `s` escaped for use as one path segment of a URL. Caller frees; NULL on OOM. */
char *cli_escape(const char *s);

/* The last segment of an API URL ("/1.0/instances/c1" gives "c1"), unescaped. Caller frees. */
char *cli_url_basename(const char *url);

/* ---- names.c: generated instance names ---- */

/* How many names cli_generated_name() can give. */
size_t cli_generated_name_count(void);

/* The `n`th (modulo the count) generated name, adjective-noun as Incus makes them
 * ("wise-lark"), always a valid instance name. Caller frees; NULL when out of memory. */
char *cli_generated_name(uint32_t n);

/* ---- output.c: rendering ---- */

enum cli_format {
	CLI_FORMAT_TABLE,
	CLI_FORMAT_CSV,
	CLI_FORMAT_JSON,
	CLI_FORMAT_YAML,
	CLI_FORMAT_MAX,
};

/* Reads a --format value; NULL means table. -EINVAL with `Invalid format "x"` otherwise. */
int cli_format_parse(const char *s, enum cli_format *ret, struct err **err);

/* The fetch of a `list` command: the --format flag of `args` into *ret_fmt, then GET `path`
 * (a `?recursion=1` list) into *ret_list, which must be a JSON array (`what` names it in the
 * error, e.g. "profile list"). */
int cli_list_fetch(struct cli_ctx *ctx, const struct cli_args *args, const char *path,
		   const char *what, enum cli_format *ret_fmt, json_object **ret_list,
		   struct err **err);

/* Rows of strings under a header; cells may hold several lines separated by '\n'. */
struct cli_table {
	size_t ncols;
	const char *const *headers; /* ncols entries, borrowed */
	char ***rows;		    /* nrows arrays of ncols owned strings */
	size_t nrows;
};

/* Appends a row (ncols cells, copied). -ENOMEM on failure. */
int cli_table_add(struct cli_table *t, const char *const *cells);

/* Sorts the rows by their cells from left to right. */
void cli_table_sort(struct cli_table *t);

/* Frees the rows; may be called twice. */
void cli_table_done(struct cli_table *t);

/* Writes `t` as an Incus box table (+----+ borders, centred header, a line between rows) or as
 * csv without a header, depending on `fmt` (TABLE or CSV). */
void cli_table_render(FILE *out, const struct cli_table *t, enum cli_format fmt);

/* Writes a json-c tree as one line of JSON. */
void cli_render_json(FILE *out, json_object *o);

/* Writes a json-c tree as YAML (config_yaml_emit). */
int cli_render_yaml(FILE *out, json_object *o, struct err **err);

/* "2026/11/21 15:57 UTC" for an RFC 3339 time; NULL for absent, empty or zero (0001-01-01)
 * times. Caller frees. */
char *cli_format_time(const char *rfc3339);

/* "Nov 21, 2026 at 3:57pm (UTC)" (Incus' image list date); NULL as cli_format_time(). */
char *cli_format_date_long(const char *rfc3339);

/*
 * Writes the instance list from GET /1.0/instances?recursion=2 (an array of instance objects;
 * recursion=1 when no column needs the state or the snapshots). `columns` is a -c value as
 * cli_columns_parse() (filter.h) reads it (NULL: "ns46tS"): n NAME, s STATE, 4 IPV4, 6 IPV6,
 * t TYPE, S SNAPSHOTS, d DESCRIPTION, a ARCHITECTURE, b STORAGE POOL, c CREATED AT, l LAST USED
 * AT, p PID, N PROCESSES, e PROJECT, f/F BASE IMAGE, P PROFILES, m MEMORY USAGE, M MEMORY
 * USAGE%, u CPU USAGE, and config or device key columns. json and yaml write the objects as
 * they are. -EINVAL for a bad column specification.
 */
int cli_render_instance_list(FILE *out, json_object *list, enum cli_format fmt, const char *columns,
			     struct err **err);

/*
 * Writes `cairn info`: the instance object, its state object (may be NULL) and the snapshot
 * objects (array, may be NULL; printed as the "Snapshots:" section when not empty).
 */
void cli_render_info(FILE *out, json_object *inst, json_object *state, json_object *snapshots);

/* Writes the image list (array of image objects) as table/csv/json/yaml. */
int cli_render_image_list(FILE *out, json_object *list, enum cli_format fmt, struct err **err);

/* Writes the storage pool list (array of pool objects) as table/csv/json/yaml. */
int cli_render_pool_list(FILE *out, json_object *list, enum cli_format fmt, struct err **err);

/* Writes the profile list (array of profile objects) as table/csv/json/yaml: NAME,
 * DESCRIPTION and USED BY (how many instances and snapshots use it), as Incus lists them. */
int cli_render_profile_list(FILE *out, json_object *list, enum cli_format fmt, struct err **err);

/* ---- handlers (cmd_*.c, repl.c) ---- */

/*
 * For a command that takes an instance: 0 when `arg` has no "/" (nothing is asked of the
 * daemon). "c1/snap0" naming a snapshot is -EINVAL with `"c1/snap0" is a snapshot; "cairn
 * start" takes an instance ...` rather than a "not found"; any other "/" is the name check's
 * -EINVAL.
 */
int cli_instance_arg_check(struct cli_ctx *ctx, const struct cli_args *args, const char *arg,
			   struct err **err);

int cli_cmd_launch(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_init(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_start(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_stop(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_restart(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_delete(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_list(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_info(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);

int cli_cmd_config_show(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_config_get(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_config_set(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_config_unset(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_config_edit(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);

/*
 * The instance as `config show` and `config edit` present it, in Incus's field order
 * (architecture, config, devices, ephemeral, profiles, stateful, description), keys sorted.
 * With `expanded`, config and devices are the expanded ones (profiles applied). NULL when out of
 * memory; the caller puts it.
 */
json_object *cli_instance_view(json_object *inst, bool expanded);

/* A copy of object `o` with its keys sorted, and those of the objects in it, as Incus (Go maps)
 * prints them. An absent or non-object `o` gives an empty object; NULL when out of memory. */
json_object *cli_sorted_copy(json_object *o);

/* ---- cmd_profile.c: profiles and devices ---- */

/*
 * The device that `device add NAME DEV TYPE KEY=VALUE...` describes: {"type": TYPE, KEY: VALUE,
 * ...} in *ret (the caller's to put). -EINVAL with `No value found in "WORD"` for a word without
 * '=' (as Incus says it) and `Invalid device key in "=VALUE"` for an empty key.
 */
int cli_device_parse(const char *type, char *const *words, size_t n, json_object **ret,
		     struct err **err);

/*
 * The device `name` of an instance's `expanded` devices, copied with the KEY=VALUE `words`
 * applied, for `config device override`. -EEXIST with `The device already exists` when the
 * instance's `own` devices have it, -ENOENT with `The profile device doesn't exist` when no
 * profile gives it, -EINVAL as cli_device_parse() for a bad word.
 */
int cli_device_override(json_object *own, json_object *expanded, const char *name,
			char *const *words, size_t n, json_object **ret, struct err **err);

/* The profile as `profile show` and `profile edit` present it, in Incus's field order (config,
 * description, devices, name, used_by), keys sorted. NULL when out of memory. */
json_object *cli_profile_view(json_object *profile);

/*
 * The PUT body {description, config, devices} of a profile edited as YAML `text`. A field left
 * out of the text keeps its value in `current` (the profile as read), so that a text holding only
 * `config:` changes only the config. -EINVAL with `Invalid profile at line N: ...` for a text
 * that is not a mapping or whose fields have the wrong shape.
 */
int cli_profile_from_yaml(const char *text, json_object *current, json_object **ret_body,
			  struct err **err);

int cli_cmd_profile_list(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_profile_show(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_profile_create(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_profile_copy(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_profile_rename(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_profile_delete(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_profile_edit(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_profile_get(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_profile_set(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_profile_unset(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_profile_add(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_profile_remove(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);

/* `profile device ...` and `config device ...`: the same commands on a profile's devices or an
 * instance's own devices. */
int cli_cmd_profile_device_add(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_profile_device_remove(struct cli_ctx *ctx, const struct cli_args *args,
				  struct err **err);
int cli_cmd_profile_device_list(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_profile_device_show(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_profile_device_get(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_profile_device_set(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_profile_device_unset(struct cli_ctx *ctx, const struct cli_args *args,
				 struct err **err);
int cli_cmd_config_device_add(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_config_device_remove(struct cli_ctx *ctx, const struct cli_args *args,
				 struct err **err);
int cli_cmd_config_device_list(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_config_device_show(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_config_device_get(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_config_device_set(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_config_device_unset(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_config_device_override(struct cli_ctx *ctx, const struct cli_args *args,
				   struct err **err);

int cli_cmd_image_list(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_image_import(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_image_delete(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_image_show(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_image_alias_create(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_image_alias_delete(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_image_alias_list(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);

int cli_cmd_storage_list(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_storage_info(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_storage_create(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_storage_delete(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_storage_show(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_storage_get(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_storage_set(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_storage_unset(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_storage_edit(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_network_list(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_network_create(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_network_delete(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_network_show(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_network_get(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_network_set(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_network_unset(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_network_edit(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_network_rename(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_network_info(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_network_list_leases(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_rename(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_move(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);

int cli_cmd_snapshot(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_snapshot_create(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_snapshot_list(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_snapshot_restore(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_snapshot_delete(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_snapshot_rename(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_snapshot_show(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_snapshot_expiry(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_snapshot_auto(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_snapshot_prune(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_restore(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_export(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_import(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_copy(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_version(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_monitor(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_webui(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_remote_add(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_remote_list(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_remote_remove(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_remote_rename(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_remote_switch(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_remote_get_default(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_trust_add(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_trust_add_certificate(struct cli_ctx *ctx, const struct cli_args *args,
				  struct err **err);
int cli_cmd_trust_list(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_trust_remove(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_trust_list_tokens(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_trust_revoke_token(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_daemon_remote_add(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_daemon_remote_list(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_daemon_remote_show(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_daemon_remote_remove(struct cli_ctx *ctx, const struct cli_args *args,
				 struct err **err);

int cli_cmd_operation_list(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_operation_show(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_operation_delete(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_completion(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_manpage(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);

int cli_cmd_repl(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_doctor(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);

/* Renders the answer of GET /1.0/resources/criu as `cairn doctor` prints it. */
void cli_render_doctor(FILE *out, json_object *md);

int cli_cmd_exec(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_shell(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_file_push(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_file_pull(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_file_delete(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);
int cli_cmd_file_edit(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);

/* Runs the user's editor ($VISUAL, else $EDITOR, else /usr/bin/editor or vi) on `file` and
 * waits for it. -EIO when it fails or is killed; the errno of posix_spawn when it cannot run. */
int cli_run_editor(const char *file, struct err **err);

/* Applies the text of an `edit` to its object; an error is shown and, on a terminal, offered
 * for editing again. */
typedef int (*cli_edit_apply_fn)(void *data, const char *text, struct err **err);

/*
 * The flow of every `edit` command, as Incus has it: when stdin is not a terminal, its whole text
 * is applied once. On a terminal, `header` (may be NULL) and the YAML of `view` go into a 0600
 * temporary file for the user's editor; a text that `apply` refuses is shown and the editor
 * opened again after enter (end of input gives up with that error). The file is removed.
 */
int cli_edit(struct cli_ctx *ctx, json_object *view, const char *header, cli_edit_apply_fn apply,
	     void *data, struct err **err);
int cli_cmd_console(struct cli_ctx *ctx, const struct cli_args *args, struct err **err);

/*
 * Pieces of `config edit` that need no daemon, exposed for the tests.
 *
 * cli_config_from_yaml() parses the edited YAML text, checks that `config` maps keys to scalars
 * and validates every key whose value differs from `old_config` (the instance's config object,
 * may be NULL). On success *ret_config is a new object of string values and *ret_description a
 * new string (both the caller's). Errors are -EINVAL with a message that names the line.
 */
int cli_config_from_yaml(const char *text, json_object *old_config, json_object **ret_config,
			 char **ret_description, struct err **err);

/* The 1-based line of `text` where mapping key `key` is written (plain or quoted), preferring
 * lines after "config:"; 0 when not found. */
unsigned cli_yaml_key_line(const char *text, const char *key);
