/* time_now(): the wall clock as CLOCK_REALTIME reads it. time() reads the kernel's coarse clock,
 * which trails by up to a tick: a timer that fires on a whole minute (the snapshot scheduler's)
 * then reads the second before it and takes the minute's slot a minute late. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "common/util.h"

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Across more than one second boundary, time_now() never reads a second that has already ended
 * by CLOCK_REALTIME, read just before it. */
static void test_never_behind_realtime(void **state)
{
	double end = mono() + 1.2;
	unsigned long behind = 0, rounds = 0;

	(void)state;
	while (mono() < end) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		if (time_now() < (int64_t)ts.tv_sec)
			behind++;
		rounds++;
	}
	assert_true(rounds > 1000);
	assert_int_equal(behind, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_never_behind_realtime),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
