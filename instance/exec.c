#include "instance/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lxc/lxccontainer.h>

#include "common/cleanup.h"
#include "common/fdpass.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "instance/fork.h"
#include "instance/lxc-internal.h"
#include "instance/lxc.h"

int instance_exec_exit_code(int wait_status)
{
	if (WIFEXITED(wait_status))
		return WEXITSTATUS(wait_status);
	if (WIFSIGNALED(wait_status))
		return 128 + WTERMSIG(wait_status);
	return INSTANCE_EXEC_ATTACH_FAILED;
}

static void spawn_file_actions_donep(posix_spawn_file_actions_t **fa)
{
	if (*fa)
		posix_spawn_file_actions_destroy(*fa);
	*fa = NULL;
}

int instance_exec_spawn(const struct instance_exec_spec *spec, pid_t *ret_pid, struct err **err)
{
	_cleanup_strv_ char **argv = NULL;
	posix_spawn_file_actions_t fa_storage;
	_cleanup_(spawn_file_actions_donep) posix_spawn_file_actions_t *fa = NULL;
	posix_spawnattr_t attr;
	char uid[16], gid[16];
	sigset_t none, all;
	pid_t pid = 0;
	int r;

	if (!spec->command || !spec->command[0])
		return err_set(err, -EINVAL, "No command to run in instance \"%s\"", spec->name);
	r = instance_helper_check(spec->helper, err);
	if (r < 0)
		return err_wrap(err, r, "Failed to run a command in instance \"%s\"", spec->name);
	snprintf(uid, sizeof(uid), "%u", spec->uid);
	snprintf(gid, sizeof(gid), "%u", spec->gid);
	if (strv_push(&argv, spec->helper) < 0 || strv_push(&argv, "forkexec") < 0 ||
	    strv_push(&argv, spec->name) < 0 || strv_push(&argv, spec->lxcpath) < 0 ||
	    strv_push(&argv, spec->config_path) < 0 || strv_push(&argv, spec->log_dir) < 0 ||
	    strv_push(&argv, uid) < 0 || strv_push(&argv, gid) < 0 ||
	    strv_push(&argv, spec->cwd ? spec->cwd : "") < 0 ||
	    strv_push(&argv, spec->interactive ? "1" : "0") < 0 || strv_push(&argv, "--") < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	for (char *const *a = spec->command; *a; a++)
		if (strv_push(&argv, *a) < 0)
			return err_set(err, -ENOMEM, "Out of memory");

	r = posix_spawn_file_actions_init(&fa_storage);
	if (r != 0)
		return err_set_errno(err, -r, "Failed to run a command in instance \"%s\"",
				     spec->name);
	fa = &fa_storage;
	/* dup2() clears close-on-exec on the copies: the helper gets exactly these three. */
	for (int i = 0; i < 3; i++) {
		r = posix_spawn_file_actions_adddup2(fa, spec->fds[i], i);
		if (r != 0)
			return err_set_errno(err, -r, "Failed to run a command in instance \"%s\"",
					     spec->name);
	}

	/* The daemon blocks signals for its main loop: the helper and the command must start with
	 * an empty mask and default dispositions. A process group of its own lets the daemon kill
	 * the helper and what it left behind at once. */
	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	r = posix_spawnattr_init(&attr);
	if (r != 0)
		return err_set_errno(err, -r, "Failed to run a command in instance \"%s\"",
				     spec->name);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					    POSIX_SPAWN_SETPGROUP);
	r = posix_spawn(
	    &pid, spec->helper, fa, &attr, argv,
	    (char *const *)(spec->environment ? spec->environment : (char *const[]){NULL}));
	posix_spawnattr_destroy(&attr);
	if (r != 0)
		return err_set_errno(
		    err, -r, "Failed to run a command in instance \"%s\": cannot run \"%s\"",
		    spec->name, spec->helper);
	*ret_pid = pid;
	return 0;
}

int instance_console_open(const char *name, const char *lxcpath, int *ret_ptx, int *ret_session,
			  struct err **err)
{
	_cleanup_lxc_container_ struct lxc_container *c = NULL;
	int ttynum = 0, ptx = -EBADF, session;

	c = lxc_container_new(name, lxcpath);
	if (!c)
		return err_set(err, -ENOMEM, "Failed to set up instance \"%s\"", name);
	if (!c->is_running(c))
		return err_set(err, -ESRCH, "Instance \"%s\" is not running", name);
	/* ttynum 0 is /dev/console; liblxc hands out a proxy pty joined to it by the monitor. */
	session = c->console_getfd(c, &ttynum, &ptx);
	if (session < 0 || ptx < 0)
		return err_set(err, -EBUSY,
			       "Failed to attach to the console of instance \"%s\" (is another "
			       "client on it?)",
			       name);
	/* liblxc's descriptors come without close-on-exec: the daemon spawns helpers. */
	fcntl(session, F_SETFD, FD_CLOEXEC);
	fcntl(ptx, F_SETFD, FD_CLOEXEC);
	*ret_ptx = ptx;
	*ret_session = session;
	return 0;
}
