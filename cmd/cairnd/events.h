#pragma once

/*
 * The event stream of /1.0/events: operation and lifecycle events as newline-delimited JSON in
 * the Incus event shape, {"type": ..., "timestamp": ..., "metadata": ..., "location": "none",
 * "project": "default"}. A bounded ring of recent events feeds every listener; a listener that
 * falls more than the ring behind skips ahead rather than holding the daemon up.
 */

#include <json-c/json.h>

struct MHD_Response;

/* Publishes an event of `type` ("operation", "lifecycle", "logging"); takes ownership of
 * `metadata`. */
void events_emit(const char *type, json_object *metadata);

/* Publishes a lifecycle event: {"action": action, "source": source, "context": {}}. */
void events_lifecycle(const char *action, const char *source);

/* A streaming response that sends the events published from now on whose type is in the
 * comma-separated `types` (NULL or empty: all), with a newline every 30 s to keep the
 * connection alive. NULL on OOM. */
struct MHD_Response *events_stream(const char *types);

/* A reader of the events published from its creation on whose type is in the comma-separated
 * `types` (NULL or empty: all), for a session that sends them itself (the WebSocket of
 * /1.0/events). NULL on OOM; free with events_cursor_free() (NULL is fine). */
struct events_cursor;
struct events_cursor *events_cursor_new(const char *types);
void events_cursor_free(struct events_cursor *c);

/* Waits up to `timeout_ms` for the cursor's next event: 1 with its JSON line (ending in a
 * newline, the caller's to free) in *ret_line, 0 on timeout, -ESHUTDOWN once the daemon stops,
 * -ENOMEM. */
int events_next(struct events_cursor *c, int timeout_ms, char **ret_line);

/* Ends every stream (at shutdown), so that their connections can close. */
void events_shutdown(void);
