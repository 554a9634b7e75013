#include "cmd/cairnd/ephemeral.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cmd/cairnd/daemon.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "config/db.h"
#include "instance/instance.h"

/* How often the thread looks, in milliseconds. */
#define REAP_INTERVAL_MS 1000

static pthread_t thread;
static bool thread_started;
static int stop_fd = -EBADF;

/* Deletes ephemeral instance `name` if it is due, holding it as an operation would. A busy one
 * (an operation such as a restart holds it) is left for a later pass. */
static void reap(struct daemon *d, const char *name)
{
	_cleanup_err_ struct err *e = NULL;
	int r;

	if (daemon_claim(d, name, NULL) < 0)
		return;
	r = instance_ephemeral_reap(&d->env, name, &e);
	daemon_release(d, name);
	if (r > 0)
		log_info("Deleted ephemeral instance \"%s\": it stopped", name);
	else if (r < 0)
		log_error("Failed to delete ephemeral instance \"%s\" that stopped: %s", name,
			  err_msg(e, r));
}

/* The ephemeral instances that are due now; NULL on error (logged at debug level: the next pass
 * tries again). */
static char **due_now(struct daemon *d)
{
	_cleanup_strv_ char **names = NULL, **due = NULL;
	_cleanup_err_ struct err *e = NULL;
	int r;

	r = db_instance_names_flagged(d->env.db, INSTANCE_EPHEMERAL_KEY, &names, &e);
	if (r < 0) {
		log_debug("Failed to list ephemeral instances, ignoring: %s", err_msg(e, r));
		return NULL;
	}
	for (size_t i = 0; names[i]; i++)
		if (instance_ephemeral_due(&d->env, names[i]) && strv_push(&due, names[i]) < 0)
			return NULL;
	return steal_pointer(&due);
}

void ephemeral_reap_at_start(struct daemon *d)
{
	_cleanup_strv_ char **due = due_now(d);

	for (size_t i = 0; due && due[i]; i++)
		reap(d, due[i]);
}

static bool in(char *const *list, const char *name)
{
	for (size_t i = 0; list && list[i]; i++)
		if (strcmp(list[i], name) == 0)
			return true;
	return false;
}

static void *run(void *arg)
{
	struct daemon *d = arg;
	char **seen = NULL; /* due on the previous pass */

	for (;;) {
		struct pollfd p = {.fd = stop_fd, .events = POLLIN};
		char **due;

		if (poll(&p, 1, REAP_INTERVAL_MS) > 0)
			break;
		due = due_now(d);
		for (size_t i = 0; due && due[i]; i++)
			if (in(seen, due[i]))
				reap(d, due[i]);
		strv_free(seen);
		seen = due;
	}
	strv_free(seen);
	return NULL;
}

int ephemeral_start(struct daemon *d, struct err **err)
{
	int r;

	stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (stop_fd < 0)
		return err_set_errno(err, -errno, "Failed to create the reaper's event descriptor");
	r = -pthread_create(&thread, NULL, run, d);
	if (r < 0) {
		close(stop_fd);
		stop_fd = -EBADF;
		return err_set(err, r, "Failed to start the reaper of ephemeral instances");
	}
	thread_started = true;
	return 0;
}

void ephemeral_stop(void)
{
	uint64_t one = 1;

	if (!thread_started)
		return;
	(void)!write(stop_fd, &one, sizeof(one));
	pthread_join(thread, NULL);
	thread_started = false;
	close(stop_fd);
	stop_fd = -EBADF;
}
