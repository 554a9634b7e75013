#pragma once

/*
 * Running commands inside a container and reaching its console.
 *
 * The daemon never attaches itself: attaching forks, and the daemon is multithreaded. It spawns
 * the helper program (instance/fork.h) as
 *   cairn-fork forkexec NAME LXCPATH CONFIG LOGDIR UID GID CWD INTERACTIVE -- CMD...
 * with the caller's three descriptors as its standard ones and the command's environment as its
 * own, and waits for it. The helper attaches, waits for the command and exits with its status.
 * In interactive mode it allocates a pseudo-terminal, gives the slave to the command as its
 * controlling terminal and copies bytes between the master and its own descriptors 0 and 1 (the
 * caller's terminal).
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct err;

/* What one command needs. Every string is borrowed. */
struct instance_exec_spec {
	const char *helper;	  /* the cairn-fork program */
	const char *name;	  /* the instance */
	const char *lxcpath;	  /* $CAIRN_DIR/containers */
	const char *config_path;  /* the rendered lxc.conf */
	const char *log_dir;	  /* forkexec.log goes here */
	char *const *command;	  /* argv inside, NULL-terminated, at least one word */
	char *const *environment; /* the command's whole environment, "K=V", NULL-terminated */
	const char *cwd;	  /* working directory inside; NULL or "" for the default (/root) */
	uint32_t uid;		  /* as the container sees them */
	uint32_t gid;
	bool interactive; /* a pseudo-terminal inside, proxied to fds[0] and fds[1] */
	int fds[3];	  /* stdin, stdout, stderr of the command (or the terminal three times) */
};

/*
 * Spawns the forkexec helper for `spec` in a process group of its own, with an empty signal mask
 * and default signal dispositions, and returns its pid. The caller reaps it (waitpid on that pid)
 * and turns its wait status into an exit code with instance_exec_exit_code(). Safe from any
 * daemon thread: the child execs at once. Errors: the helper is missing or not
 * executable (instance_helper_check()), or the errno of posix_spawn.
 */
int instance_exec_spawn(const struct instance_exec_spec *spec, pid_t *ret_pid, struct err **err);

/* The exit code of a command from the wait status of its helper: the code it exited with, or
 * 128 + the signal that killed it. */
int instance_exec_exit_code(int wait_status);

/*
 * What the caller reads from the helper (cairn-fork forkexec, instance/fork.c): it exits with the
 * command's status: 127 when the command does not exist, 126 when it cannot be run, 128 + N when
 * signal N killed it, 255 when attaching failed (the reason is printed on descriptor 2 and logged
 * to LOGDIR/forkexec.log). SIGTERM, SIGINT, SIGHUP and SIGQUIT it receives are forwarded to the
 * command; SIGWINCH makes it copy the window size of its descriptor 0 to the pseudo-terminal.
 */

/*
 * Opens the console of running container `name`: *ret_ptx is a pseudo-terminal master whose
 * other end liblxc joins to the container's /dev/console, and *ret_session the descriptor that
 * holds the console for the caller: the console stays taken until it is closed (then liblxc
 * frees it for the next client). Talks to the container's monitor only, no fork. -ESRCH when
 * the container is not running, -EBUSY when liblxc refuses the console (another client holds it).
 */
int instance_console_open(const char *name, const char *lxcpath, int *ret_ptx, int *ret_session,
			  struct err **err);
