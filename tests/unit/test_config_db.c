/* The state database on a real SQLite file in a temporary directory. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/kvlist.h"
#include "common/util.h"
#include "config/db.h"

#define FP1 "ab12c0ffee0000000000000000000000000000000000000000000000000000a1"
#define FP2 "ab12d00d00000000000000000000000000000000000000000000000000000000"
#define FP3 "ff00000000000000000000000000000000000000000000000000000000000003"

struct fixture {
	char dir[64];
	char *path;
	struct db *db;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	_cleanup_err_ struct err *e = NULL;
	const char *tmp = getenv("TMPDIR");

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/cairn-db-XXXXXX",
		 tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	f->path = str_printf("%s/cairn.db", f->dir);
	*state = f;
	if (!f->path || db_open(f->path, &f->db, &e) < 0) {
		fprintf(stderr, "db_open: %s\n", err_msg(e, -EIO));
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (!f)
		return 0;
	db_close(f->db);
	rm_rf(f->dir, NULL);
	free(f->path);
	free(f);
	return 0;
}

/* Checks an error's code and that its message contains `needle`, then frees it. */
static void check_err(struct err **e, int r, int code, const char *needle)
{
	if (r != code)
		fail_msg("got %d (%s), expected %d", r, err_msg(*e, r), code);
	assert_non_null(*e);
	assert_int_equal((*e)->code, code);
	if (!strstr((*e)->msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", (*e)->msg, needle);
	err_freep(e);
}

static void add_pool(struct db *db, const char *name)
{
	struct db_pool p = {.name = (char *)name,
			    .driver = "btrfs",
			    .source = "/x/disks/p.img",
			    .size = 10ULL << 30,
			    .description = "main"};
	_cleanup_err_ struct err *e = NULL;

	if (db_pool_insert(db, &p, &e) < 0)
		fail_msg("pool insert: %s", err_msg(e, -EIO));
}

static int64_t add_instance(struct db *db, const char *name, const char *pool, const char *image,
			    const struct kvlist *config)
{
	struct db_instance inst = {.name = (char *)name,
				   .pool = (char *)pool,
				   .image = (char *)image,
				   .architecture = "x86_64",
				   .created_at = 1000,
				   .state = DB_ROW_READY};
	_cleanup_err_ struct err *e = NULL;
	int64_t id = -1;

	if (config)
		inst.config = *config;
	if (db_instance_insert(db, &inst, &id, &e) < 0)
		fail_msg("instance insert %s: %s", name, err_msg(e, -EIO));
	return id;
}

/* Runs `sql` on a second connection to the fixture's database (bulk loads, inspection). */
static void exec_side(struct fixture *f, const char *sql)
{
	sqlite3 *conn = NULL;
	char *msg = NULL;

	assert_int_equal(sqlite3_open_v2(f->path, &conn, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	if (sqlite3_exec(conn, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(conn);
}

/* The one integer that `sql` gives, read on a second connection. */
static int64_t query_int(struct fixture *f, const char *sql)
{
	sqlite3 *conn = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v;

	assert_int_equal(sqlite3_open_v2(f->path, &conn, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(conn, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(conn);
	return v;
}

static void test_open_schema(void **state)
{
	struct fixture *f = *state;
	sqlite3 *conn = NULL;
	sqlite3_stmt *st = NULL;
	_cleanup_err_ struct err *e = NULL;
	struct db *again = NULL;

	assert_int_equal(sqlite3_open_v2(f->path, &conn, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(conn, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(conn, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), db_schema_version());
	sqlite3_finalize(st);
	assert_int_equal(
	    sqlite3_prepare_v2(
		conn,
		"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
		" ('pools', 'images', 'image_properties', 'image_aliases', 'instances',"
		" 'instance_config', 'snapshots', 'snapshot_config', 'pending', 'schedule_state',"
		" 'profiles', 'profile_config', 'profile_devices', 'instance_profiles',"
		" 'instance_devices', 'snapshot_profiles', 'snapshot_devices')",
		-1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 17);
	sqlite3_finalize(st);

	/* Reopening an up-to-date database changes nothing; a newer schema is refused. */
	assert_int_equal(db_open(f->path, &again, &e), 0);
	db_close(again);
	again = NULL;
	assert_int_equal(sqlite3_exec(conn, "PRAGMA user_version = 99", NULL, NULL, NULL),
			 SQLITE_OK);
	check_err(&e, db_open(f->path, &again, &e), -EPROTO, "newer");
	assert_null(again);
	assert_int_equal(sqlite3_exec(conn, "PRAGMA user_version = 1", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(conn);

	check_err(&e, db_open("/nonexistent-dir/x/cairn.db", &again, &e), -ENOENT,
		  "Cannot open database \"/nonexistent-dir/x/cairn.db\"");
}

static void test_pools(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	struct db_pool p = {0}, *list = NULL;
	struct db_pool dup = {.name = "default", .driver = "dir"};
	_cleanup_strv_ char **users = NULL;
	size_t n = 0;

	add_pool(f->db, "default");
	add_pool(f->db, "aaa");
	check_err(&e, db_pool_insert(f->db, &dup, &e), -EEXIST,
		  "Storage pool \"default\" already exists");

	assert_int_equal(db_pool_get(f->db, "default", &p, &e), 0);
	assert_string_equal(p.name, "default");
	assert_string_equal(p.driver, "btrfs");
	assert_string_equal(p.source, "/x/disks/p.img");
	assert_true(p.size == 10ULL << 30);
	assert_string_equal(p.description, "main");
	db_pool_done(&p);
	db_pool_done(&p);
	check_err(&e, db_pool_get(f->db, "p", &p, &e), -ENOENT, "Storage pool \"p\" not found");
	assert_null(p.name);

	assert_int_equal(db_pool_list(f->db, &list, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "aaa");
	assert_string_equal(list[1].name, "default");
	db_pools_free(list, n);

	add_instance(f->db, "c1", "default", NULL, NULL);
	assert_int_equal(db_pool_users(f->db, "default", &users, &e), 0);
	assert_int_equal(strv_length(users), 1);
	assert_string_equal(users[0], "c1");
	strv_freep(&users);
	assert_int_equal(db_pool_users(f->db, "aaa", &users, &e), 0);
	assert_non_null(users);
	assert_int_equal(strv_length(users), 0);

	check_err(&e, db_pool_delete(f->db, "default", &e), -EBUSY,
		  "Storage pool \"default\" is in use");
	/* A move into "aaa" under way holds it, though no row is there yet. */
	{
		struct db_pending move = {.kind = (char *)"instance-move",
					  .instance = (char *)"c1",
					  .a = (char *)"default",
					  .b = (char *)"aaa"};
		int64_t id = 0;

		assert_int_equal(db_pending_add(f->db, &move, &id, &e), 0);
		check_err(&e, db_pool_delete(f->db, "aaa", &e), -EBUSY,
			  "Storage pool \"aaa\" is in use");
		assert_int_equal(db_pending_delete(f->db, id, &e), 0);
	}
	assert_int_equal(db_pool_delete(f->db, "aaa", &e), 0);
	check_err(&e, db_pool_delete(f->db, "aaa", &e), -ENOENT, "Storage pool \"aaa\" not found");
	assert_int_equal(db_instance_delete(f->db, "c1", &e), 0);
	assert_int_equal(db_pool_delete(f->db, "default", &e), 0);
	assert_int_equal(db_pool_list(f->db, &list, &n, &e), 0);
	assert_int_equal(n, 0);
	db_pools_free(list, n);
}

static void test_images_and_aliases(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_kvlist_ struct kvlist props = {0};
	char *aliases1[] = {"busybox", "bb", NULL};
	struct db_image img = {.fingerprint = FP1,
			       .pool = "default",
			       .architecture = "x86_64",
			       .description = "busybox",
			       .created_at = 10,
			       .uploaded_at = 20,
			       .size = 12345,
			       .aliases = aliases1,
			       .state = DB_ROW_READY};
	struct db_image img2 = {.fingerprint = FP2, .state = DB_ROW_CREATING};
	char *taken[] = {"bb", NULL};
	struct db_image img3 = {.fingerprint = FP3, .aliases = taken};
	struct db_image got = {0}, *list = NULL;
	_cleanup_strv_ char **users = NULL;
	char *fp = NULL;
	size_t n = 0;

	add_pool(f->db, "default");
	assert_int_equal(kvlist_set(&props, "os", "busybox"), 0);
	assert_int_equal(kvlist_set(&props, "release", "1.36"), 0);
	img.properties = props;
	assert_int_equal(db_image_insert(f->db, &img, &e), 0);
	check_err(&e, db_image_insert(f->db, &img, &e), -EEXIST,
		  "Image \"" FP1 "\" already exists");
	assert_int_equal(db_image_insert(f->db, &img2, &e), 0);
	/* An alias already in use makes the whole insert fail: no half image stays behind. */
	check_err(&e, db_image_insert(f->db, &img3, &e), -EEXIST,
		  "Image alias \"bb\" already exists");
	check_err(&e, db_image_get(f->db, FP3, &got, &e), -ENOENT, "Image \"" FP3 "\" not found");
	img3.pool = "nopool";
	img3.aliases = NULL;
	check_err(&e, db_image_insert(f->db, &img3, &e), -ENOENT,
		  "Storage pool \"nopool\" not found");

	assert_int_equal(db_image_get(f->db, FP1, &got, &e), 0);
	assert_string_equal(got.fingerprint, FP1);
	assert_string_equal(got.pool, "default");
	assert_string_equal(got.architecture, "x86_64");
	assert_string_equal(got.description, "busybox");
	assert_int_equal(got.created_at, 10);
	assert_int_equal(got.uploaded_at, 20);
	assert_int_equal(got.size, 12345);
	assert_int_equal(got.state, DB_ROW_READY);
	assert_int_equal(got.properties.n, 2);
	assert_string_equal(kvlist_get(&got.properties, "release"), "1.36");
	assert_int_equal(strv_length(got.aliases), 2);
	assert_string_equal(got.aliases[0], "bb");
	assert_string_equal(got.aliases[1], "busybox");
	db_image_done(&got);

	/* Prefix lookup: unique prefixes work, a shared one is ambiguous. */
	assert_int_equal(db_image_get(f->db, "ab12c", &got, &e), 0);
	assert_string_equal(got.fingerprint, FP1);
	db_image_done(&got);
	assert_int_equal(db_image_get(f->db, "ab12d", &got, &e), 0);
	assert_string_equal(got.fingerprint, FP2);
	assert_null(got.pool);
	assert_null(got.aliases);
	assert_int_equal(got.state, DB_ROW_CREATING);
	db_image_done(&got);
	check_err(&e, db_image_get(f->db, "ab12", &got, &e), -EINVAL, "ambiguous");
	check_err(&e, db_image_get(f->db, "ab13", &got, &e), -ENOENT, "Image \"ab13\" not found");
	check_err(&e, db_image_get(f->db, "", &got, &e), -ENOENT, "not found");
	/* LIKE/GLOB characters are taken literally. */
	check_err(&e, db_image_get(f->db, "ab%", &got, &e), -ENOENT, "not found");

	assert_int_equal(db_image_set_state(f->db, FP2, DB_ROW_READY, &e), 0);
	check_err(&e, db_image_set_state(f->db, "ab12", DB_ROW_READY, &e), -ENOENT,
		  "Image \"ab12\" not found");

	assert_int_equal(db_image_list(f->db, &list, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].fingerprint, FP1);
	assert_int_equal(list[0].properties.n, 2);
	assert_int_equal(strv_length(list[0].aliases), 2);
	assert_string_equal(list[1].fingerprint, FP2);
	assert_int_equal(list[1].state, DB_ROW_READY);
	assert_int_equal(list[1].properties.n, 0);
	db_images_free(list, n);

	/* Aliases. */
	assert_int_equal(db_alias_resolve(f->db, "busybox", &fp, &e), 0);
	assert_string_equal(fp, FP1);
	free(fp);
	fp = NULL;
	assert_int_equal(db_alias_add(f->db, "web", FP2, "the web image", &e), 0);
	check_err(&e, db_alias_add(f->db, "web", FP1, NULL, &e), -EEXIST,
		  "Image alias \"web\" already exists");
	check_err(&e, db_alias_add(f->db, "x", FP3, NULL, &e), -ENOENT,
		  "Image \"" FP3 "\" not found");
	assert_int_equal(db_alias_resolve(f->db, "web", &fp, &e), 0);
	assert_string_equal(fp, FP2);
	free(fp);
	fp = NULL;
	check_err(&e, db_alias_resolve(f->db, "nope", &fp, &e), -ENOENT,
		  "Image alias \"nope\" not found");
	assert_null(fp);
	assert_int_equal(db_alias_delete(f->db, "web", &e), 0);
	check_err(&e, db_alias_delete(f->db, "web", &e), -ENOENT, "Image alias \"web\" not found");

	/* Users, then delete: aliases and properties go with the image, instances stay. */
	add_instance(f->db, "c2", "default", FP1, NULL);
	add_instance(f->db, "c1", "default", FP1, NULL);
	assert_int_equal(db_image_users(f->db, FP1, &users, &e), 0);
	assert_int_equal(strv_length(users), 2);
	assert_string_equal(users[0], "c1");
	assert_string_equal(users[1], "c2");
	strv_freep(&users);
	assert_int_equal(db_image_delete(f->db, FP1, &e), 0);
	check_err(&e, db_image_delete(f->db, FP1, &e), -ENOENT, "not found");
	check_err(&e, db_alias_resolve(f->db, "busybox", &fp, &e), -ENOENT, "not found");
	assert_int_equal(db_image_users(f->db, FP1, &users, &e), 0);
	assert_int_equal(strv_length(users), 2);
	/* The alias is free again. */
	assert_int_equal(db_alias_add(f->db, "busybox", FP2, NULL, &e), 0);
	assert_null(e);
}

static void test_instances(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_kvlist_ struct kvlist cfg = {0};
	_cleanup_kvlist_ struct kvlist cfg2 = {0};
	struct db_instance got = {0}, *list = NULL;
	struct db_instance bad = {.name = "c3", .pool = "nope"};
	int64_t id1, id2;
	size_t n = 0;

	add_pool(f->db, "default");
	assert_int_equal(kvlist_set(&cfg, "limits.memory", "256MiB"), 0);
	assert_int_equal(kvlist_set(&cfg, "volatile.uuid", "u-1"), 0);
	id1 = add_instance(f->db, "c1", "default", FP1, &cfg);
	id2 = add_instance(f->db, "a0", NULL, NULL, NULL);
	assert_true(id1 > 0 && id2 > id1);

	check_err(&e, db_instance_insert(f->db, &(struct db_instance){.name = "c1"}, NULL, &e),
		  -EEXIST, "Instance \"c1\" already exists");
	check_err(&e, db_instance_insert(f->db, &bad, NULL, &e), -ENOENT,
		  "Storage pool \"nope\" not found");
	check_err(&e, db_instance_get(f->db, "c3", &got, &e), -ENOENT, "Instance \"c3\" not found");

	assert_int_equal(db_instance_get(f->db, "c1", &got, &e), 0);
	assert_int_equal(got.id, id1);
	assert_string_equal(got.name, "c1");
	assert_string_equal(got.pool, "default");
	assert_string_equal(got.image, FP1);
	assert_string_equal(got.architecture, "x86_64");
	assert_string_equal(got.description, "");
	assert_int_equal(got.created_at, 1000);
	assert_int_equal(got.last_used_at, 0);
	assert_int_equal(got.state, DB_ROW_READY);
	assert_int_equal(got.config.n, 2);
	assert_string_equal(kvlist_get(&got.config, "volatile.uuid"), "u-1");
	db_instance_done(&got);

	assert_int_equal(db_instance_set_state(f->db, "c1", DB_ROW_DELETING, &e), 0);
	assert_int_equal(db_instance_set_last_used(f->db, "c1", 5000, &e), 0);
	assert_int_equal(db_instance_set_description(f->db, "c1", "my box", &e), 0);
	check_err(&e, db_instance_set_state(f->db, "c9", DB_ROW_READY, &e), -ENOENT,
		  "Instance \"c9\" not found");
	check_err(&e, db_instance_set_last_used(f->db, "c9", 1, &e), -ENOENT, "\"c9\" not found");
	check_err(&e, db_instance_set_description(f->db, "c9", "", &e), -ENOENT,
		  "\"c9\" not found");

	assert_int_equal(kvlist_set(&cfg2, "limits.cpu", "2"), 0);
	assert_int_equal(db_instance_config_replace(f->db, "c1", &cfg2, &e), 0);
	check_err(&e, db_instance_config_replace(f->db, "c9", &cfg2, &e), -ENOENT,
		  "Instance \"c9\" not found");
	/* Replacing an empty config works too. */
	assert_int_equal(db_instance_config_replace(f->db, "a0", &cfg, &e), 0);

	assert_int_equal(db_instance_get(f->db, "c1", &got, &e), 0);
	assert_int_equal(got.state, DB_ROW_DELETING);
	assert_int_equal(got.last_used_at, 5000);
	assert_string_equal(got.description, "my box");
	assert_int_equal(got.config.n, 1);
	assert_string_equal(kvlist_get(&got.config, "limits.cpu"), "2");
	assert_null(kvlist_get(&got.config, "limits.memory"));
	db_instance_done(&got);

	assert_int_equal(db_instance_list(f->db, &list, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "a0");
	assert_null(list[0].pool);
	assert_null(list[0].image);
	assert_int_equal(list[0].config.n, 2);
	assert_string_equal(list[1].name, "c1");
	assert_int_equal(list[1].config.n, 1);
	db_instances_free(list, n);

	assert_int_equal(db_instance_delete(f->db, "c1", &e), 0);
	check_err(&e, db_instance_delete(f->db, "c1", &e), -ENOENT, "Instance \"c1\" not found");
	/* The name is free again, and the new instance does not inherit the old config. */
	add_instance(f->db, "c1", "default", NULL, NULL);
	assert_int_equal(db_instance_get(f->db, "c1", &got, &e), 0);
	assert_int_equal(got.config.n, 0);
	db_instance_done(&got);
}

/* db_instance_update(): config and description change in one transaction, or neither does. */
/* db_instance_names_flagged(): the instances whose config sets a key to "true", and no others. */
static void test_instance_names_flagged(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_kvlist_ struct kvlist yes = {0}, no = {0}, other = {0};
	_cleanup_strv_ char **names = NULL;

	add_pool(f->db, "default");
	assert_int_equal(db_instance_names_flagged(f->db, "volatile.ephemeral", &names, &e), 0);
	assert_non_null(names);
	assert_null(names[0]);
	strv_free(names);
	names = NULL;

	assert_int_equal(kvlist_set(&yes, "volatile.ephemeral", "true"), 0);
	assert_int_equal(kvlist_set(&no, "volatile.ephemeral", "false"), 0);
	assert_int_equal(kvlist_set(&other, "user.flag", "true"), 0);
	add_instance(f->db, "zz", "default", NULL, &yes);
	add_instance(f->db, "aa", "default", NULL, &yes);
	add_instance(f->db, "off", "default", NULL, &no);
	add_instance(f->db, "plain", "default", NULL, &other);
	assert_int_equal(db_instance_names_flagged(f->db, "volatile.ephemeral", &names, &e), 0);
	assert_int_equal(strv_length(names), 2);
	assert_string_equal(names[0], "aa");
	assert_string_equal(names[1], "zz");
}

static void test_instance_update(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_kvlist_ struct kvlist cfg = {0}, cfg2 = {0};
	/* A NULL value breaks the NOT NULL constraint after the description was written. */
	struct kv broken_items[] = {{.key = "user.a", .value = "1"},
				    {.key = "user.b", .value = NULL}};
	struct kvlist broken = {.items = broken_items, .n = 2};
	struct db_instance got = {0};

	add_pool(f->db, "default");
	assert_int_equal(kvlist_set(&cfg, "user.old", "1"), 0);
	add_instance(f->db, "c1", "default", NULL, &cfg);

	assert_int_equal(kvlist_set(&cfg2, "user.new", "2"), 0);
	assert_int_equal(db_instance_update(f->db, "c1", &cfg2, "new text", &e), 0);
	assert_int_equal(db_instance_get(f->db, "c1", &got, &e), 0);
	assert_string_equal(got.description, "new text");
	assert_int_equal(got.config.n, 1);
	assert_string_equal(kvlist_get(&got.config, "user.new"), "2");
	db_instance_done(&got);

	/* NULL keeps the description. */
	assert_int_equal(db_instance_update(f->db, "c1", &cfg, NULL, &e), 0);
	assert_int_equal(db_instance_get(f->db, "c1", &got, &e), 0);
	assert_string_equal(got.description, "new text");
	assert_string_equal(kvlist_get(&got.config, "user.old"), "1");
	db_instance_done(&got);

	assert_true(db_instance_update(f->db, "c1", &broken, "lost", &e) < 0);
	assert_non_null(e);
	err_freep(&e);
	assert_int_equal(db_instance_get(f->db, "c1", &got, &e), 0);
	assert_string_equal(got.description, "new text");
	assert_int_equal(got.config.n, 1);
	assert_string_equal(kvlist_get(&got.config, "user.old"), "1");
	db_instance_done(&got);

	check_err(&e, db_instance_update(f->db, "c9", &cfg, "x", &e), -ENOENT,
		  "Instance \"c9\" not found");
}

static void test_snapshots(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_kvlist_ struct kvlist cfg = {0};
	struct db_snapshot s = {.instance = "c1",
				.name = "snap0",
				.created_at = 200,
				.expires_at = 0,
				.stateful = false,
				.scheduled = true,
				.description = "nightly",
				.state = DB_ROW_CREATING};
	struct db_snapshot got = {0}, *list = NULL;
	sqlite3 *conn = NULL;
	sqlite3_stmt *st = NULL;
	int64_t id0 = 0, id = 0;
	size_t n = 0;

	assert_int_equal(kvlist_set(&cfg, "limits.memory", "1GiB"), 0);
	add_instance(f->db, "c1", NULL, NULL, &cfg);
	add_instance(f->db, "c2", NULL, NULL, NULL);
	s.config = cfg;
	assert_int_equal(db_snapshot_insert(f->db, &s, &id0, &e), 0);
	assert_true(id0 > 0);
	check_err(&e, db_snapshot_insert(f->db, &s, NULL, &e), -EEXIST,
		  "Snapshot \"snap0\" of instance \"c1\" already exists");
	/* Same name on another instance is fine. */
	s.instance = "c2";
	assert_int_equal(db_snapshot_insert(f->db, &s, NULL, &e), 0);
	s.instance = "c9";
	check_err(&e, db_snapshot_insert(f->db, &s, NULL, &e), -ENOENT,
		  "Instance \"c9\" not found");

	/* An older snapshot inserted later lists first. */
	s = (struct db_snapshot){.instance = "c1",
				 .name = "manual",
				 .created_at = 100,
				 .expires_at = 999,
				 .stateful = true,
				 .state = DB_ROW_READY};
	assert_int_equal(db_snapshot_insert(f->db, &s, &id, &e), 0);
	assert_true(id > id0);

	assert_int_equal(db_snapshot_get(f->db, "c1", "snap0", &got, &e), 0);
	assert_int_equal(got.id, id0);
	assert_string_equal(got.instance, "c1");
	assert_string_equal(got.name, "snap0");
	assert_int_equal(got.created_at, 200);
	assert_int_equal(got.expires_at, 0);
	assert_false(got.stateful);
	assert_true(got.scheduled);
	assert_string_equal(got.description, "nightly");
	assert_int_equal(got.state, DB_ROW_CREATING);
	assert_string_equal(kvlist_get(&got.config, "limits.memory"), "1GiB");
	db_snapshot_done(&got);
	db_snapshot_done(&got);
	check_err(&e, db_snapshot_get(f->db, "c1", "s", &got, &e), -ENOENT,
		  "Snapshot \"s\" of instance \"c1\" not found");
	check_err(&e, db_snapshot_get(f->db, "c9", "s", &got, &e), -ENOENT,
		  "Instance \"c9\" not found");

	assert_int_equal(db_snapshot_list(f->db, "c1", &list, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "manual");
	assert_true(list[0].stateful);
	assert_false(list[0].scheduled);
	assert_int_equal(list[0].expires_at, 999);
	assert_int_equal(list[0].config.n, 0);
	assert_string_equal(list[1].name, "snap0");
	assert_int_equal(list[1].config.n, 1);
	db_snapshots_free(list, n);
	check_err(&e, db_snapshot_list(f->db, "c9", &list, &n, &e), -ENOENT,
		  "Instance \"c9\" not found");

	assert_int_equal(db_snapshot_set_state(f->db, "c1", "snap0", DB_ROW_READY, &e), 0);
	assert_int_equal(db_snapshot_set_expiry(f->db, "c1", "snap0", 12345, &e), 0);
	check_err(&e, db_snapshot_set_expiry(f->db, "c1", "nope", 1, &e), -ENOENT,
		  "Snapshot \"nope\" of instance \"c1\" not found");
	check_err(&e, db_snapshot_set_state(f->db, "c9", "snap0", DB_ROW_READY, &e), -ENOENT,
		  "Instance \"c9\" not found");
	check_err(&e, db_snapshot_rename(f->db, "c1", "snap0", "manual", &e), -EEXIST,
		  "Snapshot \"manual\" of instance \"c1\" already exists");
	assert_int_equal(db_snapshot_rename(f->db, "c1", "snap0", "snap7", &e), 0);
	check_err(&e, db_snapshot_rename(f->db, "c1", "snap0", "x", &e), -ENOENT,
		  "Snapshot \"snap0\" of instance \"c1\" not found");
	assert_int_equal(db_snapshot_get(f->db, "c1", "snap7", &got, &e), 0);
	assert_int_equal(got.id, id0);
	assert_int_equal(got.expires_at, 12345);
	assert_int_equal(got.state, DB_ROW_READY);
	assert_int_equal(got.config.n, 1);
	db_snapshot_done(&got);

	assert_int_equal(db_snapshot_delete(f->db, "c1", "manual", &e), 0);
	check_err(&e, db_snapshot_delete(f->db, "c1", "manual", &e), -ENOENT,
		  "Snapshot \"manual\" of instance \"c1\" not found");

	/* Deleting the instance removes its snapshots and their config, and no other's. */
	assert_int_equal(db_instance_delete(f->db, "c1", &e), 0);
	assert_int_equal(sqlite3_open_v2(f->path, &conn, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(conn,
					    "SELECT (SELECT count(*) FROM snapshots),"
					    " (SELECT count(*) FROM snapshot_config),"
					    " (SELECT count(*) FROM instance_config)",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 1);
	assert_int_equal(sqlite3_column_int(st, 1), 1);
	assert_int_equal(sqlite3_column_int(st, 2), 0);
	sqlite3_finalize(st);
	sqlite3_close(conn);
	assert_int_equal(db_snapshot_list(f->db, "c2", &list, &n, &e), 0);
	assert_int_equal(n, 1);
	db_snapshots_free(list, n);
}

static void test_persistence(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	struct db_instance got = {0};

	add_instance(f->db, "keep", NULL, NULL, NULL);
	db_close(f->db);
	f->db = NULL;
	assert_int_equal(db_open(f->path, &f->db, &e), 0);
	assert_int_equal(db_instance_get(f->db, "keep", &got, &e), 0);
	assert_string_equal(got.name, "keep");
	db_instance_done(&got);
}

/* The journal of multi-step operations survives a reopen and keeps its order. */
static void test_pending(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	struct db_pending p = {.kind = "snapshot-rename", .instance = "c1", .a = "old", .b = "new"};
	struct db_pending *list = NULL;
	int64_t id1 = 0, id2 = 0;
	size_t n = 0;

	assert_int_equal(db_pending_list(f->db, &list, &n, &e), 0);
	assert_int_equal(n, 0);
	db_pendings_free(list, n);
	assert_int_equal(db_pending_add(f->db, &p, &id1, &e), 0);
	p.kind = "snapshot-restore";
	p.a = "snap0";
	p.b = NULL;
	p.flags = true;
	assert_int_equal(db_pending_add(f->db, &p, &id2, &e), 0);
	assert_true(id2 > id1);
	db_close(f->db);
	f->db = NULL;
	assert_int_equal(db_open(f->path, &f->db, &e), 0);
	assert_int_equal(db_pending_list(f->db, &list, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_int_equal(list[0].id, id1);
	assert_string_equal(list[0].kind, "snapshot-rename");
	assert_string_equal(list[0].a, "old");
	assert_string_equal(list[0].b, "new");
	assert_false(list[0].flags);
	assert_string_equal(list[1].kind, "snapshot-restore");
	assert_string_equal(list[1].instance, "c1");
	assert_string_equal(list[1].b, "");
	assert_true(list[1].flags);
	db_pendings_free(list, n);
	assert_int_equal(db_pending_delete(f->db, id1, &e), 0);
	assert_int_equal(db_pending_delete(f->db, id1, &e), 0);
	assert_int_equal(db_pending_list(f->db, &list, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(list[0].id, id2);
	db_pendings_free(list, n);
}

/* The last step of a journaled operation and the removal of its entry happen together or not at
 * all; an instance's entries go with it. */
static void test_pending_finish(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_kvlist_ struct kvlist cfg = {0}, restored = {0};
	struct db_pending p = {.kind = "snapshot-rename", .instance = "c1", .a = "old", .b = "new"};
	struct db_snapshot s = {.instance = "c1", .name = "old", .state = DB_ROW_READY};
	struct db_snapshot got = {0};
	struct db_instance inst = {0};
	int64_t id = 0;

	assert_int_equal(kvlist_set(&cfg, "user.a", "1"), 0);
	assert_int_equal(kvlist_set(&restored, "user.a", "snap"), 0);
	assert_int_equal(kvlist_set(&restored, "user.b", "2"), 0);
	add_instance(f->db, "c1", NULL, NULL, &cfg);
	assert_int_equal(db_snapshot_insert(f->db, &s, NULL, &e), 0);
	s.name = "taken";
	assert_int_equal(db_snapshot_insert(f->db, &s, NULL, &e), 0);

	/* A failing row step keeps the entry. */
	assert_int_equal(db_pending_add(f->db, &p, &id, &e), 0);
	check_err(&e, db_pending_finish_rename(f->db, id, "c1", "old", "taken", &e), -EEXIST,
		  "Snapshot \"taken\" of instance \"c1\" already exists");
	assert_int_equal(query_int(f, "SELECT count(*) FROM pending"), 1);
	exec_side(f, "CREATE TRIGGER keep BEFORE DELETE ON pending"
		     " BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");
	/* And a failing removal keeps the row as it was. */
	check_err(&e, db_pending_finish_rename(f->db, id, "c1", "old", "new", &e), -EIO,
		  "injected failure");
	assert_int_equal(db_snapshot_get(f->db, "c1", "old", &got, &e), 0);
	db_snapshot_done(&got);
	exec_side(f, "DROP TRIGGER keep;");
	assert_int_equal(db_pending_finish_rename(f->db, id, "c1", "old", "new", &e), 0);
	assert_int_equal(db_snapshot_get(f->db, "c1", "new", &got, &e), 0);
	db_snapshot_done(&got);
	assert_int_equal(query_int(f, "SELECT count(*) FROM pending"), 0);
	/* Run again (recovery after the row step was done): only the entry goes. */
	assert_int_equal(db_pending_add(f->db, &p, &id, &e), 0);
	assert_int_equal(db_pending_finish_rename(f->db, id, "c1", "old", "new", &e), 0);
	assert_int_equal(query_int(f, "SELECT count(*) FROM pending"), 0);
	check_err(&e, db_pending_finish_rename(f->db, id, "c9", "old", "new", &e), -ENOENT,
		  "Instance \"c9\" not found");

	/* A restore: the config and the entry, or neither. */
	p.kind = "snapshot-restore";
	assert_int_equal(db_pending_add(f->db, &p, &id, &e), 0);
	exec_side(f, "CREATE TRIGGER keep BEFORE DELETE ON pending"
		     " BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");
	check_err(&e, db_pending_finish_restore(f->db, id, "c1", &restored, &e), -EIO,
		  "injected failure");
	assert_int_equal(db_instance_get(f->db, "c1", &inst, &e), 0);
	assert_string_equal(kvlist_get(&inst.config, "user.a"), "1");
	assert_int_equal(inst.config.n, 1);
	db_instance_done(&inst);
	exec_side(f, "DROP TRIGGER keep;");
	assert_int_equal(db_pending_finish_restore(f->db, id, "c1", &restored, &e), 0);
	assert_int_equal(db_instance_get(f->db, "c1", &inst, &e), 0);
	assert_string_equal(kvlist_get(&inst.config, "user.a"), "snap");
	assert_string_equal(kvlist_get(&inst.config, "user.b"), "2");
	db_instance_done(&inst);
	assert_int_equal(query_int(f, "SELECT count(*) FROM pending"), 0);
	/* Disk only: the config stays. */
	assert_int_equal(db_pending_add(f->db, &p, &id, &e), 0);
	assert_int_equal(db_pending_finish_restore(f->db, id, "c1", NULL, &e), 0);
	assert_int_equal(db_instance_get(f->db, "c1", &inst, &e), 0);
	assert_int_equal(inst.config.n, 2);
	db_instance_done(&inst);
	assert_int_equal(query_int(f, "SELECT count(*) FROM pending"), 0);

	/* Deleting an instance deletes its entries, and no other's. */
	assert_int_equal(db_pending_add(f->db, &p, NULL, &e), 0);
	p.instance = "c2";
	assert_int_equal(db_pending_add(f->db, &p, NULL, &e), 0);
	assert_int_equal(db_instance_delete(f->db, "c1", &e), 0);
	assert_int_equal(query_int(f, "SELECT count(*) FROM pending WHERE instance = 'c1'"), 0);
	assert_int_equal(query_int(f, "SELECT count(*) FROM pending WHERE instance = 'c2'"), 1);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void test_list_thousand(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	struct db_instance *list = NULL;
	double best = 1e9;
	size_t n = 0;
	sqlite3 *conn = NULL;

	/* Bulk-load through a second connection: 1,000 fsync'ed transactions would only test the
	 * disk. */
	assert_int_equal(sqlite3_open_v2(f->path, &conn, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(
		conn,
		"BEGIN;"
		"WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < 1000)"
		" INSERT INTO instances (name, architecture, created_at, state)"
		" SELECT printf('c%04d', i), 'x86_64', i, 1 FROM seq;"
		"INSERT INTO instance_config (instance_id, key, value)"
		" SELECT id, k.key, k.value || id FROM instances,"
		" (SELECT 'limits.memory' AS key, 'm' AS value UNION ALL SELECT 'limits.cpu', 'c'"
		"  UNION ALL SELECT 'volatile.uuid', 'u' UNION ALL SELECT 'user.a', 'a'"
		"  UNION ALL SELECT 'boot.autostart', 'b') k;"
		"COMMIT;",
		NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(conn);
	/* One more through the API so that the API's own rows mix in. */
	add_instance(f->db, "b-api", NULL, NULL, NULL);

	for (int run = 0; run < 5; run++) {
		double t0 = now_ms(), dt;

		assert_int_equal(db_instance_list(f->db, &list, &n, &e), 0);
		dt = now_ms() - t0;
		if (dt < best)
			best = dt;
		assert_int_equal(n, 1001);
		assert_string_equal(list[0].name, "b-api");
		assert_int_equal(list[0].config.n, 0);
		assert_string_equal(list[1].name, "c0001");
		assert_string_equal(list[1000].name, "c1000");
		assert_int_equal(list[1000].config.n, 5);
		assert_string_equal(kvlist_get(&list[1000].config, "limits.memory"), "m1000");
		for (size_t i = 1; i < n; i++)
			assert_int_equal(list[i].config.n, 5);
		db_instances_free(list, n);
	}
	/* Informative only: speed is the benchmarks' business, a loaded machine must not fail this.
	 */
	printf("listing 1001 instances with 5000 config rows: %.2f ms\n", best);
}

/* Runs `sql` on the fixture's database from another process (this program run again with
 * --other-process), as an admin's sqlite3 would; true when it succeeded. */
static bool exec_other_process(struct fixture *f, const char *sql)
{
	char *argv[] = {"test_config_db", "--other-process", f->path, (char *)sql, NULL};
	pid_t pid;
	int status = 0;

	assert_int_equal(posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int other_process(const char *path, const char *sql)
{
	sqlite3 *conn = NULL;
	char *msg = NULL;
	int rc;

	sqlite3_open_v2(path, &conn, SQLITE_OPEN_READWRITE, NULL);
	sqlite3_busy_timeout(conn, 5000);
	rc = sqlite3_exec(conn, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fprintf(stderr, "%s: %s\n", sql, msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	sqlite3_close(conn);
	return rc == SQLITE_OK ? 0 : 1;
}

/*
 * Another process may open the database while cairnd runs (an admin's sqlite3, the crash tests).
 * cairnd's connection must keep its locks meanwhile: closing any descriptor of the file drops
 * the process' POSIX locks on it, and without them the other process takes cairnd's connection
 * for gone: it checkpoints and removes the WAL when it closes, and cairnd no longer sees what it
 * changes (here a trigger that it created and then dropped).
 */
static void test_other_process(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *wal = str_printf("%s-wal", f->path);
	struct db_instance got = {0};

	add_instance(f->db, "c1", NULL, NULL, NULL);
	assert_true(exec_other_process(f, "CREATE TRIGGER no_insert BEFORE INSERT ON instances"
					  " BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"));
	assert_int_equal(access(wal, F_OK), 0);
	check_err(&e, db_instance_insert(f->db, &(struct db_instance){.name = "c2"}, NULL, &e),
		  -EIO, "injected failure");
	assert_true(exec_other_process(f, "DROP TRIGGER no_insert;"
					  " INSERT INTO instances (name) VALUES ('c3');"));
	assert_int_equal(access(wal, F_OK), 0);
	assert_int_equal(db_instance_insert(f->db, &(struct db_instance){.name = "c2"}, NULL, &e),
			 0);
	assert_int_equal(db_instance_get(f->db, "c3", &got, &e), 0);
	db_instance_done(&got);
}

/* What migration 4 (profiles and devices) added: dropping it gives back a database of schema
 * version 3. */
#define DROP_V4                                                                                    \
	"DROP TABLE snapshot_devices; DROP TABLE snapshot_profiles; DROP TABLE instance_devices;"  \
	"DROP TABLE instance_profiles; DROP TABLE profile_devices; DROP TABLE profile_config;"     \
	"DROP TABLE profiles; DROP TABLE server_config; DROP TABLE certificates;"                  \
	"DROP TABLE trust_tokens;"
/* What the networks migration (after the trust store) made. */
#define DROP_NETWORKS                                                                              \
	"DROP TABLE network_config; DROP TABLE networks;"                                          \
	"DROP TABLE copy_state; DROP TABLE remotes;"

/* A database of schema version 2 (before schedule_state) is brought up to date on open, its
 * rows kept. */
static void test_upgrade_from_v2(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	struct db_schedule_state got = {0};
	struct db_instance inst = {0};

	add_instance(f->db, "old", NULL, NULL, NULL);
	db_close(f->db);
	f->db = NULL;
	exec_side(f, "DROP TABLE schedule_state;" DROP_V4 DROP_NETWORKS "PRAGMA user_version = 2;");
	assert_int_equal(query_int(f, "SELECT count(*) FROM sqlite_master WHERE name ="
				      " 'schedule_state'"),
			 0);
	assert_int_equal(db_open(f->path, &f->db, &e), 0);
	assert_int_equal(query_int(f, "PRAGMA user_version"), db_schema_version());
	assert_int_equal(query_int(f, "SELECT count(*) FROM sqlite_master WHERE name ="
				      " 'schedule_state'"),
			 1);
	assert_int_equal(db_instance_get(f->db, "old", &inst, &e), 0);
	db_instance_done(&inst);
	assert_int_equal(db_schedule_get(f->db, "old", &got, &e), 0);
	assert_int_equal(got.last_slot, 0);
	db_schedule_state_done(&got);
}

static void test_schedule(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	struct db_schedule_state s = {.last_slot = 1700000040,
				      .last_run = 1700000041,
				      .last_snapshot = "snap3",
				      .failed_slot = 1700000100,
				      .last_error = "No space left on device",
				      .last_skip = NULL};
	struct db_schedule_state got = {.last_slot = 99};

	add_instance(f->db, "c1", NULL, NULL, NULL);
	add_instance(f->db, "c2", NULL, NULL, NULL);

	/* Never run: a zeroed state. */
	assert_int_equal(db_schedule_get(f->db, "c1", &got, &e), 0);
	assert_int_equal(got.last_slot, 0);
	assert_int_equal(got.last_run, 0);
	assert_null(got.last_snapshot);
	assert_int_equal(got.failed_slot, 0);
	assert_null(got.last_error);
	assert_null(got.last_skip);
	db_schedule_state_done(&got);
	check_err(&e, db_schedule_get(f->db, "c9", &got, &e), -ENOENT, "Instance \"c9\" not found");
	check_err(&e, db_schedule_put(f->db, "c9", &s, &e), -ENOENT, "Instance \"c9\" not found");
	assert_int_equal(query_int(f, "SELECT count(*) FROM schedule_state"), 0);

	/* A round trip, and a second put that replaces every field, NULLs included. */
	assert_int_equal(db_schedule_put(f->db, "c1", &s, &e), 0);
	assert_int_equal(db_schedule_get(f->db, "c1", &got, &e), 0);
	assert_int_equal(got.last_slot, 1700000040);
	assert_int_equal(got.last_run, 1700000041);
	assert_string_equal(got.last_snapshot, "snap3");
	assert_int_equal(got.failed_slot, 1700000100);
	assert_string_equal(got.last_error, "No space left on device");
	assert_null(got.last_skip);
	db_schedule_state_done(&got);
	db_schedule_state_done(&got);
	s = (struct db_schedule_state){
	    .last_slot = 1700000160, .last_run = 1700000161, .last_skip = "instance is stopped"};
	assert_int_equal(db_schedule_put(f->db, "c1", &s, &e), 0);
	assert_int_equal(db_schedule_get(f->db, "c1", &got, &e), 0);
	assert_int_equal(got.last_slot, 1700000160);
	assert_null(got.last_snapshot);
	assert_int_equal(got.failed_slot, 0);
	assert_null(got.last_error);
	assert_string_equal(got.last_skip, "instance is stopped");
	db_schedule_state_done(&got);
	assert_int_equal(query_int(f, "SELECT count(*) FROM schedule_state"), 1);
	/* c2 is untouched. */
	assert_int_equal(db_schedule_get(f->db, "c2", &got, &e), 0);
	assert_int_equal(got.last_slot, 0);
	db_schedule_state_done(&got);

	/* The state goes with its instance: a new instance of the same name starts afresh. */
	assert_int_equal(db_schedule_put(f->db, "c2", &s, &e), 0);
	assert_int_equal(db_instance_delete(f->db, "c1", &e), 0);
	assert_int_equal(query_int(f, "SELECT count(*) FROM schedule_state"), 1);
	check_err(&e, db_schedule_get(f->db, "c1", &got, &e), -ENOENT, "Instance \"c1\" not found");
	add_instance(f->db, "c1", NULL, NULL, NULL);
	assert_int_equal(db_schedule_get(f->db, "c1", &got, &e), 0);
	assert_int_equal(got.last_slot, 0);
	assert_null(got.last_skip);
	db_schedule_state_done(&got);
	assert_int_equal(db_schedule_get(f->db, "c2", &got, &e), 0);
	assert_int_equal(got.last_slot, 1700000160);
	db_schedule_state_done(&got);
}

/* Every instance's state in one query, in the order of db_instance_list(). */
static void test_schedule_list(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	struct db_schedule_state s = {.last_slot = 60, .last_snapshot = "api"};
	struct db_schedule_state *states = NULL;
	struct db_instance *rows = NULL;
	char **names = NULL;
	double best = 1e9;
	size_t n = 0, n_rows = 0;

	/* Nothing yet: empty arrays, not a failure. */
	assert_int_equal(db_schedule_list(f->db, &names, &states, &n, &e), 0);
	assert_int_equal(n, 0);
	assert_non_null(names);
	assert_null(names[0]);
	strv_free(names);
	db_schedule_states_free(states, n);

	exec_side(
	    f, "BEGIN;"
	       "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < 1000)"
	       " INSERT INTO instances (name, architecture, created_at, state)"
	       " SELECT printf('c%04d', i), 'x86_64', i, 1 FROM seq;"
	       /* Every other instance has a state; the odd ones never ran. */
	       "INSERT INTO schedule_state (instance_id, last_slot, last_run, last_snapshot)"
	       " SELECT id, created_at * 60, created_at * 60 + 1, 'snap' || created_at"
	       " FROM instances WHERE created_at % 2 = 0;"
	       "COMMIT;");
	add_instance(f->db, "b-api", NULL, NULL, NULL);
	assert_int_equal(db_schedule_put(f->db, "b-api", &s, &e), 0);

	for (int run = 0; run < 5; run++) {
		double t0 = now_ms(), dt;

		assert_int_equal(db_schedule_list(f->db, &names, &states, &n, &e), 0);
		dt = now_ms() - t0;
		if (dt < best)
			best = dt;
		assert_int_equal(n, 1001);
		assert_int_equal(strv_length(names), 1001);
		assert_string_equal(names[0], "b-api");
		assert_int_equal(states[0].last_slot, 60);
		assert_string_equal(states[0].last_snapshot, "api");
		for (size_t i = 1; i < n; i++) {
			int64_t k = (int64_t)i;

			if (k % 2 == 0) {
				assert_int_equal(states[i].last_slot, k * 60);
				assert_int_equal(states[i].last_run, k * 60 + 1);
				assert_non_null(states[i].last_snapshot);
				assert_int_equal(strtoll(states[i].last_snapshot + 4, NULL, 10), k);
			} else {
				assert_int_equal(states[i].last_slot, 0);
				assert_null(states[i].last_snapshot);
			}
			assert_null(states[i].last_error);
		}
		/* The same order as db_instance_list(), so the two can be walked together. */
		assert_int_equal(db_instance_list(f->db, &rows, &n_rows, &e), 0);
		assert_int_equal(n_rows, n);
		for (size_t i = 0; i < n; i++)
			assert_string_equal(rows[i].name, names[i]);
		db_instances_free(rows, n_rows);
		strv_free(names);
		db_schedule_states_free(states, n);
	}
	printf("schedule state of 1001 instances: %.2f ms\n", best);
}

static void add_snapshot(struct db *db, const char *instance, const char *name, int64_t created_at,
			 bool scheduled, enum db_row_state row_state)
{
	struct db_snapshot s = {.instance = (char *)instance,
				.name = (char *)name,
				.created_at = created_at,
				.expires_at = created_at ? created_at + 3600 : 0,
				.scheduled = scheduled,
				.state = row_state};
	_cleanup_err_ struct err *e = NULL;

	if (db_snapshot_insert(db, &s, NULL, &e) < 0)
		fail_msg("snapshot insert %s/%s: %s", instance, name, err_msg(e, -EIO));
}

/* Every READY snapshot of every READY instance, grouped by instance and oldest first. */
static void test_snapshot_list_all(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	struct db_snapshot_brief *v = NULL;
	struct db_instance half = {.name = "c0-half", .state = DB_ROW_CREATING};
	size_t n = 9;

	assert_int_equal(db_snapshot_list_all(f->db, &v, &n, &e), 0);
	assert_int_equal(n, 0);
	db_snapshot_briefs_free(v);
	v = NULL;

	add_instance(f->db, "c2", NULL, NULL, NULL);
	add_instance(f->db, "c1", NULL, NULL, NULL);
	add_instance(f->db, "c3", NULL, NULL, NULL);
	assert_int_equal(db_instance_insert(f->db, &half, NULL, &e), 0);
	add_snapshot(f->db, "c2", "late", 300, true, DB_ROW_READY);
	add_snapshot(f->db, "c2", "early", 100, false, DB_ROW_READY);
	add_snapshot(f->db, "c2", "same-time-b", 200, true, DB_ROW_READY);
	add_snapshot(f->db, "c2", "same-time-a", 200, true, DB_ROW_READY);
	add_snapshot(f->db, "c2", "creating", 50, true, DB_ROW_CREATING);
	add_snapshot(f->db, "c2", "deleting", 60, true, DB_ROW_DELETING);
	add_snapshot(f->db, "c1", "only", 400, true, DB_ROW_READY);
	add_snapshot(f->db, "c0-half", "copied", 10, false, DB_ROW_READY);

	assert_int_equal(db_snapshot_list_all(f->db, &v, &n, &e), 0);
	assert_int_equal(n, 5);
	assert_string_equal(v[0].instance, "c1");
	assert_string_equal(v[0].name, "only");
	assert_int_equal(v[0].created_at, 400);
	assert_int_equal(v[0].expires_at, 4000);
	assert_true(v[0].scheduled);
	assert_string_equal(v[1].instance, "c2");
	assert_string_equal(v[1].name, "early");
	assert_false(v[1].scheduled);
	assert_false(v[1].stateful);
	/* Equal times keep the order of creation (id). */
	assert_string_equal(v[2].name, "same-time-b");
	assert_string_equal(v[3].name, "same-time-a");
	assert_true(v[2].id < v[3].id);
	assert_string_equal(v[4].name, "late");
	assert_int_equal(v[4].created_at, 300);
	/* One copy of an instance's name for all its rows. */
	assert_ptr_equal(v[1].instance, v[4].instance);
	db_snapshot_briefs_free(v);
	db_snapshot_briefs_free(NULL);
}

/* The one query of db_snapshot_list_all() over 1,000 instances with 100 snapshots each. */
static void test_snapshot_list_all_many(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	struct db_snapshot_brief *v = NULL;
	double best = 1e9;
	size_t n = 0;

	exec_side(
	    f, "BEGIN;"
	       "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < 1000)"
	       " INSERT INTO instances (name, architecture, created_at, state)"
	       " SELECT printf('c%04d', i), 'x86_64', i, 1 FROM seq;"
	       /* Inserted newest first, so that the order comes from created_at, not id. */
	       "WITH RECURSIVE seq(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM seq WHERE j < 100)"
	       " INSERT INTO snapshots (instance_id, name, created_at, expires_at, scheduled,"
	       " state) SELECT i.id, 'snap' || (101 - j), 1000000 - j * 60, 0, j % 2, 1"
	       " FROM instances i, seq;"
	       "COMMIT;");
	for (int run = 0; run < 3; run++) {
		double t0 = now_ms(), dt;

		assert_int_equal(db_snapshot_list_all(f->db, &v, &n, &e), 0);
		dt = now_ms() - t0;
		if (dt < best)
			best = dt;
		assert_int_equal(n, 100000);
		for (size_t i = 0; i < n; i++) {
			if (i % 100 == 0) {
				assert_string_equal(v[i].name, "snap1");
				assert_int_equal(v[i].created_at, 1000000 - 100 * 60);
			} else {
				assert_true(v[i].created_at > v[i - 1].created_at);
				assert_ptr_equal(v[i].instance, v[i - 1].instance);
			}
		}
		assert_string_equal(v[0].instance, "c0001");
		assert_string_equal(v[n - 1].instance, "c1000");
		assert_string_equal(v[n - 1].name, "snap100");
		db_snapshot_briefs_free(v);
	}
	printf("all snapshots of 1000 instances, 100 each: %.2f ms\n", best);
}

struct worker {
	struct db *db;
	int id;
	int failures;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < 20; i++) {
		_cleanup_err_ struct err *e = NULL;
		_cleanup_kvlist_ struct kvlist cfg = {0};
		_cleanup_free_ char *name = str_printf("w%d-%d", w->id, i);
		struct db_instance inst = {.name = name};
		struct db_instance *list = NULL;
		size_t n = 0;

		if (!name || kvlist_set(&cfg, "user.n", name) < 0) {
			w->failures++;
			continue;
		}
		inst.config = cfg;
		if (db_instance_insert(w->db, &inst, NULL, &e) < 0 ||
		    db_instance_config_replace(w->db, name, &cfg, &e) < 0 ||
		    db_instance_list(w->db, &list, &n, &e) < 0)
			w->failures++;
		db_instances_free(list, n);
	}
	return NULL;
}

/* Several threads on the one connection: each call is its own transaction, none sees or
 * breaks another's. */
static void test_threads(void **state)
{
	struct fixture *f = *state;
	struct worker w[4];
	pthread_t th[4];
	struct db_instance *list = NULL;
	size_t n = 0;

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){.db = f->db, .id = i};
		assert_int_equal(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].failures, 0);
	}
	assert_int_equal(db_instance_list(f->db, &list, &n, NULL), 0);
	assert_int_equal(n, 80);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(kvlist_get(&list[i].config, "user.n"), list[i].name);
	db_instances_free(list, n);
}

/* ---- profiles and devices ---- */

/* Adds device `name` with the NULL-terminated key, value pairs to `d`. */
static void add_dev(struct devices *d, const char *name, ...)
{
	_cleanup_kvlist_ struct kvlist keys = {0};
	va_list ap;
	const char *k;

	va_start(ap, name);
	while ((k = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);

		assert_int_equal(kvlist_set(&keys, k, v), 0);
	}
	va_end(ap);
	assert_int_equal(devices_set(d, name, &keys), 0);
}

/* Stores profile `name` with one config key `key`=`value` (unless NULL) and a host disk
 * `data` on /mnt/<name>. */
static void add_profile(struct db *db, const char *name, const char *key, const char *value)
{
	_cleanup_profile_ struct profile p = {0};
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *path = str_printf("/mnt/%s", name);

	p.name = strdup(name);
	p.description = str_printf("profile %s", name);
	assert_non_null(p.name);
	if (key)
		assert_int_equal(kvlist_set(&p.config, key, value), 0);
	add_dev(&p.devices, "data", "type", "disk", "source", "/srv", "path", path, NULL);
	if (db_profile_insert(db, &p, &e) < 0)
		fail_msg("profile insert %s: %s", name, err_msg(e, -EIO));
}

/* The NULL-terminated array `v` is exactly the NULL-terminated arguments. */
static void assert_strv(char *const *v, ...)
{
	va_list ap;
	const char *s;
	size_t i = 0;

	va_start(ap, v);
	while ((s = va_arg(ap, const char *))) {
		if (!v || !v[i])
			fail_msg("missing \"%s\" at %zu", s, i);
		assert_string_equal(v[i], s);
		i++;
	}
	va_end(ap);
	if (v && v[i])
		fail_msg("extra \"%s\" at %zu", v[i], i);
}

static void test_profiles(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_profile_ struct profile got = {0}, upd = {0};
	_cleanup_strv_ char **users = NULL;
	struct profile *list = NULL;
	size_t n = 0;

	/* A new database has the default profile with the root disk on pool "default". */
	assert_int_equal(db_profile_get(f->db, "default", &got, &e), 0);
	assert_string_equal(got.name, "default");
	assert_string_equal(got.description, "Default cairn profile");
	assert_int_equal(got.config.n, 0);
	assert_int_equal(got.devices.n, 1);
	assert_string_equal(kvlist_get(devices_get(&got.devices, "root"), "type"), "disk");
	assert_string_equal(kvlist_get(devices_get(&got.devices, "root"), "path"), "/");
	assert_string_equal(kvlist_get(devices_get(&got.devices, "root"), "pool"), "default");
	profile_done(&got);

	/* Insert and list, sorted by name whatever the order of creation. */
	add_profile(f->db, "zeta", "limits.cpu", "2");
	add_profile(f->db, "alpha", "limits.memory", "1GiB");
	add_profile(f->db, "web", NULL, NULL);
	assert_int_equal(db_profile_list(f->db, &list, &n, &e), 0);
	assert_int_equal(n, 4);
	assert_string_equal(list[0].name, "alpha");
	assert_string_equal(list[1].name, "default");
	assert_string_equal(list[2].name, "web");
	assert_string_equal(list[3].name, "zeta");
	assert_string_equal(kvlist_get(&list[0].config, "limits.memory"), "1GiB");
	assert_string_equal(kvlist_get(&list[3].config, "limits.cpu"), "2");
	assert_string_equal(kvlist_get(devices_get(&list[3].devices, "data"), "path"), "/mnt/zeta");
	assert_int_equal(list[2].config.n, 0);
	assert_string_equal(list[2].description, "profile web");
	profiles_free(list, n);
	list = NULL;
	{
		struct profile dup = {.name = "web"};

		check_err(&e, db_profile_insert(f->db, &dup, &e), -EEXIST,
			  "Profile \"web\" already exists");
	}
	check_err(&e, db_profile_get(f->db, "nope", &got, &e), -ENOENT,
		  "Profile \"nope\" not found");

	/* Update replaces description, config and devices whole. */
	upd.name = strdup("web");
	upd.description = strdup("Web servers");
	assert_int_equal(kvlist_set(&upd.config, "snapshots.schedule", "@daily"), 0);
	add_dev(&upd.devices, "logs", "type", "disk", "source", "/var/log/web", "path", "/logs",
		NULL);
	add_dev(&upd.devices, "www", "type", "disk", "source", "/srv/www", "path", "/var/www",
		"readonly", "true", NULL);
	assert_int_equal(db_profile_update(f->db, "web", &upd, &e), 0);
	assert_int_equal(db_profile_get(f->db, "web", &got, &e), 0);
	assert_string_equal(got.description, "Web servers");
	assert_int_equal(got.config.n, 1);
	assert_true(devices_equal(&got.devices, &upd.devices));
	assert_null(devices_get(&got.devices, "data"));
	profile_done(&got);
	check_err(&e, db_profile_update(f->db, "nope", &upd, &e), -ENOENT,
		  "Profile \"nope\" not found");

	/* One transaction: a failure on the last row written leaves the profile as it was. */
	exec_side(f, "CREATE TRIGGER boom BEFORE INSERT ON profile_devices WHEN NEW.device = 'www'"
		     " BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");
	{
		_cleanup_profile_ struct profile other = {0};

		other.name = strdup("web");
		other.description = strdup("changed");
		assert_int_equal(kvlist_set(&other.config, "limits.cpu", "8"), 0);
		add_dev(&other.devices, "www", "type", "disk", "source", "/srv/x", "path", "/x",
			NULL);
		check_err(&e, db_profile_update(f->db, "web", &other, &e), -EIO,
			  "injected failure");
	}
	exec_side(f, "DROP TRIGGER boom;");
	assert_int_equal(db_profile_get(f->db, "web", &got, &e), 0);
	assert_string_equal(got.description, "Web servers");
	assert_null(kvlist_get(&got.config, "limits.cpu"));
	assert_string_equal(kvlist_get(&got.config, "snapshots.schedule"), "@daily");
	assert_true(devices_equal(&got.devices, &upd.devices));
	profile_done(&got);

	/* Rename: to a free name, not to a taken one, not from a missing one. */
	assert_int_equal(db_profile_rename(f->db, "zeta", "omega", &e), 0);
	check_err(&e, db_profile_get(f->db, "zeta", &got, &e), -ENOENT, "\"zeta\"");
	assert_int_equal(db_profile_get(f->db, "omega", &got, &e), 0);
	assert_string_equal(kvlist_get(&got.config, "limits.cpu"), "2");
	profile_done(&got);
	check_err(&e, db_profile_rename(f->db, "omega", "web", &e), -EEXIST,
		  "Profile \"web\" already exists");
	check_err(&e, db_profile_rename(f->db, "nope", "other", &e), -ENOENT,
		  "Profile \"nope\" not found");

	/* Delete: an unused one goes with its config and devices; a missing one is -ENOENT. */
	assert_int_equal(db_profile_used_by(f->db, "omega", &users, &e), 0);
	assert_strv(users, NULL);
	assert_int_equal(db_profile_delete(f->db, "omega", &e), 0);
	check_err(&e, db_profile_get(f->db, "omega", &got, &e), -ENOENT, "\"omega\"");
	check_err(&e, db_profile_delete(f->db, "omega", &e), -ENOENT,
		  "Profile \"omega\" not found");
	assert_int_equal(query_int(f, "SELECT count(*) FROM profile_config pc WHERE NOT EXISTS"
				      " (SELECT 1 FROM profiles p WHERE p.id = pc.profile_id)"),
			 0);
	assert_int_equal(query_int(f, "SELECT count(*) FROM profile_devices pd WHERE NOT EXISTS"
				      " (SELECT 1 FROM profiles p WHERE p.id = pd.profile_id)"),
			 0);
}

/* A profile that an instance or a snapshot names cannot be deleted, in cairn's check and in the
 * schema itself. */
static void test_profile_in_use(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_strv_ char **users = NULL, **insts = NULL;
	char *web[] = {"web", NULL};
	char *both[] = {"default", "web", NULL};
	struct db_instance inst = {.architecture = "x86_64", .state = DB_ROW_READY};
	struct db_snapshot s = {.instance = "c1", .name = "s0", .state = DB_ROW_READY};
	sqlite3 *conn = NULL;
	char *msg = NULL;

	add_profile(f->db, "web", NULL, NULL);
	add_profile(f->db, "spare", NULL, NULL);
	inst.profiles = both;
	inst.name = "c2";
	assert_int_equal(db_instance_insert(f->db, &inst, NULL, &e), 0);
	inst.profiles = web;
	inst.name = "c1";
	assert_int_equal(db_instance_insert(f->db, &inst, NULL, &e), 0);
	s.profiles = web;
	assert_int_equal(db_snapshot_insert(f->db, &s, NULL, &e), 0);
	s.instance = "c2";
	s.name = "a0";
	assert_int_equal(db_snapshot_insert(f->db, &s, NULL, &e), 0);

	assert_int_equal(db_profile_used_by(f->db, "web", &users, &e), 0);
	assert_strv(users, "/1.0/instances/c1", "/1.0/instances/c2",
		    "/1.0/instances/c1/snapshots/s0", "/1.0/instances/c2/snapshots/a0", NULL);
	assert_int_equal(db_profile_instances(f->db, "web", &insts, &e), 0);
	assert_strv(insts, "c1", "c2", NULL);
	check_err(&e, db_profile_delete(f->db, "web", &e), -EBUSY,
		  "Profile \"web\" is in use by instances \"c1\", \"c2\" and snapshots"
		  " \"c1/s0\", \"c2/a0\"");
	check_err(&e, db_profile_delete(f->db, "default", &e), -EBUSY,
		  "Profile \"default\" is in use by instances \"c2\"");

	/* Another writer that skips cairn's check hits ON DELETE RESTRICT. */
	assert_int_equal(sqlite3_open_v2(f->path, &conn, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(conn, "PRAGMA foreign_keys = ON", NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_not_equal(
	    sqlite3_exec(conn, "DELETE FROM profiles WHERE name = 'web'", NULL, NULL, &msg),
	    SQLITE_OK);
	assert_non_null(strstr(msg, "FOREIGN KEY"));
	sqlite3_free(msg);
	sqlite3_close(conn);
	assert_int_equal(query_int(f, "SELECT count(*) FROM profiles WHERE name = 'web'"), 1);

	/* Once only snapshots name it, the snapshots still hold it. */
	assert_int_equal(
	    db_instance_update_settings(f->db, "c1", NULL, NULL, (char *[]){NULL}, NULL, &e), 0);
	assert_int_equal(db_instance_update_settings(f->db, "c2", NULL, NULL,
						     (char *[]){"default", NULL}, NULL, &e),
			 0);
	check_err(&e, db_profile_delete(f->db, "web", &e), -EBUSY,
		  "Profile \"web\" is in use by snapshots \"c1/s0\", \"c2/a0\"");
	assert_int_equal(db_snapshot_delete(f->db, "c1", "s0", &e), 0);
	/* Deleting the instance takes its snapshots' references with it. */
	assert_int_equal(db_instance_delete(f->db, "c2", &e), 0);
	assert_int_equal(db_profile_delete(f->db, "web", &e), 0);

	/* A renamed profile is the same profile: instances follow it. */
	assert_int_equal(db_profile_rename(f->db, "spare", "renamed", &e), 0);
	inst.name = "c3";
	inst.profiles = (char *[]){"renamed", NULL};
	assert_int_equal(db_instance_insert(f->db, &inst, NULL, &e), 0);
	assert_int_equal(db_profile_rename(f->db, "renamed", "again", &e), 0);
	{
		struct db_instance got = {0};

		assert_int_equal(db_instance_get(f->db, "c3", &got, &e), 0);
		assert_strv(got.profiles, "again", NULL);
		db_instance_done(&got);
	}
}

static void test_instance_settings(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_kvlist_ struct kvlist cfg = {0};
	_cleanup_devices_ struct devices devs = {0};
	_cleanup_profile_ struct profile upd = {0};
	char *order[] = {"web", "default", NULL};
	struct db_instance inst = {.name = "c1", .architecture = "x86_64", .state = DB_ROW_READY};
	struct db_instance got = {0}, *list = NULL;
	const struct kvlist *d;
	size_t n = 0;

	add_pool(f->db, "default");
	add_profile(f->db, "web", "limits.memory", "2GiB");
	assert_int_equal(kvlist_set(&cfg, "limits.cpu", "1"), 0);
	add_dev(&devs, "data", "type", "disk", "source", "/srv/own", "path", "/mnt/own", NULL);
	add_dev(&devs, "gone", "type", "none", NULL);
	inst.pool = "default";
	inst.config = cfg;
	inst.devices = devs;
	inst.profiles = order;
	assert_int_equal(db_instance_insert(f->db, &inst, NULL, &e), 0);

	/* Its own settings as stored, the profiles in its order, the expanded ones computed. */
	assert_int_equal(db_instance_get(f->db, "c1", &got, &e), 0);
	assert_strv(got.profiles, "web", "default", NULL);
	assert_true(devices_equal(&got.devices, &devs));
	assert_int_equal(got.config.n, 1);
	assert_string_equal(kvlist_get(&got.expanded_config, "limits.memory"), "2GiB");
	assert_string_equal(kvlist_get(&got.expanded_config, "limits.cpu"), "1");
	assert_int_equal(got.expanded_devices.n, 3);
	assert_string_equal(kvlist_get(devices_get(&got.expanded_devices, "root"), "pool"),
			    "default");
	/* The instance's own "data" replaces web's whole. */
	d = devices_get(&got.expanded_devices, "data");
	assert_string_equal(kvlist_get(d, "path"), "/mnt/own");
	assert_string_equal(kvlist_get(devices_get(&got.expanded_devices, "gone"), "type"), "none");
	db_instance_done(&got);

	/* Another instance with no own devices and profiles in the other order; and one with
	 * none at all. */
	inst.name = "c0";
	inst.config = (struct kvlist){0};
	inst.devices = (struct devices){0};
	inst.profiles = (char *[]){"default", "web", NULL};
	assert_int_equal(db_instance_insert(f->db, &inst, NULL, &e), 0);
	inst.name = "c2";
	inst.profiles = NULL;
	assert_int_equal(db_instance_insert(f->db, &inst, NULL, &e), 0);
	assert_int_equal(db_instance_list(f->db, &list, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_string_equal(list[0].name, "c0");
	assert_strv(list[0].profiles, "default", "web", NULL);
	assert_int_equal(list[0].devices.n, 0);
	assert_string_equal(kvlist_get(devices_get(&list[0].expanded_devices, "data"), "path"),
			    "/mnt/web");
	assert_string_equal(list[1].name, "c1");
	assert_strv(list[1].profiles, "web", "default", NULL);
	assert_true(devices_equal(&list[1].devices, &devs));
	assert_string_equal(kvlist_get(&list[1].expanded_config, "limits.memory"), "2GiB");
	assert_string_equal(list[2].name, "c2");
	assert_null(list[2].profiles);
	assert_int_equal(list[2].expanded_devices.n, 0);
	assert_int_equal(list[2].expanded_config.n, 0);
	db_instances_free(list, n);

	/* A profile change shows in the expanded config of every instance that names it. */
	upd.name = strdup("web");
	assert_int_equal(kvlist_set(&upd.config, "limits.memory", "4GiB"), 0);
	assert_int_equal(db_profile_update(f->db, "web", &upd, &e), 0);
	assert_int_equal(db_instance_get(f->db, "c0", &got, &e), 0);
	assert_string_equal(kvlist_get(&got.expanded_config, "limits.memory"), "4GiB");
	assert_null(devices_get(&got.expanded_devices, "data"));
	db_instance_done(&got);

	/* Refusals leave no row: an unknown profile, one listed twice. */
	inst.name = "c9";
	inst.profiles = (char *[]){"default", "nope", NULL};
	check_err(&e, db_instance_insert(f->db, &inst, NULL, &e), -ENOENT,
		  "Profile \"nope\" not found");
	inst.profiles = (char *[]){"web", "default", "web", NULL};
	check_err(&e, db_instance_insert(f->db, &inst, NULL, &e), -EINVAL,
		  "Profile \"web\" is listed twice");
	check_err(&e, db_instance_get(f->db, "c9", &got, &e), -ENOENT, "\"c9\"");
	assert_int_equal(query_int(f, "SELECT count(*) FROM instances WHERE name = 'c9'"), 0);

	/* Deleting an instance deletes its device and profile rows. */
	assert_int_equal(db_instance_delete(f->db, "c1", &e), 0);
	assert_int_equal(query_int(f, "SELECT count(*) FROM instance_devices d WHERE NOT EXISTS"
				      " (SELECT 1 FROM instances i WHERE i.id = d.instance_id)"),
			 0);
	assert_int_equal(query_int(f, "SELECT count(*) FROM instance_profiles p WHERE NOT EXISTS"
				      " (SELECT 1 FROM instances i WHERE i.id = p.instance_id)"),
			 0);
}

/* Every profile an instance names counts, however many: the 70th is applied last. */
static void test_many_profiles(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_strv_ char **names = NULL;
	struct db_instance inst = {.name = "c1", .architecture = "x86_64", .state = DB_ROW_READY};
	struct db_instance got = {0};

	for (int i = 0; i < 70; i++) {
		_cleanup_free_ char *name = str_printf("p%02d", i);
		_cleanup_free_ char *value = str_printf("%d", i);

		add_profile(f->db, name, "user.last", value);
		assert_int_equal(strv_push(&names, name), 0);
	}
	inst.profiles = names;
	assert_int_equal(db_instance_insert(f->db, &inst, NULL, &e), 0);
	assert_int_equal(db_instance_get(f->db, "c1", &got, &e), 0);
	assert_int_equal(strv_length(got.profiles), 70);
	assert_string_equal(got.profiles[69], "p69");
	assert_string_equal(kvlist_get(&got.expanded_config, "user.last"), "69");
	assert_string_equal(kvlist_get(devices_get(&got.expanded_devices, "data"), "path"),
			    "/mnt/p69");
	db_instance_done(&got);
}

/* db_instance_update_settings() replaces config, devices, profiles and description together,
 * or changes nothing. */
static void test_update_settings(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_kvlist_ struct kvlist cfg = {0}, cfg2 = {0};
	_cleanup_devices_ struct devices devs = {0}, devs2 = {0}, bad = {0};
	struct db_instance inst = {.name = "c1", .architecture = "x86_64", .state = DB_ROW_READY};
	struct db_instance got = {0};

	add_profile(f->db, "web", "limits.memory", "2GiB");
	add_profile(f->db, "db", "limits.cpu", "4");
	assert_int_equal(kvlist_set(&cfg, "user.a", "1"), 0);
	add_dev(&devs, "data", "type", "disk", "source", "/srv/a", "path", "/a", NULL);
	add_dev(&devs, "logs", "type", "disk", "source", "/srv/l", "path", "/l", NULL);
	inst.config = cfg;
	inst.devices = devs;
	inst.profiles = (char *[]){"default", "web", NULL};
	assert_int_equal(db_instance_insert(f->db, &inst, NULL, &e), 0);

	assert_int_equal(kvlist_set(&cfg2, "user.b", "2"), 0);
	add_dev(&devs2, "root", "type", "disk", "path", "/", "pool", "fast", NULL);
	assert_int_equal(db_instance_update_settings(f->db, "c1", &cfg2, &devs2,
						     (char *[]){"db", "default", NULL}, "new", &e),
			 0);
	assert_int_equal(db_instance_get(f->db, "c1", &got, &e), 0);
	assert_string_equal(got.description, "new");
	assert_null(kvlist_get(&got.config, "user.a"));
	assert_string_equal(kvlist_get(&got.config, "user.b"), "2");
	assert_true(devices_equal(&got.devices, &devs2));
	assert_strv(got.profiles, "db", "default", NULL);
	assert_string_equal(kvlist_get(&got.expanded_config, "limits.cpu"), "4");
	assert_null(kvlist_get(&got.expanded_config, "limits.memory"));
	assert_string_equal(kvlist_get(devices_get(&got.expanded_devices, "root"), "pool"), "fast");
	db_instance_done(&got);

	/* NULL devices and profiles keep them; an empty list removes them all. */
	assert_int_equal(db_instance_update_settings(f->db, "c1", &cfg, NULL, NULL, NULL, &e), 0);
	assert_int_equal(db_instance_get(f->db, "c1", &got, &e), 0);
	assert_string_equal(got.description, "new");
	assert_string_equal(kvlist_get(&got.config, "user.a"), "1");
	assert_true(devices_equal(&got.devices, &devs2));
	assert_strv(got.profiles, "db", "default", NULL);
	db_instance_done(&got);
	assert_int_equal(
	    db_instance_update_settings(f->db, "c1", &cfg, &bad, (char *[]){NULL}, NULL, &e), 0);
	assert_int_equal(db_instance_get(f->db, "c1", &got, &e), 0);
	assert_int_equal(got.devices.n, 0);
	assert_null(got.profiles);
	assert_int_equal(got.expanded_devices.n, 0);
	db_instance_done(&got);
	assert_int_equal(db_instance_update_settings(f->db, "c1", &cfg, &devs,
						     (char *[]){"web", NULL}, NULL, &e),
			 0);

	/* A missing profile anywhere in the list fails the whole update: config, devices,
	 * profiles and description stay as they were. */
	check_err(&e,
		  db_instance_update_settings(f->db, "c1", &cfg2, &devs2,
					      (char *[]){"db", "nope", NULL}, "lost", &e),
		  -ENOENT, "Profile \"nope\" not found");
	check_err(&e,
		  db_instance_update_settings(f->db, "c1", &cfg2, &devs2,
					      (char *[]){"db", "db", NULL}, "lost", &e),
		  -EINVAL, "Profile \"db\" is listed twice");
	assert_int_equal(db_instance_get(f->db, "c1", &got, &e), 0);
	assert_string_equal(got.description, "new");
	assert_string_equal(kvlist_get(&got.config, "user.a"), "1");
	assert_null(kvlist_get(&got.config, "user.b"));
	assert_true(devices_equal(&got.devices, &devs));
	assert_strv(got.profiles, "web", NULL);
	db_instance_done(&got);
	check_err(&e, db_instance_update_settings(f->db, "nope", &cfg, NULL, NULL, NULL, &e),
		  -ENOENT, "Instance \"nope\" not found");
}

static void test_snapshot_settings(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_devices_ struct devices devs = {0}, devs2 = {0};
	_cleanup_kvlist_ struct kvlist cfg = {0};
	struct db_snapshot s = {
	    .instance = "c1", .name = "s0", .created_at = 10, .state = DB_ROW_READY};
	struct db_snapshot got = {0}, *list = NULL;
	size_t n = 0;

	add_profile(f->db, "web", NULL, NULL);
	add_instance(f->db, "c1", NULL, NULL, NULL);
	add_instance(f->db, "c2", NULL, NULL, NULL);
	assert_int_equal(kvlist_set(&cfg, "user.a", "1"), 0);
	add_dev(&devs, "data", "type", "disk", "source", "/srv", "path", "/mnt", "readonly", "true",
		NULL);
	add_dev(&devs, "gone", "type", "none", NULL);
	add_dev(&devs2, "root", "type", "disk", "path", "/", "pool", "fast", NULL);
	s.config = cfg;
	s.devices = devs;
	s.profiles = (char *[]){"web", "default", NULL};
	assert_int_equal(db_snapshot_insert(f->db, &s, NULL, &e), 0);
	s.name = "s1";
	s.created_at = 20;
	s.config = (struct kvlist){0};
	s.devices = devs2;
	s.profiles = NULL;
	assert_int_equal(db_snapshot_insert(f->db, &s, NULL, &e), 0);
	s.instance = "c2";
	s.name = "t0";
	s.profiles = (char *[]){"default", NULL};
	s.devices = (struct devices){0};
	assert_int_equal(db_snapshot_insert(f->db, &s, NULL, &e), 0);

	assert_int_equal(db_snapshot_get(f->db, "c1", "s0", &got, &e), 0);
	assert_strv(got.profiles, "web", "default", NULL);
	assert_true(devices_equal(&got.devices, &devs));
	assert_string_equal(kvlist_get(&got.config, "user.a"), "1");
	db_snapshot_done(&got);

	assert_int_equal(db_snapshot_list(f->db, "c1", &list, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "s0");
	assert_strv(list[0].profiles, "web", "default", NULL);
	assert_true(devices_equal(&list[0].devices, &devs));
	assert_string_equal(list[1].name, "s1");
	assert_null(list[1].profiles);
	assert_true(devices_equal(&list[1].devices, &devs2));
	db_snapshots_free(list, n);
	assert_int_equal(db_snapshot_list(f->db, NULL, &list, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_strv(list[0].profiles, "web", "default", NULL);
	assert_true(devices_equal(&list[1].devices, &devs2));
	assert_string_equal(list[2].name, "t0");
	assert_strv(list[2].profiles, "default", NULL);
	assert_int_equal(list[2].devices.n, 0);
	db_snapshots_free(list, n);

	/* An unknown profile or one listed twice refuses the snapshot, leaving no row. */
	s.name = "bad";
	s.profiles = (char *[]){"nope", NULL};
	check_err(&e, db_snapshot_insert(f->db, &s, NULL, &e), -ENOENT,
		  "Profile \"nope\" not found");
	s.profiles = (char *[]){"web", "web", NULL};
	check_err(&e, db_snapshot_insert(f->db, &s, NULL, &e), -EINVAL,
		  "Profile \"web\" is listed twice");
	assert_int_equal(query_int(f, "SELECT count(*) FROM snapshots WHERE name = 'bad'"), 0);

	/* A deleted snapshot takes its rows along. */
	assert_int_equal(db_snapshot_delete(f->db, "c1", "s0", &e), 0);
	assert_int_equal(query_int(f, "SELECT count(*) FROM snapshot_devices d WHERE NOT EXISTS"
				      " (SELECT 1 FROM snapshots s WHERE s.id = d.snapshot_id)"),
			 0);
	assert_int_equal(query_int(f, "SELECT count(*) FROM snapshot_profiles p WHERE NOT EXISTS"
				      " (SELECT 1 FROM snapshots s WHERE s.id = p.snapshot_id)"),
			 0);
}

/* The last step of a restore puts back config, devices and profiles, and removes its journal
 * entry, in one transaction. */
static void test_pending_finish_restore_settings(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_kvlist_ struct kvlist cfg = {0}, snapcfg = {0};
	_cleanup_devices_ struct devices devs = {0}, snapdevs = {0};
	struct db_pending p = {.kind = "snapshot-restore", .instance = "c1", .a = "s0"};
	struct db_instance inst = {.name = "c1", .architecture = "x86_64", .state = DB_ROW_READY};
	struct db_instance got = {0};
	int64_t id = 0;

	add_profile(f->db, "web", "limits.memory", "2GiB");
	assert_int_equal(kvlist_set(&cfg, "user.now", "1"), 0);
	add_dev(&devs, "now", "type", "disk", "source", "/srv/now", "path", "/now", NULL);
	inst.config = cfg;
	inst.devices = devs;
	inst.profiles = (char *[]){"default", NULL};
	assert_int_equal(db_instance_insert(f->db, &inst, NULL, &e), 0);
	assert_int_equal(kvlist_set(&snapcfg, "user.then", "1"), 0);
	add_dev(&snapdevs, "then", "type", "disk", "source", "/srv/then", "path", "/then", NULL);

	/* A profile gone since the snapshot fails the step: nothing changes, the entry stays. */
	assert_int_equal(db_pending_add(f->db, &p, &id, &e), 0);
	check_err(&e,
		  db_pending_finish_restore_settings(f->db, id, "c1", &snapcfg, &snapdevs,
						     (char *[]){"web", "gone", NULL}, &e),
		  -ENOENT, "Profile \"gone\" not found");
	assert_int_equal(query_int(f, "SELECT count(*) FROM pending"), 1);
	assert_int_equal(db_instance_get(f->db, "c1", &got, &e), 0);
	assert_string_equal(kvlist_get(&got.config, "user.now"), "1");
	assert_true(devices_equal(&got.devices, &devs));
	assert_strv(got.profiles, "default", NULL);
	db_instance_done(&got);

	assert_int_equal(db_pending_finish_restore_settings(f->db, id, "c1", &snapcfg, &snapdevs,
							    (char *[]){"web", "default", NULL}, &e),
			 0);
	assert_int_equal(query_int(f, "SELECT count(*) FROM pending"), 0);
	assert_int_equal(db_instance_get(f->db, "c1", &got, &e), 0);
	assert_null(kvlist_get(&got.config, "user.now"));
	assert_string_equal(kvlist_get(&got.config, "user.then"), "1");
	assert_true(devices_equal(&got.devices, &snapdevs));
	assert_strv(got.profiles, "web", "default", NULL);
	assert_string_equal(kvlist_get(&got.expanded_config, "limits.memory"), "2GiB");
	db_instance_done(&got);

	/* A disk-only restore (config, devices and profiles NULL) keeps the settings. */
	assert_int_equal(db_pending_add(f->db, &p, &id, &e), 0);
	assert_int_equal(db_pending_finish_restore_settings(f->db, id, "c1", NULL, NULL, NULL, &e),
			 0);
	assert_int_equal(query_int(f, "SELECT count(*) FROM pending"), 0);
	assert_int_equal(db_instance_get(f->db, "c1", &got, &e), 0);
	assert_true(devices_equal(&got.devices, &snapdevs));
	assert_strv(got.profiles, "web", "default", NULL);
	db_instance_done(&got);
	check_err(&e, db_pending_finish_restore_settings(f->db, id, "nope", NULL, NULL, NULL, &e),
		  -ENOENT, "Instance \"nope\" not found");
}

/* A database of schema version 3 (before profiles) holding instances on two pools and a
 * snapshot: opening it creates the default profile, gives it to every instance and snapshot,
 * and gives the instance on another pool a root disk of its own naming that pool. */
static void test_upgrade_from_v3(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_profile_ struct profile def = {0};
	struct db_instance a = {0}, b = {0}, c = {0};
	struct db_snapshot s = {0};
	const struct kvlist *root;

	add_pool(f->db, "default");
	add_pool(f->db, "fast");
	add_instance(f->db, "on-default", "default", NULL, NULL);
	add_instance(f->db, "on-fast", "fast", NULL, NULL);
	add_instance(f->db, "no-pool", NULL, NULL, NULL);
	add_snapshot(f->db, "on-fast", "snap0", 100, false, DB_ROW_READY);
	db_close(f->db);
	f->db = NULL;
	exec_side(f, DROP_V4 DROP_NETWORKS "PRAGMA user_version = 3;");
	assert_int_equal(query_int(f, "SELECT count(*) FROM sqlite_master WHERE name LIKE"
				      " '%profile%' OR name LIKE '%devices%'"),
			 0);

	assert_int_equal(db_open(f->path, &f->db, &e), 0);
	assert_int_equal(query_int(f, "PRAGMA user_version"), db_schema_version());
	assert_int_equal(db_profile_get(f->db, "default", &def, &e), 0);
	assert_int_equal(def.devices.n, 1);
	root = devices_get(&def.devices, "root");
	assert_non_null(root);
	assert_int_equal(root->n, 3);
	assert_string_equal(kvlist_get(root, "type"), "disk");
	assert_string_equal(kvlist_get(root, "path"), "/");
	assert_string_equal(kvlist_get(root, "pool"), "default");
	assert_int_equal(devices_validate("profile \"default\"", &def.devices, &e), 0);

	assert_int_equal(db_instance_get(f->db, "on-default", &a, &e), 0);
	assert_strv(a.profiles, "default", NULL);
	assert_int_equal(a.devices.n, 0);
	assert_string_equal(kvlist_get(devices_get(&a.expanded_devices, "root"), "pool"),
			    "default");
	assert_int_equal(db_instance_get(f->db, "on-fast", &b, &e), 0);
	assert_strv(b.profiles, "default", NULL);
	assert_int_equal(b.devices.n, 1);
	root = devices_get(&b.devices, "root");
	assert_non_null(root);
	assert_int_equal(root->n, 3);
	assert_string_equal(kvlist_get(root, "type"), "disk");
	assert_string_equal(kvlist_get(root, "path"), "/");
	assert_string_equal(kvlist_get(root, "pool"), "fast");
	assert_int_equal(devices_validate("instance \"on-fast\"", &b.devices, &e), 0);
	assert_string_equal(kvlist_get(devices_get(&b.expanded_devices, "root"), "pool"), "fast");
	assert_int_equal(devices_validate("instance \"on-fast\"", &b.expanded_devices, &e), 0);
	/* An instance whose row names no pool gets the profile and no disk of its own. */
	assert_int_equal(db_instance_get(f->db, "no-pool", &c, &e), 0);
	assert_strv(c.profiles, "default", NULL);
	assert_int_equal(c.devices.n, 0);
	assert_int_equal(db_snapshot_get(f->db, "on-fast", "snap0", &s, &e), 0);
	assert_strv(s.profiles, "default", NULL);
	assert_int_equal(s.devices.n, 0);
	db_snapshot_done(&s);
	db_instance_done(&a);
	db_instance_done(&b);
	db_instance_done(&c);

	/* The profile is in use now; opening again changes nothing. */
	check_err(&e, db_profile_delete(f->db, "default", &e), -EBUSY,
		  "snapshots \"on-fast/snap0\"");
	db_close(f->db);
	f->db = NULL;
	assert_int_equal(db_open(f->path, &f->db, &e), 0);
	assert_int_equal(query_int(f, "SELECT count(*) FROM profiles"), 1);
	assert_int_equal(query_int(f, "SELECT count(*) FROM instance_profiles"), 3);
	assert_int_equal(query_int(f, "SELECT count(*) FROM instance_devices"), 3);
}

/* The daemon's remotes: a round trip, a taken name, a missing one. */
static void test_remotes(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	struct db_remote r2 = {.name = "r2",
			       .address = "127.0.0.1:8443",
			       .certificate = "PEM",
			       .fingerprint = "ab12",
			       .created_at = 1700000000};
	struct db_remote got = {0}, *v = NULL;
	size_t n = 9;

	assert_int_equal(db_remote_list(f->db, &v, &n, &e), 0);
	assert_int_equal(n, 0);
	db_remotes_free(v, n);
	assert_int_equal(db_remote_add(f->db, &r2, &e), 0);
	check_err(&e, db_remote_add(f->db, &r2, &e), -EEXIST, "Remote \"r2\" exists already");
	r2.name = "a1";
	assert_int_equal(db_remote_add(f->db, &r2, &e), 0);
	assert_int_equal(db_remote_get(f->db, "r2", &got, &e), 0);
	assert_string_equal(got.address, "127.0.0.1:8443");
	assert_string_equal(got.certificate, "PEM");
	assert_string_equal(got.fingerprint, "ab12");
	assert_int_equal(got.created_at, 1700000000);
	db_remote_done(&got);
	db_remote_done(&got);
	assert_int_equal(db_remote_list(f->db, &v, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].name, "a1");
	assert_string_equal(v[1].name, "r2");
	db_remotes_free(v, n);
	check_err(&e, db_remote_get(f->db, "nosuch", &got, &e), -ENOENT,
		  "Remote \"nosuch\" not found");
	assert_int_equal(db_remote_delete(f->db, "r2", &e), 0);
	check_err(&e, db_remote_delete(f->db, "r2", &e), -ENOENT, "Remote \"r2\" not found");
}

/* The refresh state: zeroed at first, owed after a snapshot, listed while owed, gone with its
 * instance. */
static void test_copy_state(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	struct db_copy_state got = {0}, *states = NULL;
	struct db_copy_state s = {.target = "r2:c9",
				  .owed = true,
				  .last_attempt = 100,
				  .last_success = 90,
				  .last_bytes = 1ULL << 40,
				  .last_error = "Cannot reach",
				  .failures = 3,
				  .next_retry = 340};
	char **names = NULL;
	size_t n = 0;

	add_instance(f->db, "c1", NULL, NULL, NULL);
	add_instance(f->db, "c2", NULL, NULL, NULL);
	assert_int_equal(db_copy_state_get(f->db, "c1", &got, &e), 0);
	assert_false(got.owed);
	assert_int_equal(got.failures, 0);
	assert_null(got.last_error);
	db_copy_state_done(&got);
	check_err(&e, db_copy_state_get(f->db, "c9", &got, &e), -ENOENT,
		  "Instance \"c9\" not found");
	check_err(&e, db_copy_state_owe(f->db, "c9", &e), -ENOENT, "Instance \"c9\" not found");
	check_err(&e, db_copy_state_put(f->db, "c9", &s, &e), -ENOENT, "Instance \"c9\" not found");

	assert_int_equal(db_copy_state_owe(f->db, "c2", &e), 0);
	assert_int_equal(db_copy_state_owed(f->db, &names, &states, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "c2");
	assert_true(states[0].owed);
	strv_free(names);
	db_copy_states_free(states, n);

	assert_int_equal(db_copy_state_put(f->db, "c1", &s, &e), 0);
	/* Owing again keeps the rest. */
	assert_int_equal(db_copy_state_owe(f->db, "c1", &e), 0);
	assert_int_equal(db_copy_state_get(f->db, "c1", &got, &e), 0);
	assert_string_equal(got.target, "r2:c9");
	assert_true(got.owed);
	assert_int_equal(got.last_attempt, 100);
	assert_int_equal(got.last_success, 90);
	assert_true(got.last_bytes == 1ULL << 40);
	assert_string_equal(got.last_error, "Cannot reach");
	assert_int_equal(got.failures, 3);
	assert_int_equal(got.next_retry, 340);
	db_copy_state_done(&got);
	assert_int_equal(db_copy_state_owed(f->db, &names, &states, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "c1");
	assert_string_equal(names[1], "c2");
	strv_free(names);
	db_copy_states_free(states, n);

	s = (struct db_copy_state){.target = "r2", .last_success = 400, .last_bytes = 5};
	assert_int_equal(db_copy_state_put(f->db, "c1", &s, &e), 0);
	assert_int_equal(db_instance_delete(f->db, "c2", &e), 0);
	assert_int_equal(db_copy_state_owed(f->db, &names, &states, &n, &e), 0);
	assert_int_equal(n, 0);
	strv_free(names);
	db_copy_states_free(states, n);
	assert_int_equal(query_int(f, "SELECT count(*) FROM copy_state"), 1);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_open_schema, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pools, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_images_and_aliases, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_instances, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_instance_update, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_instance_names_flagged, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshots, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pending, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_thousand, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_process, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pending_finish, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_upgrade_from_v2, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_schedule, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_remotes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_copy_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_schedule_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_list_all, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_list_all_many, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_profiles, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_profile_in_use, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_instance_settings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_profiles, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_update_settings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_settings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pending_finish_restore_settings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_upgrade_from_v3, setup, teardown),
	};

	if (argc == 4 && strcmp(argv[1], "--other-process") == 0)
		return other_process(argv[2], argv[3]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
