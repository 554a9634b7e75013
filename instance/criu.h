#pragma once

/*
 * CRIU, as cairn uses it for stateful snapshots and stateful stops: where it is, which version it
 * is, whether `criu check` passes on this kernel, how it can lock the network, and what in an
 * instance would keep a dump from working.
 *
 * liblxc runs `criu` itself and finds it on PATH (liblxc's criu.c: on_path("criu")), so cairnd
 * chooses the binary (CAIRN_CRIU, else the first `criu` on its PATH or in the sbin directories)
 * and gives the checkpoint and restore helpers a PATH whose first directory holds it
 * (instance_criu_helper_env()).
 */

#include <stdbool.h>

struct err;
struct instance_env;

/* The oldest CRIU that runs on kernels from 6.13 on: older ones fail `criu check` there with
 * "Failed to fill self vdso symtable". */
#define INSTANCE_CRIU_MIN_MAJOR 4
#define INSTANCE_CRIU_MIN_MINOR 1

/* What cairnd found out about CRIU on this host. Every string is owned; free with
 * instance_criu_done(). */
struct instance_criu {
	char *path;	    /* the criu binary cairnd uses, NULL when none is found */
	bool from_env;	    /* path came from CAIRN_CRIU */
	char *version;	    /* "4.2", NULL when `criu --version` said nothing usable */
	int major, minor;   /* of version, 0 when unknown */
	char *kernel;	    /* uname -r */
	bool check_ok;	    /* `criu check` exited 0 */
	char *check_line;   /* CRIU's own verdict: "Looks good." or its first error message */
	char *network_lock; /* "iptables" or "nftables" (CRIU_CONFIG_FILE), NULL when neither */
	char *problem;	    /* why stateful work cannot run here, NULL when it can */
};

void instance_criu_done(struct instance_criu *c);

/*
 * Looks for CRIU and runs `criu --version` and `criu check` (and, without iptables-restore,
 * `criu check --feature network_lock_nftables`). The result is cached for as long as the binary
 * and CAIRN_CRIU stay the same, so this is cheap after the first call. Never fails for want of
 * CRIU: ret->problem says what is wrong. -ENOMEM only.
 */
int instance_criu_probe(struct instance_criu *ret, struct err **err);

/*
 * 0 when stateful work can run here, else -EOPNOTSUPP with the reason, e.g. "CRIU 4.1 or newer
 * is needed on this kernel (6.18): CRIU 3.17 (/usr/sbin/criu) fails `criu check`: Failed to
 * fill self vdso symtable", or "CRIU 4.1 or newer is needed; it is not installed (cairnd looks
 * at CAIRN_CRIU, then its PATH)". With `ret` (may be NULL) the probe is handed out too.
 */
int instance_criu_require(struct instance_criu *ret, struct err **err);

/*
 * Parses the output of `criu --version` ("Version: 3.17\n..."): major and minor. -EINVAL when
 * there is no version line.
 */
int instance_criu_parse_version(const char *text, int *ret_major, int *ret_minor);

/*
 * The first error message in the output of a CRIU command: the text after "Error (file:line): "
 * of the first such line, else the last non-empty line; NULL when there is none. Caller frees.
 */
char *instance_criu_error_line(const char *text);

/*
 * The errors of a failed CRIU run from its log `text`: the last two "Error (...): " messages
 * before the closing "Dumping FAILED." / "Restoring FAILED.", joined by "; "; NULL when there are
 * none. Caller frees.
 */
char *instance_criu_log_errors(const char *text);

/*
 * The environment of a checkpoint or restore helper (NULL-terminated, free with strv_free()):
 * cairnd's own, with PATH led by the directory of `criu->path` (through a link named `criu` in
 * `run_dir` when the binary has another name) and, when CRIU locks the network with nftables,
 * CRIU_CONFIG_FILE naming `run_dir`/criu.conf, written here. -errno on failure.
 */
int instance_criu_helper_env(const struct instance_criu *criu, const char *run_dir, char ***ret_env,
			     struct err **err);

/*
 * What would keep a dump of instance `name` from working, one sentence each: migration.stateful
 * not set, not running, frozen, started before migration.stateful was set (*ret); and the
 * processes a dump would leave out, those that do not descend from the container's init, such
 * as commands running through `cairn exec` (*ret_left_out). Both NULL-terminated, never NULL on
 * success; free with strv_free(). -ENOENT for an unknown instance.
 */
int instance_criu_blockers(const struct instance_env *env, const char *name, char ***ret,
			   char ***ret_left_out, struct err **err);
