#include "cmd/cairn/cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/api.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/names.h"

static int get_json(struct cli_client *c, const char *fmt_path, const char *segment,
		    json_object **ret, struct err **err)
{
	_cleanup_free_ char *e = cli_escape(segment);
	_cleanup_free_ char *path = NULL;

	if (!e)
		return err_set(err, -ENOMEM, "Out of memory");
	path = str_printf("%s%s", fmt_path, e);
	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	return cli_client_query(c, "GET", path, NULL, ret, err);
}

/* The full fingerprint of an image named by alias or by a fingerprint prefix, as Incus
 * resolves them: an alias wins. Caller frees. */
static int resolve_image(struct cli_client *c, const char *name, char **ret, struct err **err)
{
	_cleanup_json_ json_object *alias = NULL;
	_cleanup_json_ json_object *img = NULL;
	_cleanup_err_ struct err *e = NULL;
	const char *fp;
	int r;

	r = get_json(c, "/1.0/images/aliases/", name, &alias, &e);
	if (r == 0 && (fp = api_get_string(alias, "target")) && *fp) {
		*ret = strdup(fp);
		return *ret ? 0 : err_set(err, -ENOMEM, "Out of memory");
	}
	if (r < 0 && r != -ENOENT)
		return err_set(err, r, "%s", err_msg(e, r));
	err_freep(&e);
	r = get_json(c, "/1.0/images/", name, &img, &e);
	if (r == -ENOENT)
		return err_set(err, r, "Image \"%s\" not found", name);
	if (r < 0)
		return err_set(err, r, "%s", err_msg(e, r));
	fp = api_get_string(img, "fingerprint");
	*ret = strdup(fp && *fp ? fp : name);
	return *ret ? 0 : err_set(err, -ENOMEM, "Out of memory");
}

static int list_objects(struct cli_ctx *ctx, const char *path, struct cli_client **ret_client,
			json_object **ret, struct err **err)
{
	int r;

	r = cli_ctx_client(ctx, ret_client, err);
	if (r < 0)
		return r;
	r = cli_client_query(*ret_client, "GET", path, NULL, ret, err);
	if (r < 0)
		return r;
	if (!json_object_is_type(*ret, json_type_array))
		return err_set(err, -EPROTO, "Invalid answer from cairnd: %s is not a list", path);
	return 0;
}

int cli_cmd_image_list(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *list = NULL;
	struct cli_client *c = NULL;
	enum cli_format fmt;
	int r;

	r = cli_format_parse(cli_flag_string(args, "format"), &fmt, err);
	if (r < 0)
		return r;
	r = list_objects(ctx, "/1.0/images?recursion=1", &c, &list, err);
	if (r < 0)
		return r;
	return cli_render_image_list(ctx->out, list, fmt, err);
}

int cli_cmd_image_import(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_close_ int fd = -EBADF;
	_cleanup_json_ json_object *op = NULL;
	_cleanup_free_ char *header = NULL;
	char *headers[2] = {NULL, NULL};
	char *const *aliases = cli_flag_list(args, "alias");
	struct cli_progress progress = {0};
	struct cli_client *c = NULL;
	json_object *md = NULL;
	const char *fp;
	struct stat st;
	int r;

	for (char *const *a = aliases; *a; a++) {
		r = config_alias_name_valid(*a, err);
		if (r < 0)
			return r;
		if (strchr(*a, ','))
			return err_set(err, -EINVAL, "Invalid alias \"%s\": ',' is not allowed",
				       *a);
	}
	fd = open(args->argv[0], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to open \"%s\"", args->argv[0]);
	if (fstat(fd, &st) < 0)
		return err_set_errno(err, -errno, "Failed to stat \"%s\"", args->argv[0]);
	if (!S_ISREG(st.st_mode))
		return err_set(err, -EINVAL, "\"%s\" is not a regular file", args->argv[0]);
	if (*aliases) {
		header = strdup("X-Incus-aliases: ");
		for (char *const *a = aliases; header && *a; a++) {
			char *h = str_printf("%s%s%s", header, a == aliases ? "" : ",", *a);

			free(header);
			header = h;
		}
		if (!header)
			return err_set(err, -ENOMEM, "Out of memory");
		headers[0] = header;
	}

	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	cli_progress_start(&progress, ctx->out, ctx->quiet, "Transferring image",
			   (long long)st.st_size);
	r = cli_client_upload_progress(c, "/1.0/images", fd, (long long)st.st_size, headers,
				       &progress, &op, err);
	cli_progress_done(&progress);
	if (r < 0)
		return r;
	json_object_object_get_ex(op, "metadata", &md);
	fp = api_get_string(md, "fingerprint");
	if (!fp)
		fp = api_get_string(op, "fingerprint");
	fprintf(ctx->out, "Image imported with fingerprint: %s\n", fp ? fp : "");
	return 0;
}

