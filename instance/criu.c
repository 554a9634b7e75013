#include "instance/criu.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/db.h"
#include "config/keys.h"
#include "instance/instance.h"

extern char **environ;

/* `criu check` takes well under a second; one that hangs is killed after this. */
#define CRIU_RUN_TIMEOUT_MS 30000
/* What is kept of a CRIU command's output. */
#define CRIU_OUTPUT_MAX 16384
/* Directories searched after PATH: cairnd may run with a PATH that has no sbin in it. */
#define CRIU_EXTRA_PATH "/usr/local/sbin:/usr/sbin:/sbin"

void instance_criu_done(struct instance_criu *c)
{
	free(c->path);
	free(c->version);
	free(c->kernel);
	free(c->check_line);
	free(c->network_lock);
	free(c->problem);
	*c = (struct instance_criu){0};
}

int instance_criu_parse_version(const char *text, int *ret_major, int *ret_minor)
{
	const char *line = text ? strstr(text, "Version: ") : NULL;
	int major = 0, minor = 0;

	if (!line || sscanf(line, "Version: %d.%d", &major, &minor) != 2)
		return -EINVAL;
	*ret_major = major;
	*ret_minor = minor;
	return 0;
}

char *instance_criu_error_line(const char *text)
{
	_cleanup_free_ char *copy = text ? strdup(text) : NULL;
	char *save = NULL, *last = NULL;

	if (!copy)
		return NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *err = strstr(line, "Error (");
		char *msg;

		if (err && (msg = strstr(err, "): ")))
			return strdup(msg + 3);
		if (*line)
			last = line;
	}
	return last ? strdup(last) : NULL;
}

char *instance_criu_log_errors(const char *text)
{
	_cleanup_free_ char *copy = text ? strdup(text) : NULL;
	const char *last[2] = {NULL, NULL};
	char *save = NULL;

	if (!copy)
		return NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *err = strstr(line, "Error (");
		char *msg = err ? strstr(err, "): ") : NULL;

		if (!msg || strstr(msg, "FAILED."))
			continue;
		msg += 3;
		if (last[1] && strcmp(last[1], msg) == 0)
			continue;
		last[0] = last[1];
		last[1] = msg;
	}
	if (!last[1])
		return NULL;
	return last[0] ? str_printf("%s; %s", last[0], last[1]) : strdup(last[1]);
}

