/*
 * The snapshot server's policy (snapshots/copy.h): the target's two parts, the back-off (first
 * wait, doubling, cap, no overflow on long outages), when a refresh is due, and what an attempt
 * records: a failure keeps the debt and pushes the next try out, a success clears it all.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "config/db.h"
#include "snapshots/copy.h"

static void test_target_parse(void **state)
{
	char *remote = NULL, *name = NULL;
	struct err *e = NULL;

	(void)state;
	assert_int_equal(snapshot_copy_target_parse("r2", "c1", &remote, &name, NULL), 0);
	assert_string_equal(remote, "r2");
	assert_string_equal(name, "c1");
	free(remote);
	free(name);
	assert_int_equal(snapshot_copy_target_parse("r2:web-copy", "c1", &remote, &name, NULL), 0);
	assert_string_equal(remote, "r2");
	assert_string_equal(name, "web-copy");
	free(remote);
	free(name);
	remote = name = NULL;
	assert_int_equal(snapshot_copy_target_parse(":x", "c1", &remote, &name, &e), -EINVAL);
	assert_non_null(strstr(err_msg(e, -EINVAL), "REMOTE or REMOTE:NAME"));
	err_free(e);
	assert_int_equal(snapshot_copy_target_parse("r2:", "c1", &remote, &name, NULL), -EINVAL);
	assert_int_equal(snapshot_copy_target_parse("", "c1", &remote, &name, NULL), -EINVAL);
	assert_null(remote);
	assert_null(name);
}

static void test_backoff(void **state)
{
	(void)state;
	assert_int_equal(snapshot_copy_backoff(0, 60, 3600), 0);
	assert_int_equal(snapshot_copy_backoff(-3, 60, 3600), 0);
	assert_int_equal(snapshot_copy_backoff(1, 60, 3600), 60);
	assert_int_equal(snapshot_copy_backoff(2, 60, 3600), 120);
	assert_int_equal(snapshot_copy_backoff(3, 60, 3600), 240);
	assert_int_equal(snapshot_copy_backoff(6, 60, 3600), 1920);
	assert_int_equal(snapshot_copy_backoff(7, 60, 3600), 3600);
	/* A host whose target is away for a year: still the cap, never an overflow. */
	assert_int_equal(snapshot_copy_backoff(INT64_MAX, 60, 3600), 3600);
	assert_int_equal(snapshot_copy_backoff(100000, 1, 3600), 3600);
	/* A first wait past the cap is the cap. */
	assert_int_equal(snapshot_copy_backoff(1, 7200, 3600), 3600);
	/* Never shrinks as failures grow. */
	for (int64_t f = 1, last = 0; f < 200; f++) {
		int64_t w = snapshot_copy_backoff(f, 3, 3600);

		assert_true(w >= last);
		assert_true(w <= 3600);
		last = w;
	}
}

static void test_due(void **state)
{
	struct db_copy_state s = {0};

	(void)state;
	assert_false(snapshot_copy_due(&s, 1000));
	s.owed = true;
	assert_true(snapshot_copy_due(&s, 1000));
	s.next_retry = 1060;
	assert_false(snapshot_copy_due(&s, 1000));
	assert_false(snapshot_copy_due(&s, 1059));
	assert_true(snapshot_copy_due(&s, 1060));
	assert_true(snapshot_copy_due(&s, 5000));
}

static void test_record(void **state)
{
	struct db_copy_state s = {.owed = true, .last_success = 10, .last_bytes = 77};

	(void)state;
	/* Three failures: the debt stays, the count grows, the next try moves out. */
	assert_int_equal(snapshot_copy_record(&s, "r2", 1000, 1005, 0, "Cannot reach", 60, 3600),
			 0);
	assert_true(s.owed);
	assert_int_equal(s.failures, 1);
	assert_int_equal(s.next_retry, 1065);
	assert_int_equal(s.last_attempt, 1000);
	assert_string_equal(s.last_error, "Cannot reach");
	assert_string_equal(s.target, "r2");
	/* The last success is what it was: info still shows it. */
	assert_int_equal(s.last_success, 10);
	assert_int_equal(s.last_bytes, 77);
	assert_false(snapshot_copy_due(&s, 1064));
	assert_true(snapshot_copy_due(&s, 1065));
	assert_int_equal(snapshot_copy_record(&s, "r2", 1065, 1066, 0, "again", 60, 3600), 0);
	assert_int_equal(s.next_retry, 1066 + 120);
	assert_int_equal(snapshot_copy_record(&s, "r2", 1200, 1200, 0, "again", 60, 3600), 0);
	assert_int_equal(s.failures, 3);
	assert_int_equal(s.next_retry, 1200 + 240);
	/* A success resets it all. */
	assert_int_equal(snapshot_copy_record(&s, "r2:c9", 2000, 2030, 12345, NULL, 60, 3600), 0);
	assert_false(s.owed);
	assert_int_equal(s.failures, 0);
	assert_int_equal(s.next_retry, 0);
	assert_null(s.last_error);
	assert_int_equal(s.last_success, 2030);
	assert_int_equal(s.last_bytes, 12345);
	assert_string_equal(s.target, "r2:c9");
	assert_false(snapshot_copy_due(&s, 99999));
	/* The next failure starts from the first wait again. */
	assert_int_equal(snapshot_copy_record(&s, "r2:c9", 3000, 3000, 0, "down", 60, 3600), 0);
	assert_int_equal(s.next_retry, 3060);
	db_copy_state_done(&s);
	db_copy_state_done(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_target_parse),
	    cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_due),
	    cmocka_unit_test(test_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
