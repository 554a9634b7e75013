/* cairn operation list|show|delete on /1.0/operations. */
#include "cmd/cairn/cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

static char *upper(const char *s)
{
	char *u = strdup(s ? s : "");

	for (char *p = u; p && *p; p++)
		*p = (char)toupper((unsigned char)*p);
	return u;
}

/* The running, successful and failed lists of GET /1.0/operations?recursion=1 as one array
 * (new reference). */
static json_object *flatten(json_object *all)
{
	static const char *const lists[] = {"running", "success", "failure"};
	json_object *out = json_object_new_array();

	for (size_t l = 0; out && l < sizeof(lists) / sizeof(lists[0]); l++) {
		json_object *list = NULL;

		if (!json_object_object_get_ex(all, lists[l], &list) ||
		    !json_object_is_type(list, json_type_array))
			continue;
		for (size_t i = 0; i < json_object_array_length(list); i++)
			json_object_array_add(out,
					      json_object_get(json_object_array_get_idx(list, i)));
	}
	return out;
}

int cli_cmd_operation_list(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	static const char *const headers[] = {"ID",	"TYPE",	      "DESCRIPTION",
					      "STATUS", "CANCELABLE", "CREATED"};
	_cleanup_json_ json_object *all = NULL;
	_cleanup_json_ json_object *list = NULL;
	struct cli_table t = {.ncols = 6, .headers = headers};
	struct cli_client *c = NULL;
	enum cli_format fmt;
	int r;

	r = cli_format_parse(cli_flag_string(args, "format"), &fmt, err);
	if (r < 0)
		return r;
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	r = cli_client_query(c, "GET", "/1.0/operations?recursion=1", NULL, &all, err);
	if (r < 0)
		return r;
	list = flatten(all);
	if (!list)
		return err_set(err, -ENOMEM, "Out of memory");
	if (fmt == CLI_FORMAT_JSON) {
		cli_render_json(ctx->out, list);
		return 0;
	}
	if (fmt == CLI_FORMAT_YAML)
		return cli_render_yaml(ctx->out, list, err);
	for (size_t i = 0; i < json_object_array_length(list) && r == 0; i++) {
		json_object *op = json_object_array_get_idx(list, i);
		_cleanup_free_ char *type = upper(api_get_string(op, "class"));
		_cleanup_free_ char *created = cli_format_time(api_get_string(op, "created_at"));
		const char *cells[6];

		cells[0] = api_get_string(op, "id") ? api_get_string(op, "id") : "";
		cells[1] = type ? type : "";
		cells[2] =
		    api_get_string(op, "description") ? api_get_string(op, "description") : "";
		cells[3] = api_get_string(op, "status") ? api_get_string(op, "status") : "";
		cells[4] = api_get_bool(op, "may_cancel", false) ? "YES" : "NO";
		cells[5] = created ? created : "";
		r = cli_table_add(&t, cells);
	}
	if (r < 0) {
		cli_table_done(&t);
		return err_set(err, r, "Out of memory");
	}
	cli_table_sort(&t);
	cli_table_render(ctx->out, &t, fmt);
	cli_table_done(&t);
	return 0;
}

static int operation_path(const char *id, char **ret, struct err **err)
{
	_cleanup_free_ char *e = cli_escape(id);

	if (!*id)
		return err_set(err, -EINVAL, "Operation ID can't be empty");
	*ret = e ? str_printf("/1.0/operations/%s", e) : NULL;
	return *ret ? 0 : err_set(err, -ENOMEM, "Out of memory");
}

int cli_cmd_operation_show(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_free_ char *path = NULL;
	int r;

	r = operation_path(args->argv[0], &path, err);
	if (r < 0)
		return r;
	return cli_show_yaml(ctx, path, err);
}

int cli_cmd_operation_delete(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_free_ char *path = NULL;
	struct cli_client *c = NULL;
	int r;

	r = operation_path(args->argv[0], &path, err);
	if (r < 0)
		return r;
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	r = cli_client_query(c, "DELETE", path, NULL, NULL, err);
	if (r < 0)
		return r;
	fprintf(ctx->out, "Operation %s deleted\n", args->argv[0]);
	return 0;
}
