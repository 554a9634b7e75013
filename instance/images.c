#include "instance/images.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/crashpoint.h"
#include "common/err.h"
#include "common/log.h"
#include "common/sha256.h"
#include "common/util.h"
#include "config/db.h"
#include "config/names.h"
#include "instance/image.h"
#include "instance/instance.h"
#include "storage/storage.h"

/* Bumped whenever the built-in image's layout changes, so its fingerprint changes too. */
#define BUSYBOX_IMAGE_LAYOUT "cairn-busybox-image-1"
#define BUSYBOX_PATH "/bin/busybox"

static void db_image_donep(struct db_image *i)
{
	db_image_done(i);
}
#define _cleanup_db_image_ _cleanup_(db_image_donep)

int instance_image_resolve(const struct instance_env *env, const char *ref, char **ret_fingerprint,
			   struct err **err)
{
	_cleanup_db_image_ struct db_image img = {0};
	char *fp = NULL;
	int r;

	if (!ref || !*ref)
		return err_set(err, -EINVAL, "No image given");
	r = db_alias_resolve(env->db, ref, &fp, NULL);
	if (r >= 0) {
		*ret_fingerprint = fp;
		return 0;
	}
	r = db_image_get(env->db, ref, &img, NULL);
	if (r == -EINVAL)
		return err_set(err, -EINVAL,
			       "Image \"%s\" is ambiguous: give more of its fingerprint", ref);
	if (r < 0 || img.state != DB_ROW_READY)
		return err_set(err, -ENOENT, "Image \"%s\" not found", ref);
	fp = strdup(img.fingerprint);
	if (!fp)
		return err_set(err, -ENOMEM, "Out of memory");
	*ret_fingerprint = fp;
	return 0;
}

static char *host_architecture(void)
{
	struct utsname u;

	if (uname(&u) < 0)
		return strdup("unknown");
	return strdup(u.machine);
}

/* Reads description/os/release from metadata.yaml's properties, and its architecture. */
static int metadata_to_row(json_object *md, struct db_image *row)
{
	json_object *p, *arch, *created;

	if (json_object_object_get_ex(md, "properties", &p) &&
	    json_object_is_type(p, json_type_object)) {
		json_object_object_foreach(p, key, val)
		{
			if (json_object_is_type(val, json_type_object) ||
			    json_object_is_type(val, json_type_array))
				continue;
			if (kvlist_set(&row->properties, key, json_object_get_string(val)) < 0)
				return -ENOMEM;
		}
	}
	if (json_object_object_get_ex(md, "creation_date", &created) &&
	    json_object_is_type(created, json_type_int) && json_object_get_int64(created) > 0)
		row->created_at = json_object_get_int64(created);
	if (json_object_object_get_ex(md, "architecture", &arch)) {
		free(row->architecture);
		row->architecture = strdup(json_object_get_string(arch));
	}
	if (kvlist_get(&row->properties, "description")) {
		free(row->description);
		row->description = strdup(kvlist_get(&row->properties, "description"));
	}
	if (!row->architecture || !row->description)
		return -ENOMEM;
	return 0;
}

