#pragma once

/*
 * Progress of long work (a copy of an instance's files, say), for the operation that runs it.
 * As with cancellation (cancel.h), the operation binds a reporter to its worker thread and the
 * code doing the work, which knows nothing of operations, reports to whatever is bound; an
 * unbound thread's reports go nowhere.
 */

#include <stdbool.h>
#include <stdint.h>

/* Receives a report: `stage` names the work ("copy"), `processed` the bytes done so far and
 * `total` the bytes there are to do, 0 when unknown. */
typedef void (*progress_fn)(void *ctx, const char *stage, uint64_t processed, uint64_t total);

/* Binds `fn` with `ctx` to the calling thread (fn NULL: unbinds). */
void progress_bind(progress_fn fn, void *ctx);

/* Whether the calling thread has a reporter: work whose measuring costs something (a walk of a
 * tree) skips it when nobody listens. */
bool progress_bound(void);

/* Reports to the calling thread's reporter, if any. */
void progress_report(const char *stage, uint64_t processed, uint64_t total);
