#pragma once

/*
 * Running containers through liblxc. This folder is the only one that includes liblxc headers.
 *
 * The daemon never calls a forking liblxc function (start, attach, checkpoint, restore) in its
 * own process: it spawns its own binary as `cairnd forkstart NAME LXCPATH CONFIG LOGDIR`, which
 * starts the container daemonized and exits (and likewise `forkcheckpoint` and `forkrestore`).
 * Calls that only talk to the container's monitor socket (state, init pid, shutdown, stop) run in
 * the daemon, serialized per instance by the caller.
 *
 * LXCPATH is $CAIRN_DIR/containers; CONFIG is $CAIRN_DIR/logs/<name>/lxc.conf.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct err;

enum instance_status {
	INSTANCE_STOPPED,
	INSTANCE_RUNNING,
	INSTANCE_FROZEN,
	INSTANCE_ERROR,
	INSTANCE_STATUS_MAX,
};

struct instance_state {
	enum instance_status status;
	pid_t pid;	       /* init as the host sees it; 0 when stopped */
	int64_t processes;     /* tasks in the container's cgroup; -1 when stopped */
	uint64_t memory_usage; /* bytes */
	uint64_t memory_peak;  /* bytes */
	uint64_t cpu_usage;    /* nanoseconds */
};

/*
 * Starts a container by spawning `self_exe forkstart NAME LXCPATH CONFIG LOGDIR` and waiting for
 * it. On failure returns -EIO (or the helper's errno) with the ERROR lines of LOGDIR/lxc.log
 * in the message. Safe to call from any daemon thread: the child execs at once.
 */
int instance_lxc_start(const char *self_exe, const char *name, const char *lxcpath,
		       const char *config_path, const char *log_dir, struct err **err);

/*
 * The `forkstart` helper's body: called from cairnd's main() before anything else when argv[1]
 * is "forkstart". Single-threaded; marks inherited descriptors close-on-exec, logs to
 * LOGDIR/forkstart.log, loads CONFIG and starts the container daemonized. Returns the exit
 * status for main().
 */
int instance_lxc_forkstart_main(int argc, char **argv);

/*
 * Stops a container: a clean shutdown (lxc.signal.halt of `config_path` to init) waiting up to
 * `timeout_sec` seconds, then a kill. With `force`, the kill at once. A stopped container is
 * fine (0). Returns once the container is STOPPED.
 */
int instance_lxc_stop(const char *name, const char *lxcpath, const char *config_path,
		      int timeout_sec, bool force, struct err **err);

/* Reads the state. A container liblxc does not know is STOPPED, not an error. With
 * `with_usage` false only status and pid are filled (cheap, for lists). */
int instance_lxc_state(const char *name, const char *lxcpath, bool with_usage,
		       struct instance_state *ret, struct err **err);

/*
 * A pidfd of the running container's init, from its monitor (no fork): *ret_pidfd is the caller's
 * to close, or -EBADF when the container is stopped. A pidfd names that very process, so a pid
 * reused after init exits can never be mistaken for it. -EBUSY when the container stopped
 * between the two questions.
 */
int instance_lxc_init_pidfd(const char *name, const char *lxcpath, int *ret_pidfd,
			    struct err **err);

/*
 * Dumps the running container with CRIU into `dir` (liblxc creates it; it must hold no dump yet)
 * by spawning `self_exe forkcheckpoint NAME LXCPATH CONFIG DIR LOGDIR STOP` with environment
 * `envp` (see instance_criu_helper_env(): liblxc runs the `criu` it finds on PATH) and waiting
 * for it. The container keeps running unless `stop`. CRIU's log is kept as LOGDIR/criu-dump.log.
 * On failure -EIO with CRIU's last errors and the log's path in the message.
 */
int instance_lxc_checkpoint(const char *self_exe, const char *name, const char *lxcpath,
			    const char *config_path, const char *dir, const char *log_dir,
			    bool stop, char *const *envp, struct err **err);

/*
 * Restores the stopped container from the CRIU images in `dir` (which must be writable: CRIU
 * writes its log there) by spawning `self_exe forkrestore NAME LXCPATH CONFIG DIR LOGDIR`; the
 * helper's child stays behind as the container's monitor. CRIU's log is kept as
 * LOGDIR/criu-restore.log. On failure -EIO as for instance_lxc_checkpoint().
 */
int instance_lxc_restore(const char *self_exe, const char *name, const char *lxcpath,
			 const char *config_path, const char *dir, const char *log_dir,
			 char *const *envp, struct err **err);

/* The bodies of the `forkcheckpoint` and `forkrestore` helpers, called from cairnd's main() as
 * forkstart's is; they return the exit status. */
int instance_lxc_forkcheckpoint_main(int argc, char **argv);
int instance_lxc_forkrestore_main(int argc, char **argv);

/* "Running", "Stopped", "Frozen", "Error". */
const char *instance_status_name(enum instance_status status);