int cli_cmd_image_delete(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	struct cli_client *c = NULL;
	_cleanup_strv_ char **fps = NULL;
	int r;

	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	/* Resolve every name before deleting anything. */
	for (size_t i = 0; i < args->argc; i++) {
		_cleanup_free_ char *fp = NULL;

		r = resolve_image(c, args->argv[i], &fp, err);
		if (r < 0)
			return r;
		if (strv_push(&fps, fp) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	for (char **fp = fps; fp && *fp; fp++) {
		_cleanup_free_ char *e = cli_escape(*fp);
		_cleanup_free_ char *path = e ? str_printf("/1.0/images/%s", e) : NULL;

		if (!path)
			return err_set(err, -ENOMEM, "Out of memory");
		r = cli_client_query(c, "DELETE", path, NULL, NULL, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int cli_cmd_image_show(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *img = NULL;
	_cleanup_free_ char *fp = NULL;
	struct cli_client *c = NULL;
	int r;

	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	r = resolve_image(c, args->argv[0], &fp, err);
	if (r < 0)
		return r;
	r = get_json(c, "/1.0/images/", fp, &img, err);
	if (r < 0)
		return r;
	return cli_render_yaml(ctx->out, img, err);
}

int cli_cmd_image_alias_create(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *body = NULL;
	_cleanup_json_ json_object *img = NULL;
	const char *description = cli_flag_string(args, "description");
	struct cli_client *c = NULL;
	const char *fp;
	int r;

	r = config_alias_name_valid(args->argv[0], err);
	if (r < 0)
		return r;
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	/* A fingerprint prefix is accepted; the alias records the full fingerprint. */
	{
		_cleanup_err_ struct err *e = NULL;

		r = get_json(c, "/1.0/images/", args->argv[1], &img, &e);
		if (r == -ENOENT)
			return err_set(err, r, "Image \"%s\" not found", args->argv[1]);
		if (r < 0)
			return err_set(err, r, "%s", err_msg(e, r));
	}
	fp = api_get_string(img, "fingerprint");
	body = json_object_new_object();
	if (!body)
		return err_set(err, -ENOMEM, "Out of memory");
	json_object_object_add(body, "name", json_object_new_string(args->argv[0]));
	json_object_object_add(body, "target", json_object_new_string(fp ? fp : args->argv[1]));
	json_object_object_add(body, "description",
			       json_object_new_string(description ? description : ""));
	return cli_client_query(c, "POST", "/1.0/images/aliases", body, NULL, err);
}

int cli_cmd_image_alias_delete(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_free_ char *e = cli_escape(args->argv[0]);
	_cleanup_free_ char *path = NULL;
	struct cli_client *c = NULL;
	int r;

	if (!e)
		return err_set(err, -ENOMEM, "Out of memory");
	path = str_printf("/1.0/images/aliases/%s", e);
	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	return cli_client_query(c, "DELETE", path, NULL, NULL, err);
}

int cli_cmd_image_alias_list(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	static const char *const headers[] = {"ALIAS", "FINGERPRINT", "TYPE", "DESCRIPTION"};
	_cleanup_json_ json_object *list = NULL;
	struct cli_table t = {.ncols = 4, .headers = headers};
	struct cli_client *c = NULL;
	enum cli_format fmt;
	int r;

	r = cli_format_parse(cli_flag_string(args, "format"), &fmt, err);
	if (r < 0)
		return r;
	r = list_objects(ctx, "/1.0/images/aliases?recursion=1", &c, &list, err);
	if (r < 0)
		return r;
	if (fmt == CLI_FORMAT_JSON) {
		cli_render_json(ctx->out, list);
		return 0;
	}
	if (fmt == CLI_FORMAT_YAML)
		return cli_render_yaml(ctx->out, list, err);
	for (size_t i = 0; i < json_object_array_length(list) && r == 0; i++) {
		json_object *a = json_object_array_get_idx(list, i);
		const char *name = api_get_string(a, "name");
		const char *target = api_get_string(a, "target");
		const char *type = api_get_string(a, "type");
		const char *desc = api_get_string(a, "description");
		_cleanup_free_ char *fp12 = strndup(target ? target : "", 12);
		_cleanup_free_ char *utype = strdup(type && *type ? type : "container");
		const char *cells[4];

		if (!fp12 || !utype) {
			r = -ENOMEM;
			break;
		}
		for (char *p = utype; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		cells[0] = name ? name : "";
		cells[1] = fp12;
		cells[2] = utype;
		cells[3] = desc ? desc : "";
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
