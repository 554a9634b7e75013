#pragma once

/*
 * Cancellation of long work. An operation that may be cancelled binds its flag to the worker
 * thread that runs it; the code it calls (which knows nothing of operations) asks
 * cancel_requested() at points where stopping leaves only what its own failure path already
 * removes. Unbound threads are never cancelled.
 */

#include <stdatomic.h>
#include <stdbool.h>

/* Binds `flag` (may be NULL to unbind) to the calling thread. The flag must outlive the binding. */
void cancel_bind(const atomic_bool *flag);

/* True when the calling thread's bound flag is set. */
bool cancel_requested(void);

/*
 * Stall points for the tests, beside crash points: when `name` is in CAIRN_STALLPOINT (a
 * comma-separated list), writes the name to $CAIRN_DIR/stallpoint and waits while that file
 * exists (up to 60 s) or until the calling thread is cancelled, so that a test can look at and
 * cancel a long operation at a known step. Returns -ECANCELED when cancelled (during the stall or
 * before it), else 0. Unset (always, outside tests), it costs one getenv().
 */
int stallpoint(const char *name);