static int
fill_and_insert(const struct instance_env *env, struct storage_pool *pool, struct db_image *row,
		int (*fill)(const char *dir, void *data, json_object **ret_md, struct err **err),
		void *data, struct err **err)
{
	_cleanup_free_ char *dir =
	    storage_volume_path(pool, STORAGE_VOLUME_IMAGE, row->fingerprint);
	_cleanup_json_ json_object *md = NULL;
	int r;

	if (!dir)
		return err_set(err, -ENOMEM, "Out of memory");
	r = fill(dir, data, &md, err);
	if (r < 0)
		return r;
	crashpoint("image-before-row");
	if (md && metadata_to_row(md, row) < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	return db_image_insert(env->db, row, err);
}

/*
 * The volume comes first and the row (with its aliases, in one transaction) last: a daemon
 * killed in between leaves a volume without a row, which instance_image_recover() removes.
 */
static int
store_image(const struct instance_env *env, struct storage_pool *pool, struct db_image *row,
	    int (*fill)(const char *dir, void *data, json_object **ret_md, struct err **err),
	    void *data, struct err **err)
{
	_cleanup_(db_image_done) struct db_image existing = {0};
	int r;

	if (db_image_get(env->db, row->fingerprint, &existing, NULL) >= 0 &&
	    strcmp(existing.fingerprint, row->fingerprint) == 0)
		return err_set(err, -EEXIST, "Image \"%.12s\" already exists", row->fingerprint);
	for (size_t i = 0; row->aliases && row->aliases[i]; i++) {
		_cleanup_free_ char *fp = NULL;

		if (db_alias_resolve(env->db, row->aliases[i], &fp, NULL) >= 0)
			return err_set(err, -EEXIST, "Alias \"%s\" already exists",
				       row->aliases[i]);
	}
	row->state = DB_ROW_READY;
	r = storage_volume_create(pool, STORAGE_VOLUME_IMAGE, row->fingerprint, err);
	if (r < 0)
		return r;
	r = fill_and_insert(env, pool, row, fill, data, err);
	if (r < 0) {
		_cleanup_err_ struct err *e = NULL;
		int q = storage_volume_delete(pool, STORAGE_VOLUME_IMAGE, row->fingerprint, &e);

		/* A volume without a row is removed at the next start. */
		if (q < 0)
			err_log_ignored(e, q, "Failed to remove the volume of image \"%.12s\"",
					row->fingerprint);
		return r;
	}
	instance_notify(env, "image-created", "images", row->fingerprint);
	return 0;
}

static int fill_busybox(const char *dir, void *data, json_object **ret_md, struct err **err)
{
	(void)data;
	(void)ret_md;
	return instance_image_build_busybox(dir, BUSYBOX_PATH, err);
}

static int busybox_version(char *buf, size_t len)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *cmd = str_printf("%s 2>&1 | head -n 1", BUSYBOX_PATH);
	char line[256], *v, *end;

	snprintf(buf, len, "unknown");
	if (!cmd)
		return -ENOMEM;
	f = popen(cmd, "re");
	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f)) {
		pclose(steal_pointer(&f));
		return -EIO;
	}
	pclose(steal_pointer(&f));
	v = strstr(line, " v");
	if (!v)
		return -EIO;
	v += 2;
	end = strchr(v, ' ');
	if (end)
		*end = '\0';
	snprintf(buf, len, "%s", v);
	return 0;
}

int instance_image_ensure_busybox(const struct instance_env *env, const char *pool_name,
				  struct err **err)
{
	_cleanup_free_ char *fp = NULL;
	_cleanup_close_ int fd = -EBADF;
	_cleanup_db_image_ struct db_image row = {0};
	struct sha256_ctx ctx;
	struct storage_pool *pool = instance_env_pool(env, pool_name);
	char hex[65], version[64], buf[65536];
	struct stat st;
	ssize_t n;

