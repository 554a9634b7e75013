#include "cmd/cairnd/events.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "common/cleanup.h"
#include "common/util.h"

#define RING 1024
#define KEEPALIVE_SEC 30

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static char *ring[RING];      /* serialized events, ring[seq % RING] */
static char *ring_type[RING]; /* their types */
static uint64_t next_seq;     /* sequence number of the next event */
static bool stopping;

struct listener {
	uint64_t seq;  /* next event this listener sends */
	char *types;   /* comma-separated filter, NULL for all */
	char *pending; /* the rest of a line that did not fit the last buffer */
	size_t pending_off;
};

void events_emit(const char *type, json_object *metadata)
{
	json_object *ev = json_object_new_object();
	_cleanup_free_ char *stamp = time_format_rfc3339(time_now());
	char *line;
	size_t slot;

	if (!ev) {
		json_object_put(metadata);
		return;
	}
	json_object_object_add(ev, "type", json_object_new_string(type));
	json_object_object_add(ev, "timestamp", json_object_new_string(stamp ? stamp : ""));
	json_object_object_add(ev, "metadata", metadata);
	json_object_object_add(ev, "location", json_object_new_string("none"));
	json_object_object_add(ev, "project", json_object_new_string("default"));
	line = str_printf("%s\n", json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN));
	json_object_put(ev);
	if (!line)
		return;

	pthread_mutex_lock(&lock);
	slot = next_seq % RING;
	free(ring[slot]);
	free(ring_type[slot]);
	ring[slot] = line;
	ring_type[slot] = strdup(type);
	next_seq++;
	pthread_cond_broadcast(&changed);
	pthread_mutex_unlock(&lock);
}

void events_lifecycle(const char *action, const char *source)
{
	json_object *md = json_object_new_object();

	json_object_object_add(md, "action", json_object_new_string(action));
	json_object_object_add(md, "source", json_object_new_string(source));
	json_object_object_add(md, "context", json_object_new_object());
	events_emit("lifecycle", md);
}

static bool wanted(const char *types, const char *type)
{
	size_t n = strlen(type);

	if (!types || !*types)
		return true;
	for (const char *p = types; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len == n && strncmp(p, type, n) == 0)
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

/* Copies as much of the listener's pending line as fits. */
static ssize_t drain(struct listener *l, char *buf, size_t max)
{
	size_t left = strlen(l->pending + l->pending_off);
	size_t n = left < max ? left : max;

	memcpy(buf, l->pending + l->pending_off, n);
	l->pending_off += n;
	if (l->pending_off == strlen(l->pending)) {
		free(l->pending);
		l->pending = NULL;
		l->pending_off = 0;
	}
	return (ssize_t)n;
}

/* libmicrohttpd pulls the body from here; with a thread per connection, blocking is fine. */
static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct listener *l = cls;
	struct timespec deadline;

	(void)pos;
	if (l->pending)
		return drain(l, buf, max);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += KEEPALIVE_SEC;
	pthread_mutex_lock(&lock);
	for (;;) {
		if (stopping) {
			pthread_mutex_unlock(&lock);
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		/* Fell behind the ring: skip to the oldest event still there. */
		if (next_seq > RING && l->seq < next_seq - RING)
			l->seq = next_seq - RING;
		while (l->seq < next_seq && !wanted(l->types, ring_type[l->seq % RING]))
			l->seq++;
		if (l->seq < next_seq) {
			l->pending = strdup(ring[l->seq % RING]);
			l->seq++;
			break;
		}
		if (pthread_cond_timedwait(&changed, &lock, &deadline) == ETIMEDOUT) {
			l->pending = strdup("\n");
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	if (!l->pending)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	return drain(l, buf, max);
}

static void listener_free(void *cls)
{
	struct listener *l = cls;

	free(l->types);
	free(l->pending);
	free(l);
}

struct MHD_Response *events_stream(const char *types)
{
	struct listener *l = calloc(1, sizeof(*l));
	struct MHD_Response *resp;

	if (!l)
		return NULL;
	l->types = types && *types ? strdup(types) : NULL;
	pthread_mutex_lock(&lock);
	l->seq = next_seq;
	pthread_mutex_unlock(&lock);
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, reader, l, listener_free);
	if (!resp) {
		listener_free(l);
		return NULL;
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	return resp;
}

struct events_cursor {
	uint64_t seq; /* next event this cursor gives */
	char *types;  /* comma-separated filter, NULL for all */
};

struct events_cursor *events_cursor_new(const char *types)
{
	struct events_cursor *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->types = types && *types ? strdup(types) : NULL;
	pthread_mutex_lock(&lock);
	c->seq = next_seq;
	pthread_mutex_unlock(&lock);
	return c;
}

void events_cursor_free(struct events_cursor *c)
{
	if (!c)
		return;
	free(c->types);
	free(c);
}

int events_next(struct events_cursor *c, int timeout_ms, char **ret_line)
{
	struct timespec deadline;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	*ret_line = NULL;
	pthread_mutex_lock(&lock);
	for (;;) {
		if (stopping) {
			r = -ESHUTDOWN;
			break;
		}
		if (next_seq > RING && c->seq < next_seq - RING)
			c->seq = next_seq - RING;
		while (c->seq < next_seq && !wanted(c->types, ring_type[c->seq % RING]))
			c->seq++;
		if (c->seq < next_seq) {
			*ret_line = strdup(ring[c->seq % RING]);
			c->seq++;
			r = *ret_line ? 1 : -ENOMEM;
			break;
		}
		if (pthread_cond_timedwait(&changed, &lock, &deadline) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&lock);
	return r;
}

void events_shutdown(void)
{
	pthread_mutex_lock(&lock);
	stopping = true;
	pthread_cond_broadcast(&changed);
	pthread_mutex_unlock(&lock);
}