/* `dir`/`name` when it is executable, else NULL. */
static char *find_in(const char *dirs, const char *name)
{
	_cleanup_free_ char *search = strdup(dirs);
	char *save = NULL;

	if (!search)
		return NULL;
	for (char *dir = strtok_r(search, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		_cleanup_free_ char *candidate = str_printf("%s/%s", dir, name);
		struct stat st;

		if (candidate && *dir == '/' && stat(candidate, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(candidate, X_OK) == 0)
			return steal_pointer(&candidate);
	}
	return NULL;
}

/* A program on cairnd's PATH or in the sbin directories. Caller frees; NULL when absent. */
static char *find_program(const char *name)
{
	const char *path = getenv("PATH");
	_cleanup_free_ char *dirs = str_printf("%s:" CRIU_EXTRA_PATH, path && *path ? path : "");

	return dirs ? find_in(dirs, name) : NULL;
}

/*
 * Runs argv (argv[0] an absolute path) with stdin from /dev/null, and returns its exit status
 * (-1 when it did not exit normally) and what it wrote to stdout and stderr (caller frees).
 * Killed after CRIU_RUN_TIMEOUT_MS.
 */
static int run_capture(char *const argv[], int *ret_status, char **ret_out)
{
	posix_spawn_file_actions_t fa;
	_cleanup_close_ int rd = -EBADF, wr = -EBADF;
	_cleanup_free_ char *buf = calloc(1, CRIU_OUTPUT_MAX + 1);
	size_t len = 0;
	int fds[2], status = 0, r;
	struct timespec start, now;
	pid_t pid;

	if (!buf)
		return -ENOMEM;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	rd = fds[0];
	wr = fds[1];
	r = posix_spawn_file_actions_init(&fa);
	if (r != 0)
		return -r;
	posix_spawn_file_actions_adddup2(&fa, wr, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, wr, STDERR_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return -r;
	closep(&wr);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd p = {.fd = rd, .events = POLLIN};
		long elapsed;
		ssize_t got;

		clock_gettime(CLOCK_MONOTONIC, &now);
		elapsed =
		    (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (elapsed >= CRIU_RUN_TIMEOUT_MS) {
			kill(pid, SIGKILL);
			break;
		}
		r = poll(&p, 1, (int)(CRIU_RUN_TIMEOUT_MS - elapsed));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		if (len < CRIU_OUTPUT_MAX)
			got = read(rd, buf + len, CRIU_OUTPUT_MAX - len);
		else {
			char sink[4096];

			got = read(rd, sink, sizeof(sink));
			if (got > 0)
				continue;
		}
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	buf[len] = '\0';
	*ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	*ret_out = steal_pointer(&buf);
	return 0;
}

/* The facts the cache is keyed on: the binary's identity and CAIRN_CRIU. */
struct criu_key {
	char *env; /* CAIRN_CRIU or NULL */
	char *path;
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	off_t size;
	bool iptables; /* iptables-restore was found */
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct criu_key cache_key;
static struct instance_criu cache;
static bool cache_valid;

static void criu_key_done(struct criu_key *k)
{
	free(k->env);
	free(k->path);
	*k = (struct criu_key){0};
}

static bool criu_key_equal(const struct criu_key *a, const struct criu_key *b)
{
	return !!a->env == !!b->env && (!a->env || strcmp(a->env, b->env) == 0) &&
	       !!a->path == !!b->path && (!a->path || strcmp(a->path, b->path) == 0) &&
	       a->dev == b->dev && a->ino == b->ino && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec && a->size == b->size &&
	       a->iptables == b->iptables;
}

static int strdup_or_null(const char *s, char **ret)
{
	*ret = NULL;
	if (!s)
		return 0;
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

static int criu_copy(const struct instance_criu *src, struct instance_criu *dst)
{
	*dst = *src;
	dst->path = dst->version = dst->kernel = dst->check_line = dst->network_lock =
	    dst->problem = NULL;
	if (strdup_or_null(src->path, &dst->path) < 0 ||
	    strdup_or_null(src->version, &dst->version) < 0 ||
	    strdup_or_null(src->kernel, &dst->kernel) < 0 ||
	    strdup_or_null(src->check_line, &dst->check_line) < 0 ||
	    strdup_or_null(src->network_lock, &dst->network_lock) < 0 ||
	    strdup_or_null(src->problem, &dst->problem) < 0) {
		instance_criu_done(dst);
		return -ENOMEM;
	}
	return 0;
}

/* Which criu cairnd would use: CAIRN_CRIU, else a search. */
static int criu_locate(struct criu_key *k)
{
	const char *env = getenv("CAIRN_CRIU");
	_cleanup_free_ char *ipt = find_program("iptables-restore");
	struct stat st;

	*k = (struct criu_key){.iptables = ipt != NULL};
	if (env && *env) {
		k->env = strdup(env);
		if (!k->env)
			return -ENOMEM;
		if (*env == '/' && stat(env, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(env, X_OK) == 0)
			k->path = strdup(env);
		else
			return 0;
	} else {
		k->path = find_program("criu");
		if (!k->path || stat(k->path, &st) < 0)
			return 0;
	}
	if (!k->path)
		return -ENOMEM;
	k->dev = st.st_dev;
	k->ino = st.st_ino;
	k->mtime = st.st_mtim;
	k->size = st.st_size;
	return 0;
}

static bool version_at_least_min(const struct instance_criu *c)
{
	return c->major > INSTANCE_CRIU_MIN_MAJOR ||
	       (c->major == INSTANCE_CRIU_MIN_MAJOR && c->minor >= INSTANCE_CRIU_MIN_MINOR);
}

/* Runs the CRIU of `k` and fills `c` (fresh, not from the cache). */
static int criu_examine(const struct criu_key *k, struct instance_criu *c)
{
	_cleanup_free_ char *out = NULL, *check = NULL, *nft = NULL;
	struct utsname u = {0};
	int status = 0, r;

	uname(&u);
	c->kernel = strdup(u.release);
	if (!c->kernel)
		return -ENOMEM;
	if (!k->path) {
		c->problem =
		    k->env
			? str_printf("CRIU %d.%d or newer is needed; CAIRN_CRIU=\"%s\" is not an "
				     "executable file (give its absolute path)",
				     INSTANCE_CRIU_MIN_MAJOR, INSTANCE_CRIU_MIN_MINOR, k->env)
			: str_printf("CRIU %d.%d or newer is needed; it is not installed (cairnd "
				     "looks at CAIRN_CRIU, then its PATH)",
				     INSTANCE_CRIU_MIN_MAJOR, INSTANCE_CRIU_MIN_MINOR);
		return c->problem ? 0 : -ENOMEM;
	}
	c->path = strdup(k->path);
	c->from_env = k->env != NULL;
	if (!c->path)
		return -ENOMEM;

	r = run_capture((char *const[]){c->path, (char *)"--version", NULL}, &status, &out);
	if (r == -ENOMEM)
		return r;
	if (r >= 0 && instance_criu_parse_version(out, &c->major, &c->minor) >= 0) {
		c->version = str_printf("%d.%d", c->major, c->minor);
		if (!c->version)
			return -ENOMEM;
	}
	r = run_capture((char *const[]){c->path, (char *)"check", NULL}, &status, &check);
	if (r == -ENOMEM)
		return r;
	c->check_ok = r >= 0 && status == 0;
	if (r < 0)
		c->check_line = str_printf("cannot run it: %s", strerror(-r));
	else if (status < 0)
		c->check_line = strdup("it did not finish");
	else
		c->check_line = instance_criu_error_line(check);
	if (!c->check_line)
		c->check_line = strdup(c->check_ok ? "Looks good." : "it failed without a message");
	if (!c->check_line)
		return -ENOMEM;
	if (!c->check_ok) {
		if (!c->version || !version_at_least_min(c))
			c->problem = str_printf(
			    "CRIU %d.%d or newer is needed on this kernel (%s): CRIU %s (%s) fails "
			    "`criu check`: %s",
			    INSTANCE_CRIU_MIN_MAJOR, INSTANCE_CRIU_MIN_MINOR, c->kernel,
			    c->version ? c->version : "of unknown version", c->path, c->check_line);
		else
			c->problem =
			    str_printf("CRIU %s (%s) fails `criu check` on this kernel (%s): %s",
				       c->version, c->path, c->kernel, c->check_line);
		return c->problem ? 0 : -ENOMEM;
	}

	/* CRIU locks the network of a dumped container with iptables-restore by default; without
	 * it, with nftables (when this CRIU was built with libnftables). */
	if (k->iptables) {
		c->network_lock = strdup("iptables");
		return c->network_lock ? 0 : -ENOMEM;
	}
	r = run_capture((char *const[]){c->path, (char *)"check", (char *)"--feature",
					(char *)"network_lock_nftables", NULL},
			&status, &nft);
	if (r == -ENOMEM)
		return r;
	if (r >= 0 && status == 0) {
		c->network_lock = strdup("nftables");
		return c->network_lock ? 0 : -ENOMEM;
	}
	c->problem = str_printf("CRIU %s (%s) cannot lock the network of a container here: "
				"iptables-restore is not installed and this CRIU has no nftables "
				"support",
				c->version ? c->version : "?", c->path);
	return c->problem ? 0 : -ENOMEM;
}

int instance_criu_probe(struct instance_criu *ret, struct err **err)
{
	_cleanup_(criu_key_done) struct criu_key key = {0};
	struct instance_criu fresh = {0};
	int r;

	r = criu_locate(&key);
	if (r < 0)
		return err_set(err, r, "Out of memory");
	pthread_mutex_lock(&cache_lock);
	if (!cache_valid || !criu_key_equal(&key, &cache_key)) {
		r = criu_examine(&key, &fresh);
		if (r < 0) {
			pthread_mutex_unlock(&cache_lock);
			instance_criu_done(&fresh);
			return err_set(err, r, "Out of memory");
		}
		instance_criu_done(&cache);
		criu_key_done(&cache_key);
		cache = fresh;
		cache_key = key;
		key = (struct criu_key){0};
		cache_valid = true;
	}
	r = criu_copy(&cache, ret);
	pthread_mutex_unlock(&cache_lock);
	return r < 0 ? err_set(err, r, "Out of memory") : 0;
}

int instance_criu_require(struct instance_criu *ret, struct err **err)
{
	struct instance_criu c = {0};
	int r;

	r = instance_criu_probe(&c, err);
	if (r < 0)
		return r;
	if (c.problem) {
		r = err_set(err, -EOPNOTSUPP, "%s", c.problem);
		instance_criu_done(&c);
		return r;
	}
	if (ret)
		*ret = c;
	else
		instance_criu_done(&c);
	return 0;
}

int instance_criu_helper_env(const struct instance_criu *criu, const char *run_dir, char ***ret_env,
			     struct err **err)
{
	_cleanup_strv_ char **env = NULL;
	_cleanup_free_ char *dir = NULL, *path_var = NULL, *conf_var = NULL;
	const char *base = strrchr(criu->path, '/');
	const char *path = getenv("PATH");
	int r;

	if (!base)
		return err_set(err, -EINVAL, "CRIU path \"%s\" is not absolute", criu->path);
	if (strcmp(base + 1, "criu") == 0) {
		dir = strndup(criu->path, (size_t)(base - criu->path));
	} else {
		/* liblxc runs the program called `criu` on PATH: give it one by that name. */
		_cleanup_free_ char *link = NULL, *tmp = NULL;

		dir = str_printf("%s/criu-bin", run_dir);
		link = dir ? str_printf("%s/criu", dir) : NULL;
		tmp = dir ? str_printf("%s/criu.tmp", dir) : NULL;
		if (!link || !tmp)
			return err_set(err, -ENOMEM, "Out of memory");
		r = mkdir_p(dir, 0700, err);
		if (r < 0)
			return r;
		unlink(tmp);
		if (symlink(criu->path, tmp) < 0 || rename(tmp, link) < 0)
			return err_set_errno(err, -errno, "Failed to link \"%s\" to \"%s\"", link,
					     criu->path);
	}
	path_var = dir ? str_printf("PATH=%s:%s", dir,
				    path && *path ? path : "/usr/sbin:/usr/bin:/sbin:/bin")
		       : NULL;
	if (!path_var)
		return err_set(err, -ENOMEM, "Out of memory");
	if (criu->network_lock && strcmp(criu->network_lock, "nftables") == 0) {
		_cleanup_free_ char *conf = str_printf("%s/criu.conf", run_dir);
		static const char text[] = "# Written by cairnd: iptables-restore is not "
					   "installed\nnetwork-lock nftables\n";

		if (!conf)
			return err_set(err, -ENOMEM, "Out of memory");
		r = file_write(conf, text, strlen(text), 0600, err);
		if (r < 0)
			return r;
		conf_var = str_printf("CRIU_CONFIG_FILE=%s", conf);
		if (!conf_var)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	for (char **e = environ; e && *e; e++) {
		if (str_startswith(*e, "PATH=") || str_startswith(*e, "CRIU_CONFIG_FILE="))
			continue;
		if (strv_push(&env, *e) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	if (strv_push(&env, path_var) < 0 || (conf_var && strv_push(&env, conf_var) < 0))
		return err_set(err, -ENOMEM, "Out of memory");
	*ret_env = steal_pointer(&env);
	return 0;
}

/* The parent pid and name of a host pid from /proc/PID/stat; -errno when it is gone. */
static int proc_stat(pid_t pid, pid_t *ret_ppid, char *comm, size_t comm_len)
{
	char path[64], buf[1024];
	_cleanup_close_ int fd = -EBADF;
	ssize_t n;
	char *open_paren, *close_paren;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = '\0';
	open_paren = strchr(buf, '(');
	close_paren = strrchr(buf, ')');
	if (!open_paren || !close_paren || close_paren < open_paren)
		return -EIO;
	snprintf(comm, comm_len, "%.*s", (int)(close_paren - open_paren - 1), open_paren + 1);
	if (sscanf(close_paren + 1, " %*c %d", ret_ppid) != 1)
		return -EIO;
	return 0;
}

/* Whether host pid `pid` is in the pid namespace of `init` (by the namespace's inode). */
static bool same_pidns(pid_t pid, const struct stat *init_ns)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
	return stat(path, &st) == 0 && st.st_ino == init_ns->st_ino && st.st_dev == init_ns->st_dev;
}

/* Adds one sentence per process of the container outside init's tree: a dump leaves them out. */
static int outside_init_tree(pid_t init, char ***v)
{
	_cleanup_closedir_ DIR *d = opendir("/proc");
	char path[64];
	struct stat ns;
	struct dirent *de;

	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)init);
	if (!d || stat(path, &ns) < 0)
		return 0;
	while ((de = readdir(d))) {
		char comm[64] = "", pcomm[64];
		pid_t pid = (pid_t)strtol(de->d_name, NULL, 10), up, ppid = 0;
		bool inside = false;
		_cleanup_free_ char *line = NULL;

		if (pid <= 0 || pid == init || !same_pidns(pid, &ns))
			continue;
		if (proc_stat(pid, &ppid, comm, sizeof(comm)) < 0)
			continue;
		/* Walk up: a process belongs to the dump when init is among its ancestors. */
		for (up = ppid; up > 1 && !inside;) {
			pid_t next = 0;

			if (up == init) {
				inside = true;
				break;
			}
			if (proc_stat(up, &next, pcomm, sizeof(pcomm)) < 0)
				break;
			up = next;
		}
		if (inside)
			continue;
		line = str_printf("process %d (%s): it does not descend from the container's init "
				  "(a command running through `cairn exec`?), and CRIU dumps init "
				  "and its descendants only",
				  (int)pid, comm);
		if (!line || strv_push(v, line) < 0)
			return -ENOMEM;
	}
	return 0;
}

int instance_criu_blockers(const struct instance_env *env, const char *name, char ***ret,
			   char ***ret_left_out, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_strv_ char **v = NULL, **out = NULL;
	struct instance_state st = {0};
	int r;

	r = instance_get(env, name, &row, err);
	if (r < 0)
		return r;
	if (!config_get_bool(&row.expanded_config, "migration.stateful", false) &&
	    strv_push(&v,
		      "migration.stateful is not true: set it (the instance then starts "
		      "without a console, which CRIU cannot dump) and restart the instance") < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	r = instance_state(env, name, false, &st, err);
	if (r < 0)
		return r;
	if (st.status == INSTANCE_STOPPED &&
	    strv_push(&v, "the instance is stopped: only a running instance can be dumped") < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	if (st.status == INSTANCE_FROZEN &&
	    strv_push(&v, "the instance is frozen: thaw it first") < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	if (st.status != INSTANCE_STOPPED &&
	    config_get_bool(&row.expanded_config, "migration.stateful", false) &&
	    !instance_started_without_console(env, name) &&
	    strv_push(&v, "the instance was started before migration.stateful was set: it has a "
			  "console, which CRIU cannot dump; restart it") < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	if (st.status != INSTANCE_STOPPED && st.pid > 0 && outside_init_tree(st.pid, &out) < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	if ((!v && !(v = calloc(1, sizeof(char *)))) ||
	    (!out && !(out = calloc(1, sizeof(char *)))))
		return err_set(err, -ENOMEM, "Out of memory");
	*ret = steal_pointer(&v);
	*ret_left_out = steal_pointer(&out);
	return 0;
}
