#pragma once

/*
 * Asynchronous operations: long work (creating, starting, stopping, deleting an instance,
 * importing an image) runs in a worker thread while the client polls or waits on
 * /1.0/operations/<id>. Worker threads never call a forking liblxc function: starting goes
 * through the forkstart helper. A finished operation is kept while anyone waits on it and for
 * a minute after it finished or its last waiter left, so that every client reads its outcome
 * however many operations finish meanwhile.
 */

#include <stdbool.h>

#include <json-c/json.h>

struct daemon;
struct err;
struct operation;

/* The work: returns 0 or a negative errno with err filled; may set *ret_metadata (ownership
 * passes to the operation). */
typedef int (*operation_fn)(struct daemon *d, void *data, json_object **ret_metadata,
			    struct err **err);

/*
 * Starts `fn(d, data)` in a new thread. `resources` (ownership moves in) is the operation's
 * resources object. `free_data` (may be NULL) frees `data` after the work. `claimed` names an
 * instance claimed with daemon_claim() that is released when the work ends (may be NULL).
 * Returns the async envelope in *ret_envelope.
 */
int operation_start(struct daemon *d, const char *description, json_object *resources,
		    operation_fn fn, void *data, void (*free_data)(void *), const char *claimed,
		    json_object **ret_envelope, struct err **err);

/* As operation_start(), for work that may be cancelled: its may_cancel is true while it runs
 * and its thread is bound to the flag that operation_cancel() sets (common/cancel.h). Work that
 * stops on cancellation returns -ECANCELED and ends as "Cancelled". */
int operation_start_cancellable(struct daemon *d, const char *description, json_object *resources,
				operation_fn fn, void *data, void (*free_data)(void *),
				const char *claimed, json_object **ret_envelope, struct err **err);

/* As operation_start(), with `metadata` (ownership moves in) in the operation object from the
 * start: the websocket secrets of an exec, which the client reads from the first answer. */
int operation_start_with_metadata(struct daemon *d, const char *description, json_object *resources,
				  json_object *metadata, operation_fn fn, void *data,
				  void (*free_data)(void *), json_object **ret_envelope,
				  struct err **err);

/*
 * Records an operation whose work is already done (Success) and returns its async envelope:
 * for a request that Incus answers with an operation but that cairnd finishes at once (PUT of
 * an instance), so that a client waiting on the operation finds it finished. -ENOMEM.
 */
int operation_completed(const char *description, json_object *resources, json_object **ret_envelope,
			struct err **err);

/* Cancels the running operation `id` and waits (up to 30 s) for its work to stop and undo
 * itself. -ENOENT when unknown, -EINVAL with `This operation can't be cancelled` when it may
 * not be cancelled or `Only running operations can be cancelled` when it has finished. */
int operation_cancel(const char *id, struct err **err);

/* The operation object of `id` (new reference), -ENOENT when unknown. With wait_sec >= 0 waits
 * up to that long for it to finish first; wait_sec < 0 waits as long as it takes. */
int operation_get(const char *id, int wait_sec, bool wait, json_object **ret, struct err **err);

/* {"running": [...], "success": [...], "failure": [...]} of operation URLs, or of operation
 * objects with recursion >= 1. Cancelled operations are listed under "failure". */
json_object *operation_list(int recursion);

/* Waits for every running operation to end (at shutdown). */
void operation_drain(void);