	if (db_alias_resolve(env->db, "busybox", &fp, NULL) >= 0)
		return 0;
	if (!pool)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", pool_name);
	fd = open(BUSYBOX_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(err, -errno,
				     "Cannot build the busybox image: \"%s\" is missing (install "
				     "busybox-static)",
				     BUSYBOX_PATH);
	if (fstat(fd, &st) < 0)
		return err_set_errno(err, -errno, "Failed to stat \"%s\"", BUSYBOX_PATH);

	/* Same binary, same layout: same fingerprint. */
	sha256_init(&ctx);
	sha256_update(&ctx, BUSYBOX_IMAGE_LAYOUT, strlen(BUSYBOX_IMAGE_LAYOUT));
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		sha256_update(&ctx, buf, (size_t)n);
	if (n < 0)
		return err_set_errno(err, -errno, "Failed to read \"%s\"", BUSYBOX_PATH);
	sha256_final_hex(&ctx, hex);

	busybox_version(version, sizeof(version));
	row.fingerprint = strdup(hex);
	row.pool = strdup(pool_name);
	row.architecture = host_architecture();
	row.description = str_printf("busybox %s", version);
	row.created_at = time_now();
	row.uploaded_at = row.created_at;
	row.size = (uint64_t)st.st_size;
	if (!row.fingerprint || !row.pool || !row.architecture || !row.description ||
	    kvlist_set(&row.properties, "description", row.description) < 0 ||
	    kvlist_set(&row.properties, "os", "busybox") < 0 ||
	    kvlist_set(&row.properties, "release", version) < 0 ||
	    strv_push(&row.aliases, "busybox") < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	return store_image(env, pool, &row, fill_busybox, NULL, err);
}

struct unpack_data {
	int fd; /* the tarball */
};

static int fill_unpack(const char *dir, void *data, json_object **ret_md, struct err **err)
{
	struct unpack_data *u = data;
	int r;

	if (lseek(u->fd, 0, SEEK_SET) < 0)
		return err_set_errno(err, -errno, "Failed to rewind the image file");
	r = instance_image_unpack(u->fd, dir, ret_md, err);
	/* A full pool or an I/O error is not the image's fault: those keep their own words. */
	if (r == -EINVAL)
		return err_wrap(err, r, "Invalid image");
	return r;
}

static int split_aliases(const char *aliases, char ***ret, struct err **err)
{
	_cleanup_free_ char *copy = aliases ? strdup(aliases) : NULL;
	_cleanup_strv_ char **v = NULL;
	char *save = NULL;
	int r;

	if (!aliases) {
		*ret = NULL;
		return 0;
	}
	if (!copy)
		return err_set(err, -ENOMEM, "Out of memory");
	for (char *a = strtok_r(copy, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
		while (*a == ' ')
			a++;
		for (char *e = a + strlen(a); e > a && e[-1] == ' '; e--)
			e[-1] = '\0';
		if (!*a)
			continue;
		r = config_alias_name_valid(a, err);
		if (r < 0)
			return r;
		if (strv_push(&v, a) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	*ret = steal_pointer(&v);
	return 0;
}

int instance_image_import(const struct instance_env *env, int fd, const char *pool_name,
			  const char *aliases, char **ret_fingerprint, struct err **err)
{
	_cleanup_db_image_ struct db_image row = {0};
	struct storage_pool *pool = instance_env_pool(env, pool_name);
	struct unpack_data u = {.fd = fd};
	char hex[65];
	struct stat st;
	int r;

	if (!pool)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", pool_name);
	r = split_aliases(aliases, &row.aliases, err);
	if (r < 0)
		return r;
	if (fstat(fd, &st) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		return err_set_errno(err, -errno, "Failed to read the image file");
	r = instance_image_sha256_fd(fd, hex, err);
	if (r < 0)
		return r;

	row.fingerprint = strdup(hex);
	row.pool = strdup(pool_name);
	row.architecture = strdup("");
	row.description = strdup("");
	row.created_at = time_now();
	row.uploaded_at = row.created_at;
	row.size = (uint64_t)st.st_size;
	if (!row.fingerprint || !row.pool || !row.architecture || !row.description)
		return err_set(err, -ENOMEM, "Out of memory");
	r = store_image(env, pool, &row, fill_unpack, &u, err);
	if (r < 0)
		return r;
	*ret_fingerprint = steal_pointer(&row.fingerprint);
	return 0;
}

int instance_image_delete(const struct instance_env *env, const char *ref, struct err **err)
{
	_cleanup_free_ char *fp = NULL;
	_cleanup_db_image_ struct db_image img = {0};
	struct storage_pool *pool;
	int r;

	r = instance_image_resolve(env, ref, &fp, err);
	if (r < 0)
		return r;
	r = db_image_get(env->db, fp, &img, err);
	if (r < 0)
		return r;
	r = db_image_set_state(env->db, fp, DB_ROW_DELETING, err);
	if (r < 0)
		return r;
	/* The image's home pool, and the copies instances on other pools brought there. */
	for (size_t i = 0; i < env->n_pools; i++) {
		pool = &env->pools[i];
		r = storage_volume_delete(pool, STORAGE_VOLUME_IMAGE, fp, NULL);
		if (r < 0 && r != -ENOENT && strcmp(pool->name, img.pool) == 0)
			return storage_volume_delete(pool, STORAGE_VOLUME_IMAGE, fp, err);
	}
	r = db_image_delete(env->db, fp, err);
	if (r >= 0)
		instance_notify(env, "image-deleted", "images", fp);
	return r;
}

int instance_image_recover(const struct instance_env *env, struct err **err)
{
	struct db_image *rows = NULL;
	size_t n = 0;
	int r;

	r = db_image_list(env->db, &rows, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct storage_pool *pool = instance_env_pool(env, rows[i].pool);

		if (rows[i].state == DB_ROW_READY)
			continue;
		log_info("Removing image \"%.12s\" left half made or half deleted",
			 rows[i].fingerprint);
		if (pool)
			storage_volume_delete(pool, STORAGE_VOLUME_IMAGE, rows[i].fingerprint,
					      NULL);
		db_image_delete(env->db, rows[i].fingerprint, NULL);
	}
	for (size_t p = 0; p < env->n_pools; p++) {
		_cleanup_strv_ char **names = NULL;

		if (storage_volume_list(&env->pools[p], STORAGE_VOLUME_IMAGE, &names, NULL) < 0)
			continue;
		for (size_t v = 0; names && names[v]; v++) {
			bool owned = false;

			for (size_t i = 0; i < n; i++)
				if (rows[i].state == DB_ROW_READY &&
				    strcmp(rows[i].fingerprint, names[v]) == 0)
					owned = true;
			if (owned)
				continue;
			log_info("Removing image volume \"%s\" that no image owns", names[v]);
			storage_volume_delete(&env->pools[p], STORAGE_VOLUME_IMAGE, names[v], NULL);
		}
	}
	db_images_free(rows, n);
	return 0;
}
