/* cairn doctor [NAME]: whether stateful snapshots and stops can work on this host, and what in an
 * instance would block a dump. */
#include "cmd/cairn/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

void cli_render_doctor(FILE *out, json_object *md)
{
	const char *path = api_get_string(md, "path");
	const char *version = api_get_string(md, "version");
	const char *kernel = api_get_string(md, "kernel");
	const char *check = api_get_string(md, "check");
	const char *lock = api_get_string(md, "network_lock");
	const char *problem = api_get_string(md, "problem");
	json_object *inst = NULL, *blockers = NULL, *left_out = NULL;
	const char *name;

	fprintf(out, "Kernel: %s\n", kernel ? kernel : "unknown");
	if (path)
		fprintf(out, "CRIU: %s%s\n", path,
			api_get_bool(md, "from_env", false) ? " (from CAIRN_CRIU)" : "");
	else
		fputs("CRIU: not found (cairnd looks at CAIRN_CRIU, then its PATH)\n", out);
	if (path)
		fprintf(out, "CRIU version: %s\n", version ? version : "unknown");
	if (path && check)
		fprintf(out, "criu check: %s%s\n",
			api_get_bool(md, "check_ok", false) ? "" : "failed: ", check);
	if (lock)
		fprintf(out, "Network lock: %s%s\n", lock,
			strcmp(lock, "nftables") == 0 ? " (iptables-restore is not installed)"
						      : "");
	if (problem)
		fprintf(out, "Stateful snapshots: not possible here: %s\n", problem);
	else
		fputs("Stateful snapshots: possible here\n", out);
	if (!json_object_object_get_ex(md, "instance", &inst) || !inst)
		return;
	name = api_get_string(inst, "name");
	json_object_object_get_ex(inst, "blockers", &blockers);
	json_object_object_get_ex(inst, "left_out", &left_out);
	if (!blockers || json_object_array_length(blockers) == 0) {
		fprintf(out, "Instance \"%s\": nothing blocks a dump\n", name ? name : "");
	} else {
		fprintf(out, "Instance \"%s\" cannot be dumped now:\n", name ? name : "");
		for (size_t i = 0; i < json_object_array_length(blockers); i++)
			fprintf(out, "  - %s\n",
				json_object_get_string(json_object_array_get_idx(blockers, i)));
	}
	if (!left_out || json_object_array_length(left_out) == 0)
		return;
	fputs("A dump would leave out:\n", out);
	for (size_t i = 0; i < json_object_array_length(left_out); i++)
		fprintf(out, "  - %s\n",
			json_object_get_string(json_object_array_get_idx(left_out, i)));
}

int cli_cmd_doctor(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *md = NULL;
	_cleanup_free_ char *path = NULL, *name = NULL;
	struct cli_client *c = NULL;
	int r;

	if (args->argc > 0) {
		r = cli_instance_arg_check(ctx, args, args->argv[0], err);
		if (r < 0)
			return r;
		name = cli_escape(args->argv[0]);
		if (!name)
			return err_set(err, -ENOMEM, "Out of memory");
		path = str_printf("/1.0/resources/criu?instance=%s", name);
	} else {
		path = strdup("/1.0/resources/criu");
	}
	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	r = cli_client_query(c, "GET", path, NULL, &md, err);
	if (r < 0)
		return r;
	cli_render_doctor(ctx->out, md);
	return 0;
}
