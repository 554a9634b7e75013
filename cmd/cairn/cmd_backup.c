/* cairn export and cairn import: an instance with its snapshots to a backup tarball and back. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "cmd/cairn/cli.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/names.h"

/* What a compression name makes of the default file name, as Incus names it. */
static const char *suffix_of(const char *compression)
{
	if (!compression || !*compression || strcmp(compression, "gzip") == 0)
		return ".tar.gz";
	if (strcmp(compression, "none") == 0)
		return ".tar";
	if (strcmp(compression, "xz") == 0)
		return ".tar.xz";
	if (strcmp(compression, "zstd") == 0)
		return ".tar.zst";
	return NULL;
}

/* Has the daemon write the backup straight into the answer (Incus's direct backup), into `fd`:
 * nothing is stored on the daemon's side. */
static int fetch_backup(struct cli_ctx *ctx, struct cli_client *c, const char *escaped,
			json_object *body, int fd, bool quiet, struct err **err)
{
	_cleanup_free_ char *path = str_printf("/1.0/instances/%s/backups", escaped);
	struct cli_progress progress = {0};
	int r;

	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	cli_progress_start(&progress, ctx->out, quiet, "Exporting the backup", 0);
	r = cli_client_post_download(c, path, body, fd, &progress, err);
	cli_progress_done(&progress);
	return r;
}

int cli_cmd_export(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	const char *name = args->argv[0];
	const char *compression = cli_flag_string(args, "compression");
	bool to_stdout = args->argc > 1 && strcmp(args->argv[1], "-") == 0;
	_cleanup_json_ json_object *body = json_object_new_object();
	_cleanup_free_ char *target = NULL, *escaped = NULL;
	struct cli_client *c = NULL;
	const char *suffix = suffix_of(compression);
	int fd, r;

	if (!body)
		return err_set(err, -ENOMEM, "Out of memory");
	r = cli_instance_arg_check(ctx, args, name, err);
	if (r < 0)
		return r;
	r = config_instance_name_valid(name, err);
	if (r < 0)
		return r;
	if (!suffix)
		return err_set(err, -EINVAL,
			       "Invalid compression \"%s\" (use none, gzip, xz or zstd)",
			       compression);
	target = args->argc > 1 ? strdup(args->argv[1]) : str_printf("%s%s", name, suffix);
	escaped = cli_escape(name);
	if (!target || !escaped)
		return err_set(err, -ENOMEM, "Out of memory");
	json_object_object_add(body, "instance_only",
			       json_object_new_boolean(cli_flag_bool(args, "instance-only")));
	json_object_object_add(body, "optimized_storage",
			       json_object_new_boolean(cli_flag_bool(args, "optimized-storage")));
	json_object_object_add(body, "stateful",
			       json_object_new_boolean(cli_flag_bool(args, "stateful")));
	json_object_object_add(body, "compression_algorithm",
			       json_object_new_string(compression ? compression : "gzip"));
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	if (to_stdout)
		return fetch_backup(ctx, c, escaped, body, STDOUT_FILENO, true, err);
	/* The file first: a name taken is refused before the daemon works for nothing. */
	fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST)
		return err_set(err, -EEXIST, "Target path \"%s\" already exists", target);
	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to create \"%s\"", target);
	r = fetch_backup(ctx, c, escaped, body, fd, ctx->quiet, err);
	if (r >= 0 && fsync(fd) < 0)
		r = err_set_errno(err, -errno, "Failed to write \"%s\"", target);
	if (close(fd) < 0 && r >= 0)
		r = err_set_errno(err, -errno, "Failed to write \"%s\"", target);
	if (r < 0) {
		/* No half file under the name. */
		unlink(target);
		return r;
	}
	if (!ctx->quiet && isatty(fileno(ctx->out)))
		fprintf(ctx->out, "Backup exported successfully!\n");
	return 0;
}

int cli_cmd_import(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	const char *file = args->argv[0];
	const char *name = args->argc > 1 ? args->argv[1] : NULL;
	const char *pool = cli_flag_string(args, "storage");
	_cleanup_free_ char *name_header = NULL, *pool_header = NULL;
	_cleanup_close_ int own_fd = -EBADF;
	char *headers[3] = {NULL, NULL, NULL};
	struct cli_progress progress = {0};
	struct cli_client *c = NULL;
	long long size = -1;
	size_t nh = 0;
	struct stat st;
	int fd, r;

	if (name) {
		r = config_instance_name_valid(name, err);
		if (r < 0)
			return r;
		name_header = str_printf("X-Incus-name: %s", name);
		if (!name_header)
			return err_set(err, -ENOMEM, "Out of memory");
		headers[nh++] = name_header;
	}
	if (pool) {
		r = config_pool_name_valid(pool, err);
		if (r < 0)
			return r;
		pool_header = str_printf("X-Incus-pool: %s", pool);
		if (!pool_header)
			return err_set(err, -ENOMEM, "Out of memory");
		headers[nh++] = pool_header;
	}
	if (strcmp(file, "-") == 0) {
		fd = STDIN_FILENO;
	} else {
		own_fd = open(file, O_RDONLY | O_CLOEXEC);
		if (own_fd < 0)
			return err_set_errno(err, -errno, "Failed to open \"%s\"", file);
		fd = own_fd;
	}
	if (fstat(fd, &st) < 0)
		return err_set_errno(err, -errno, "Failed to stat \"%s\"", file);
	if (S_ISREG(st.st_mode))
		size = (long long)st.st_size;
	else if (fd != STDIN_FILENO)
		return err_set(err, -EINVAL, "\"%s\" is not a regular file", file);
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	cli_progress_start(&progress, ctx->out, ctx->quiet, "Importing instance",
			   size > 0 ? size : 0);
	r = cli_client_upload_progress(c, "/1.0/instances", fd, size, headers, &progress, NULL,
				       err);
	cli_progress_done(&progress);
	return r;
}
