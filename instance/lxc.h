#pragma once

/*
 * Running containers through liblxc. This folder is the only one that includes liblxc headers.
 *
 * The daemon never calls a forking liblxc function (start, attach, checkpoint, restore) in its
 * own process: it spawns the helper program (instance/fork.h) as `cairn-fork forkstart NAME
 * LXCPATH CONFIG LOGDIR`, which starts the container daemonized and exits (and likewise
 * `forkcheckpoint` and `forkrestore`).
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
 * Checks that `helper` (the cairn-fork program) is a regular file the daemon may run. The message
 * ("the helper program \"PATH\" is missing", "... is not executable") is for the caller to wrap.
 */
int instance_helper_check(const char *helper, struct err **err);

/*
 * Starts a container by spawning `helper forkstart NAME LXCPATH CONFIG LOGDIR` and waiting for
 * it. On failure returns -EIO (or the helper's errno) with the ERROR lines of LOGDIR/lxc.log
 * in the message. Safe to call from any daemon thread: the child execs at once.
 */
int instance_lxc_start(const char *helper, const char *name, const char *lxcpath,
		       const char *config_path, const char *log_dir, struct err **err);

/*
 * instance_lxc_start() in two halves, so that the caller can do its own work while the helper
 * runs: _begin() spawns the helper, _finish() waits for it and reports as instance_lxc_start()
 * does. Every successful _begin() must be followed by _finish() (which reaps the helper).
 */
struct instance_lxc_starting {
	pid_t pid;
	off_t lxc_log_start; /* where this start's lines begin in lxc.log and forkstart.log */
	off_t helper_log_start;
};

int instance_lxc_start_begin(const char *helper, const char *name, const char *lxcpath,
			     const char *config_path, const char *log_dir,
			     struct instance_lxc_starting *ret, struct err **err);
int instance_lxc_start_finish(const struct instance_lxc_starting *s, const char *name,
			      const char *log_dir, struct err **err);

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
 * by spawning `helper forkcheckpoint NAME LXCPATH CONFIG DIR LOGDIR STOP` with environment
 * `envp` (see instance_criu_helper_env(): liblxc runs the `criu` it finds on PATH) and waiting
 * for it. The container keeps running unless `stop`. CRIU's log is kept as LOGDIR/criu-dump.log.
 * On failure -EIO with CRIU's last errors and the log's path in the message.
 */
int instance_lxc_checkpoint(const char *helper, const char *name, const char *lxcpath,
			    const char *config_path, const char *dir, const char *log_dir,
			    bool stop, char *const *envp, struct err **err);

/*
 * Restores the stopped container from the CRIU images in `dir` (which must be writable: CRIU
 * writes its log there) by spawning `helper forkrestore NAME LXCPATH CONFIG DIR LOGDIR`; the
 * helper's child stays behind as the container's monitor. CRIU's log is kept as
 * LOGDIR/criu-restore.log. On failure -EIO as for instance_lxc_checkpoint().
 */
int instance_lxc_restore(const char *helper, const char *name, const char *lxcpath,
			 const char *config_path, const char *dir, const char *log_dir,
			 char *const *envp, struct err **err);

/* "Running", "Stopped", "Frozen", "Error". */
const char *instance_status_name(enum instance_status status);
