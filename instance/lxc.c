#include "instance/lxc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lxc/lxccontainer.h>

#include "common/cleanup.h"
#include "common/fdpass.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "instance/criu.h"
#include "instance/fork.h"
#include "instance/lxc-internal.h"

extern char **environ;

/* How much of lxc.log's ERROR lines goes into an error message. */
#define LOG_EXCERPT_MAX 2048

const char *instance_status_name(enum instance_status status)
{
	switch (status) {
	case INSTANCE_STOPPED:
		return "Stopped";
	case INSTANCE_RUNNING:
		return "Running";
	case INSTANCE_FROZEN:
		return "Frozen";
	case INSTANCE_ERROR:
		return "Error";
	case INSTANCE_STATUS_MAX:
		break;
	}
	return "Error";
}

static off_t file_size_or_zero(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : 0;
}

/*
 * The messages of the ERROR lines that liblxc appended to `path` past `offset`, joined by "; ",
 * or NULL when there are none. A line reads
 * "lxc c1 20260101120000.123 ERROR    start - ../src/lxc/start.c:2107 - Failed to ...":
 * the message is what follows the second " - ".
 */
static char *log_error_lines(const char *path, off_t offset)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *line = NULL;
	_cleanup_free_ char *out = NULL;
	size_t cap = 0, len = 0;

	f = fopen(path, "re");
	if (!f)
		return NULL;
	if (offset > 0 && fseeko(f, offset, SEEK_SET) < 0)
		return NULL;
	while (getline(&line, &cap, f) > 0) {
		char *msg = strstr(line, " ERROR ");
		char *sep;
		size_t n;
		char *grown;

		if (!msg)
			continue;
		line[strcspn(line, "\n")] = '\0';
		sep = strstr(msg, " - ");
		if (sep && (sep = strstr(sep + 3, " - ")))
			msg = sep + 3;
		else
			msg += strlen(" ERROR") + strspn(msg + strlen(" ERROR"), " ");
		n = strlen(msg);
		if (len + n + 3 > LOG_EXCERPT_MAX)
			break;
		grown = realloc(out, len + n + 3);
		if (!grown)
			break;
		out = grown;
		if (len > 0) {
			memcpy(out + len, "; ", 2);
			len += 2;
		}
		memcpy(out + len, msg, n);
		len += n;
		out[len] = '\0';
	}
	return steal_pointer(&out);
}

int instance_helper_check(const char *helper, struct err **err)
{
	struct stat st;

	/* A directory passes access(X_OK): only a regular file can be run. */
	if (stat(helper, &st) < 0)
		return err_set_errno(err, -errno, "the helper program \"%s\" is missing", helper);
	if (!S_ISREG(st.st_mode) || access(helper, X_OK) < 0)
		return err_set(err, -EACCES, "the helper program \"%s\" is not executable", helper);
	return 0;
}

int instance_lxc_start_begin(const char *helper, const char *name, const char *lxcpath,
			     const char *config_path, const char *log_dir,
			     struct instance_lxc_starting *ret, struct err **err)
{
	_cleanup_free_ char *lxc_log = str_printf("%s/lxc.log", log_dir);
	_cleanup_free_ char *helper_log = str_printf("%s/forkstart.log", log_dir);
	char *argv[] = {(char *)helper,	     (char *)"forkstart", (char *)name, (char *)lxcpath,
			(char *)config_path, (char *)log_dir,	  NULL};
	posix_spawnattr_t attr;
	sigset_t none, all;
	pid_t pid;
	int r;

	if (!lxc_log || !helper_log)
		return err_set(err, -ENOMEM, "Out of memory");
	/* Only what this start appends to the logs explains its failure. */
	ret->lxc_log_start = file_size_or_zero(lxc_log);
	ret->helper_log_start = file_size_or_zero(helper_log);

