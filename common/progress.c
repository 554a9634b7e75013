#include "common/progress.h"

#include <stddef.h>

static _Thread_local progress_fn bound_fn;
static _Thread_local void *bound_ctx;

void progress_bind(progress_fn fn, void *ctx)
{
	bound_fn = fn;
	bound_ctx = fn ? ctx : NULL;
}

bool progress_bound(void)
{
	return bound_fn != NULL;
}

void progress_report(const char *stage, uint64_t processed, uint64_t total)
{
	if (bound_fn)
		bound_fn(bound_ctx, stage, processed, total);
}
