/*
 * What a transfer sends (migration/plan.h): snapshots matched by UUID whatever their names, the
 * newest common one as the parent, a name clash refused, --refresh-exclude-older, what prune
 * offers, and the UUID text form.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "migration/plan.h"

#define U1 "11111111-1111-1111-1111-111111111111"
#define U2 "22222222-2222-2222-2222-222222222222"
#define U3 "33333333-3333-3333-3333-333333333333"
#define U4 "44444444-4444-4444-4444-444444444444"

static const struct migration_snap src[] = {
    {"s1", U1, 100},
    {"s2", U2, 200},
    {"s3", U3, 300},
    {"s4", U4, 400},
};

static char *joined(char **v)
{
	return strv_join(v, " ");
}

static void test_fresh_copy_sends_everything(void **state)
{
	_cleanup_migration_plan_ struct migration_plan p = {0};
	_cleanup_free_ char *s = NULL;

	(void)state;
	assert_int_equal(migration_plan_make(src, 4, NULL, 0, false, false, false, &p, NULL), 0);
	s = joined(p.send);
	assert_string_equal(s, "s1 s2 s3 s4");
	assert_null(p.parent);
	assert_string_equal(p.send_uuids[3], U4);
}

static void test_instance_only_sends_no_snapshot(void **state)
{
	_cleanup_migration_plan_ struct migration_plan p = {0};

	(void)state;
	assert_int_equal(migration_plan_make(src, 4, NULL, 0, false, true, false, &p, NULL), 0);
	assert_non_null(p.send);
	assert_null(p.send[0]);
}

/* The target has s1 and s2 under other names: matched by UUID, the newest common one (s2,
 * called "b" there) is the parent, s3 and s4 go. */
static void test_refresh_matches_by_uuid(void **state)
{
	_cleanup_migration_plan_ struct migration_plan p = {0};
	_cleanup_free_ char *s = NULL;
	const struct migration_snap have[] = {{"a", U1, 100}, {"b", U2, 200}};

	(void)state;
	assert_int_equal(migration_plan_make(src, 4, have, 2, true, false, false, &p, NULL), 0);
	s = joined(p.send);
	assert_string_equal(s, "s3 s4");
	assert_string_equal(p.parent, "s2");
	assert_string_equal(p.parent_uuid, U2);
	assert_string_equal(p.target_parent, "b");
	assert_null(p.prune);
}

/* A target snapshot with a source's name but not its UUID is another snapshot: refused. */
static void test_name_clash_refused(void **state)
{
	_cleanup_migration_plan_ struct migration_plan p = {0};
	_cleanup_err_ struct err *e = NULL;
	const struct migration_snap have[] = {{"s1", U1, 100}, {"s3", "", 50}};

	(void)state;
	assert_int_equal(migration_plan_make(src, 4, have, 2, true, false, false, &p, &e), -EEXIST);
	assert_non_null(strstr(err_msg(e, -EEXIST), "\"s3\""));
}

/* Deleted at the source: offered for pruning; a gap in the middle (the target lacks s2 but has
 * s3) is filled, from the newest common snapshot. */
static void test_prune_and_gap(void **state)
{
	_cleanup_migration_plan_ struct migration_plan p = {0};
	_cleanup_free_ char *s = NULL, *pr = NULL;
	const struct migration_snap have[] = {
	    {"old", "99999999-9999-9999-9999-999999999999", 10}, {"s1", U1, 100}, {"s3", U3, 300}};

	(void)state;
	assert_int_equal(migration_plan_make(src, 4, have, 3, true, false, false, &p, NULL), 0);
	s = joined(p.send);
	assert_string_equal(s, "s2 s4");
	assert_string_equal(p.parent, "s3");
	pr = joined(p.prune);
	assert_string_equal(pr, "old");
}

static void test_exclude_older(void **state)
{
	_cleanup_migration_plan_ struct migration_plan p = {0};
	_cleanup_free_ char *s = NULL;
	const struct migration_snap have[] = {{"s3", U3, 300}};

	(void)state;
	assert_int_equal(migration_plan_make(src, 4, have, 1, true, false, true, &p, NULL), 0);
	s = joined(p.send);
	assert_string_equal(s, "s4");
	assert_string_equal(p.parent, "s3");
}

/* A target that does not have the instance has nothing, whatever it lists. */
static void test_missing_target_ignores_haves(void **state)
{
	_cleanup_migration_plan_ struct migration_plan p = {0};
	const struct migration_snap have[] = {{"s1", U1, 100}};

	(void)state;
	assert_int_equal(migration_plan_make(src, 4, have, 1, false, false, false, &p, NULL), 0);
	assert_int_equal(strv_length(p.send), 4);
	assert_null(p.parent);
}

static void test_uuid_text(void **state)
{
	uint8_t raw[16], back[16];
	char text[37];

	(void)state;
	for (int i = 0; i < 16; i++)
		raw[i] = (uint8_t)(i * 17);
	migration_uuid_format(raw, text);
	assert_string_equal(text, "00112233-4455-6677-8899-aabbccddeeff");
	assert_int_equal(migration_uuid_parse(text, back), 0);
	assert_memory_equal(raw, back, 16);
	assert_int_equal(migration_uuid_parse("00112233445566778899AABBCCDDEEFF", back), 0);
	assert_memory_equal(raw, back, 16);
	assert_int_equal(migration_uuid_parse("0011", back), -EINVAL);
	assert_int_equal(migration_uuid_parse("00112233-4455-6677-8899-aabbccddeeffee", back),
			 -EINVAL);
	assert_int_equal(migration_uuid_parse("zz112233-4455-6677-8899-aabbccddeeff", back),
			 -EINVAL);
	assert_int_equal(migration_uuid_parse("", back), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fresh_copy_sends_everything),
	    cmocka_unit_test(test_instance_only_sends_no_snapshot),
	    cmocka_unit_test(test_refresh_matches_by_uuid),
	    cmocka_unit_test(test_name_clash_refused),
	    cmocka_unit_test(test_prune_and_gap),
	    cmocka_unit_test(test_exclude_older),
	    cmocka_unit_test(test_missing_target_ignores_haves),
	    cmocka_unit_test(test_uuid_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