	/*
	 * The daemon may block signals for its event loop and ignore some: the helper and the
	 * container it starts must begin with an empty mask and default dispositions.
	 */
	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	r = posix_spawnattr_init(&attr);
	if (r != 0)
		return err_set_errno(err, -r, "Failed to start instance \"%s\"", name);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	r = posix_spawn(&pid, helper, NULL, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	if (r != 0)
		return err_set_errno(err, -r, "Failed to start instance \"%s\": cannot run \"%s\"",
				     name, helper);
	ret->pid = pid;
	return 0;
}

int instance_lxc_start_finish(const struct instance_lxc_starting *s, const char *name,
			      const char *log_dir, struct err **err)
{
	_cleanup_free_ char *lxc_log = str_printf("%s/lxc.log", log_dir);
	_cleanup_free_ char *helper_log = str_printf("%s/forkstart.log", log_dir);
	_cleanup_free_ char *errors = NULL;
	int status;

	/* Reaped whatever else fails: the helper must not be left a zombie. */
	while (waitpid(s->pid, &status, 0) < 0) {
		if (errno != EINTR)
			return err_set_errno(
			    err, -errno, "Failed to wait for the start of instance \"%s\"", name);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (!lxc_log || !helper_log)
		return err_set(err, -ENOMEM, "Out of memory");

	errors = log_error_lines(lxc_log, s->lxc_log_start);
	if (!errors)
		errors = log_error_lines(helper_log, s->helper_log_start);
	if (errors)
		return err_set(err, -EIO, "Failed to start instance \"%s\": %s", name, errors);
	if (WIFSIGNALED(status))
		return err_set(
		    err, -EIO,
		    "Failed to start instance \"%s\": the start helper was killed by signal %d",
		    name, WTERMSIG(status));
	return err_set(err, -EIO, "Failed to start instance \"%s\": see \"%s\"", name, lxc_log);
}

int instance_lxc_start(const char *helper, const char *name, const char *lxcpath,
		       const char *config_path, const char *log_dir, struct err **err)
{
	struct instance_lxc_starting s = {0};
	int r;

	r = instance_lxc_start_begin(helper, name, lxcpath, config_path, log_dir, &s, err);
	if (r < 0)
		return r;
	return instance_lxc_start_finish(&s, name, log_dir, err);
}

int instance_lxc_stop(const char *name, const char *lxcpath, const char *config_path,
		      int timeout_sec, bool force, struct err **err)
{
	_cleanup_lxc_container_ struct lxc_container *c = NULL;

	c = lxc_container_new(name, lxcpath);
	if (!c)
		return err_set(err, -ENOMEM, "Failed to stop instance \"%s\": cannot set it up",
			       name);
	if (!c->is_running(c))
		return 0;

	if (!force) {
		/* shutdown() sends lxc.signal.halt, which it reads from the loaded config. */
		if (config_path && !c->load_config(c, config_path))
			return err_set(err, -EIO,
				       "Failed to stop instance \"%s\": cannot load \"%s\"", name,
				       config_path);
		if (c->shutdown(c, timeout_sec > 0 ? timeout_sec : 0))
			return 0;
		log_debug("Instance \"%s\" did not halt within %d s, killing it", name,
			  timeout_sec);
	}
	if (!c->stop(c) && c->is_running(c))
		return err_set(err, -EIO, "Failed to stop instance \"%s\"", name);
	if (!c->wait(c, "STOPPED", 30))
		return err_set(err, -ETIMEDOUT,
			       "Failed to stop instance \"%s\": still running after 30 s", name);
	return 0;
}

static enum instance_status status_from_lxc(const char *s)
{
	if (!s)
		return INSTANCE_STOPPED;
	if (strcmp(s, "RUNNING") == 0 || strcmp(s, "STARTING") == 0 || strcmp(s, "STOPPING") == 0 ||
	    strcmp(s, "THAWED") == 0)
		return INSTANCE_RUNNING;
	if (strcmp(s, "FROZEN") == 0 || strcmp(s, "FREEZING") == 0)
		return INSTANCE_FROZEN;
	return INSTANCE_STOPPED;
}

/* Reads a cgroup file of the container through the monitor as a number; 0 on success. */
static int cgroup_u64(struct lxc_container *c, const char *key, uint64_t *ret)
{
	char buf[64];
	char *end;
	unsigned long long v;
	int n;

	n = c->get_cgroup_item(c, key, buf, sizeof(buf));
	if (n <= 0 || (size_t)n >= sizeof(buf))
		return -ENOENT;
	buf[n] = '\0';
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno != 0 || end == buf)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* cgroup v2 has CPU time as "usage_usec N" in cpu.stat. */
static int cgroup_cpu_v2(struct lxc_container *c, uint64_t *ret)
{
	char buf[1024];
	const char *p;
	int n;

	n = c->get_cgroup_item(c, "cpu.stat", buf, sizeof(buf));
	if (n <= 0 || (size_t)n >= sizeof(buf))
		return -ENOENT;
	buf[n] = '\0';
	p = strstr(buf, "usage_usec ");
	if (!p)
		return -ENOENT;
	*ret = strtoull(p + strlen("usage_usec "), NULL, 10) * 1000;
	return 0;
}

static void read_usage(struct lxc_container *c, struct instance_state *st)
{
	uint64_t v;

	/* v1 names first (this project's hosts are hybrid), v2 names when they are missing. */
	if (cgroup_u64(c, "memory.usage_in_bytes", &v) == 0 ||
	    cgroup_u64(c, "memory.current", &v) == 0)
		st->memory_usage = v;
	if (cgroup_u64(c, "memory.max_usage_in_bytes", &v) == 0 ||
	    cgroup_u64(c, "memory.peak", &v) == 0)
		st->memory_peak = v;
	if (cgroup_u64(c, "pids.current", &v) == 0)
		st->processes = (int64_t)v;
	if (cgroup_u64(c, "cpuacct.usage", &v) == 0 || cgroup_cpu_v2(c, &v) == 0)
		st->cpu_usage = v;
}

int instance_lxc_state(const char *name, const char *lxcpath, bool with_usage,
		       struct instance_state *ret, struct err **err)
{
	_cleanup_lxc_container_ struct lxc_container *c = NULL;
	struct instance_state st = {.status = INSTANCE_STOPPED, .pid = 0, .processes = -1};

	c = lxc_container_new(name, lxcpath);
	if (!c)
		return err_set(err, -ENOMEM, "Failed to read the state of instance \"%s\"", name);
	st.status = status_from_lxc(c->state(c));
	if (st.status != INSTANCE_STOPPED) {
		pid_t pid = c->init_pid(c);

		/* It stopped between the two questions. */
		if (pid <= 0) {
			st.status = INSTANCE_STOPPED;
		} else {
			st.pid = pid;
			if (with_usage)
				read_usage(c, &st);
		}
	}
	*ret = st;
	return 0;
}

int instance_lxc_init_pidfd(const char *name, const char *lxcpath, int *ret_pidfd, struct err **err)
{
	_cleanup_lxc_container_ struct lxc_container *c = NULL;
	pid_t pid, again;
	int fd;

	c = lxc_container_new(name, lxcpath);
	if (!c)
		return err_set(err, -ENOMEM, "Failed to read the state of instance \"%s\"", name);
	if (status_from_lxc(c->state(c)) == INSTANCE_STOPPED) {
		*ret_pidfd = -EBADF;
		return 0;
	}
	/* The monitor holds a pidfd of init and hands out a copy: no pid that could be reused. */
	fd = c->init_pidfd(c);
	if (fd >= 0) {
		*ret_pidfd = fd;
		return 0;
	}
	/* An older monitor has none: open one from the pid, and ask again afterwards, so the
	 * descriptor is known to be of the init the monitor means and not of a reused pid. */
	pid = c->init_pid(c);
	fd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
	again = fd >= 0 ? c->init_pid(c) : -1;
	if (fd >= 0 && again == pid) {
		*ret_pidfd = fd;
		return 0;
	}
	if (fd >= 0)
		close(fd);
	return err_set(err, -EBUSY, "Instance \"%s\" stopped while its files were being reached",
		       name);
}

/* ---- CRIU: the forkcheckpoint and forkrestore helpers ---- */

/*
 * Spawns `argv` (the cairn-fork helper) with `envp`, an empty signal mask and default dispositions,
 * and waits for it; *ret_status is its wait status.
 */
static int run_helper(char *const argv[], char *const envp[], int *ret_status, const char *what,
		      const char *name, struct err **err)
{
	posix_spawnattr_t attr;
	sigset_t none, all;
	pid_t pid;
	int r;

	r = instance_helper_check(argv[0], err);
	if (r < 0)
		return err_wrap(err, r, "Failed to %s instance \"%s\"", what, name);
	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	r = posix_spawnattr_init(&attr);
	if (r != 0)
		return err_set_errno(err, -r, "Failed to %s instance \"%s\"", what, name);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	r = posix_spawn(&pid, argv[0], NULL, &attr, argv, envp ? envp : environ);
	posix_spawnattr_destroy(&attr);
	if (r != 0)
		return err_set_errno(err, -r, "Failed to %s instance \"%s\": cannot run \"%s\"",
				     what, name, argv[0]);
	while (waitpid(pid, ret_status, 0) < 0) {
		if (errno != EINTR)
			return err_set_errno(err, -errno, "Failed to wait for the %s of \"%s\"",
					     what, name);
	}
	return 0;
}

/*
 * What went wrong in a checkpoint or restore: CRIU's last errors from its log (the ones before
 * its final "Dumping FAILED"), else liblxc's ERROR lines, and where the log is.
 */
static int criu_failure(const char *what, const char *name, const char *log_dir,
			const char *criu_log_name, off_t lxc_log_start, off_t helper_log_start,
			const char *helper_log_name, int status, struct err **err)
{
	_cleanup_free_ char *criu_log = str_printf("%s/%s", log_dir, criu_log_name);
	_cleanup_free_ char *lxc_log = str_printf("%s/lxc.log", log_dir);
	_cleanup_free_ char *helper_log = str_printf("%s/%s", log_dir, helper_log_name);
	_cleanup_free_ char *text = NULL, *criu = NULL, *lxc = NULL;
	size_t len = 0;

	if (!criu_log || !lxc_log || !helper_log)
		return err_set(err, -ENOMEM, "Out of memory");
	if (file_read_all(criu_log, &text, &len, NULL) >= 0)
		criu = instance_criu_log_errors(text);
	lxc = log_error_lines(lxc_log, lxc_log_start);
	if (!lxc)
		lxc = log_error_lines(helper_log, helper_log_start);
	if (criu)
		return err_set(err, -EIO,
			       "Failed to %s instance \"%s\": CRIU says: %s (see \"%s\")", what,
			       name, criu, criu_log);
	if (lxc)
		return err_set(err, -EIO, "Failed to %s instance \"%s\": %s (see \"%s\")", what,
			       name, lxc, access(criu_log, F_OK) == 0 ? criu_log : lxc_log);
	if (WIFSIGNALED(status))
		return err_set(err, -EIO,
			       "Failed to %s instance \"%s\": the helper was killed by signal %d",
			       what, name, WTERMSIG(status));
	return err_set(err, -EIO, "Failed to %s instance \"%s\": see \"%s\"", what, name,
		       helper_log);
}

/*
 * Runs a CRIU helper (`argv[1]` is forkcheckpoint or forkrestore) and, when it fails, reports
 * CRIU's log `criu_log` and what the helper and liblxc wrote since it started.
 */
static int run_criu_helper(char *const *argv, char *const *envp, const char *what, const char *name,
			   const char *log_dir, const char *criu_log, struct err **err)
{
	_cleanup_free_ char *lxc_log = str_printf("%s/lxc.log", log_dir);
	_cleanup_free_ char *helper_name = str_printf("%s.log", argv[1]);
	_cleanup_free_ char *helper_log =
	    helper_name ? str_printf("%s/%s", log_dir, helper_name) : NULL;
	off_t lxc_log_start, helper_log_start;
	int status = 0, r;

	if (!lxc_log || !helper_log)
		return err_set(err, -ENOMEM, "Out of memory");
	lxc_log_start = file_size_or_zero(lxc_log);
	helper_log_start = file_size_or_zero(helper_log);
	r = run_helper(argv, envp, &status, what, name, err);
	if (r < 0)
		return r;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	return criu_failure(what, name, log_dir, criu_log, lxc_log_start, helper_log_start,
			    helper_name, status, err);
}

int instance_lxc_checkpoint(const char *helper, const char *name, const char *lxcpath,
			    const char *config_path, const char *dir, const char *log_dir,
			    bool stop, char *const *envp, struct err **err)
{
	char *argv[] = {(char *)helper,	 (char *)"forkcheckpoint",   (char *)name,
			(char *)lxcpath, (char *)config_path,	     (char *)dir,
			(char *)log_dir, (char *)(stop ? "1" : "0"), NULL};

	return run_criu_helper(argv, envp, "checkpoint", name, log_dir, INSTANCE_CRIU_DUMP_LOG,
			       err);
}

int instance_lxc_restore(const char *helper, const char *name, const char *lxcpath,
			 const char *config_path, const char *dir, const char *log_dir,
			 char *const *envp, struct err **err)
{
	char *argv[] = {
	    (char *)helper,	 (char *)"forkrestore", (char *)name,	 (char *)lxcpath,
	    (char *)config_path, (char *)dir,		(char *)log_dir, NULL};

	return run_criu_helper(argv, envp, "restore", name, log_dir, INSTANCE_CRIU_RESTORE_LOG,
			       err);
}
