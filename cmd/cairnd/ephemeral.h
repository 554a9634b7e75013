#pragma once

/*
 * The reaper of ephemeral instances: deletes an ephemeral instance once it has stopped on its
 * own (a poweroff inside, a crash of its init), as Incus does. `cairn stop` deletes it itself
 * (instance_stop()); this covers the stops that no request sees. A thread looks at the ephemeral
 * instances (one query on their flag) every second and deletes one that it found stopped, while
 * meant to run, on two passes in a row: a reboot inside passes through STOPPED for a moment and
 * must not cost the instance. Each deletion claims the instance as any operation does, so a
 * restart in progress is never cut short.
 */

struct daemon;
struct err;

/* One pass that deletes at once every ephemeral instance found stopped while meant to run: those
 * that stopped while the daemon was down. Runs before autostart, which would start them again.
 * Logs what it does. */
void ephemeral_reap_at_start(struct daemon *d);

/* Starts the thread. */
int ephemeral_start(struct daemon *d, struct err **err);

/* Stops the thread and waits for a deletion in progress to end. */
void ephemeral_stop(void);
