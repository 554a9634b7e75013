/* cairn version and cairn monitor: the client's and the daemon's versions, and the event
 * stream of /1.0/events as Incus' client prints it. */
#include "cmd/cairn/cli.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

int cli_cmd_version(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *server = NULL;
	struct cli_client *c = NULL;
	json_object *env = NULL;
	const char *version = NULL;

	(void)args;
	(void)err;
	fprintf(ctx->out, "Client version: %s\n", CLI_VERSION);
	/* As Incus: a daemon that is not there (or refuses us) is "unreachable", not a failure. */
	if (cli_ctx_client(ctx, &c, NULL) >= 0 &&
	    cli_client_query(c, "GET", "/1.0", NULL, &server, NULL) >= 0 &&
	    json_object_object_get_ex(server, "environment", &env))
		version = api_get_string(env, "server_version");
	fprintf(ctx->out, "Server version: %s\n", version && *version ? version : "unreachable");
	return 0;
}

/* Set by SIGINT and SIGTERM: the stream ends and the command returns normally. */
static volatile bool monitor_stop;

static void on_stop(int sig)
{
	(void)sig;
	monitor_stop = true;
}

enum monitor_format {
	MONITOR_YAML,
	MONITOR_JSON,
	MONITOR_PRETTY,
	MONITOR_FORMAT_MAX,
};

struct monitor {
	FILE *out;
	enum monitor_format format;
};

/* One line as Incus' --pretty writes an event: level, time, then what happened. */
static void render_pretty(FILE *out, json_object *ev)
{
	json_object *md = NULL, *ctx = NULL;
	const char *type = api_get_string(ev, "type");
	const char *stamp = api_get_string(ev, "timestamp");

	json_object_object_get_ex(ev, "metadata", &md);
	if (type && strcmp(type, "lifecycle") == 0) {
		fprintf(out, "INFO   [%s] Action: %s, Source: %s", stamp ? stamp : "",
			api_get_string(md, "action") ? api_get_string(md, "action") : "",
			api_get_string(md, "source") ? api_get_string(md, "source") : "");
		if (json_object_object_get_ex(md, "context", &ctx) &&
		    json_object_is_type(ctx, json_type_object)) {
			json_object_object_foreach(ctx, key, val)
			{
				fprintf(out, " %s=%s", key, json_object_get_string(val));
			}
		}
	} else if (type && strcmp(type, "operation") == 0) {
		fprintf(out, "INFO   [%s] ID: %s, Class: %s, Description: %s Status=%s",
			stamp ? stamp : "",
			api_get_string(md, "id") ? api_get_string(md, "id") : "",
			api_get_string(md, "class") ? api_get_string(md, "class") : "",
			api_get_string(md, "description") ? api_get_string(md, "description") : "",
			api_get_string(md, "status") ? api_get_string(md, "status") : "");
	} else {
		const char *level = api_get_string(md, "level");

		fprintf(out, "%-6s [%s] %s", level ? level : "INFO", stamp ? stamp : "",
			api_get_string(md, "message") ? api_get_string(md, "message") : "");
	}
	fputc('\n', out);
}

static int on_event(const char *line, void *data)
{
	struct monitor *m = data;
	_cleanup_json_ json_object *ev = json_tokener_parse(line);

	/* The keep-alive newlines never get here; anything else that is not an event is
	 * skipped rather than ending the watch. */
	if (!ev || !json_object_is_type(ev, json_type_object))
		return 0;
	switch (m->format) {
	case MONITOR_JSON:
		/* Incus writes every event followed by an empty line, in both formats. */
		fprintf(m->out, "%s\n\n",
			json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
		break;
	case MONITOR_YAML:
		if (cli_render_yaml(m->out, ev, NULL) == 0)
			fputs("\n\n", m->out);
		break;
	case MONITOR_PRETTY:
	case MONITOR_FORMAT_MAX:
	default:
		render_pretty(m->out, ev);
		break;
	}
	fflush(m->out);
	return 0;
}

int cli_cmd_monitor(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	static const char *const types[] = {"lifecycle", "operation", "logging"};
	const char *format = cli_flag_string(args, "format");
	struct monitor m = {.out = ctx->out, .format = MONITOR_YAML};
	_cleanup_free_ char *filter = strdup("");
	_cleanup_free_ char *path = NULL;
	struct sigaction sa = {.sa_handler = on_stop}, old_int, old_term;
	struct cli_client *c = NULL;
	int r;

	if (!filter)
		return err_set(err, -ENOMEM, "Out of memory");
	if (cli_flag_bool(args, "pretty") || (format && strcmp(format, "pretty") == 0))
		m.format = MONITOR_PRETTY;
	else if (format && strcmp(format, "json") == 0)
		m.format = MONITOR_JSON;
	else if (format && strcmp(format, "yaml") != 0)
		return err_set(err, -EINVAL, "Invalid format \"%s\" (json, pretty or yaml)",
			       format);
	for (char *const *t = cli_flag_list(args, "type"); *t; t++) {
		bool known = false;
		char *f;

		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			known = known || strcmp(*t, types[i]) == 0;
		if (!known)
			return err_set(
			    err, -EINVAL,
			    "Invalid event type \"%s\" (lifecycle, operation or logging)", *t);
		f = str_printf("%s%s%s", filter, *filter ? "," : "", *t);
		if (!f)
			return err_set(err, -ENOMEM, "Out of memory");
		free(filter);
		filter = f;
	}
	path = *filter ? str_printf("/1.0/events?type=%s", filter) : strdup("/1.0/events");
	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;

	/* No SA_RESTART: Ctrl-C only sets the flag, and the stream notices within a second. */
	monitor_stop = false;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	r = cli_client_stream_lines(c, path, on_event, &m, &monitor_stop, err);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	return r;
}
