#include "network/network.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nftables/libnftables.h>

#include "common/cleanup.h"
#include "common/crashpoint.h"
#include "common/err.h"
#include "common/kvlist.h"
#include "common/log.h"
#include "common/util.h"
#include "config/db.h"
#include "config/devices.h"
#include "config/profiles.h"
#include "config/keys.h"
#include "network/cidr.h"
#include "network/netlink.h"
#include "network/spec.h"

extern char **environ;

/* One supervised dnsmasq. */
struct dnsmasq_proc {
	char *network;
	char **argv;	       /* owned, NULL-terminated */
	char *log;	       /* networks/<name>/dnsmasq.log */
	pid_t pid;	       /* 0 while it waits to be restarted */
	time_t started;	       /* CLOCK_MONOTONIC seconds */
	time_t restart_at;     /* when pid is 0: when to start it again */
	unsigned quick_deaths; /* exits within a few seconds of the start, in a row */
};

struct network_manager {
	struct db *db;
	char *dir;	      /* $CAIRN_DIR/networks */
	pthread_mutex_t lock; /* one change of the networks at a time */

	pthread_mutex_t sup_lock; /* the fields below */
	pthread_cond_t sup_wake;
	struct dnsmasq_proc *procs;
	size_t n_procs;
	bool sup_running, sup_stop;
	pthread_t sup_thread;
};

static int grant_dnsmasq(const char *path, bool dir, struct err **err);

static time_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

int network_manager_new(struct db *db, const char *cairn_dir, struct network_manager **ret,
			struct err **err)
{
	struct network_manager *m = calloc(1, sizeof(*m));
	int r;

	if (!m)
		return err_set(err, -ENOMEM, "Out of memory");
	m->db = db;
	m->dir = str_printf("%s/networks", cairn_dir);
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->sup_lock, NULL);
	pthread_cond_init(&m->sup_wake, NULL);
	if (!m->dir) {
		network_manager_free(m);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	/* dnsmasq reads its hosts file after dropping root: see grant_dnsmasq(). */
	r = mkdir_p(m->dir, 0700, err);
	if (r >= 0)
		r = grant_dnsmasq(m->dir, true, err);
	if (r < 0) {
		network_manager_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

static void proc_done(struct dnsmasq_proc *p)
{
	free(p->network);
	strv_free(p->argv);
	free(p->log);
	*p = (struct dnsmasq_proc){0};
}

void network_manager_free(struct network_manager *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->sup_lock);
	m->sup_stop = true;
	pthread_cond_signal(&m->sup_wake);
	pthread_mutex_unlock(&m->sup_lock);
	if (m->sup_running)
		pthread_join(m->sup_thread, NULL);
	for (size_t i = 0; i < m->n_procs; i++)
		proc_done(&m->procs[i]);
	free(m->procs);
	free(m->dir);
	free(m);
}

/* ---- paths ---- */

static char *net_dir(struct network_manager *m, const char *name)
{
	return str_printf("%s/%s", m->dir, name);
}

static const char *dnsmasq_path(void)
{
	static const char *const candidates[] = {"/usr/sbin/dnsmasq", "/usr/local/sbin/dnsmasq",
						 "/sbin/dnsmasq", "/usr/bin/dnsmasq"};
	const char *env = getenv("CAIRN_DNSMASQ");

	if (env && *env)
		return env;
	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
		if (access(candidates[i], X_OK) == 0)
			return candidates[i];
	return NULL;
}

/* The user dnsmasq runs as once its sockets are open: Debian's own, else nobody. */
static const char *dnsmasq_user(void)
{
	return getpwnam("dnsmasq") ? "dnsmasq" : "nobody";
}

/*
 * dnsmasq reads its hosts file as its own user, at start and at every SIGHUP; nobody else
 * outside the admin group may reach anything under CAIRN_DIR. So the directories are root's
 * 0700 and the hosts file 0600, and a POSIX ACL gives that one user what it needs: passing
 * through the directories, reading the file. The ACL is written as the kernel's xattr
 * (system.posix_acl_access), so no libacl is needed.
 */
struct acl_entry {
	uint16_t tag;
	uint16_t perm;
	uint32_t id;
};

static int grant_dnsmasq(const char *path, bool dir, struct err **err)
{
	struct passwd *pw = getpwnam(dnsmasq_user());
	uint16_t perm = dir ? 1 /* x */ : 4 /* r */;
	struct {
		uint32_t version;
		struct acl_entry e[5];
	} __attribute__((packed)) acl = {
	    .version = 2,
	    .e =
		{
		    {0x01, dir ? 7 : 6, (uint32_t)-1}, /* owner: rwx or rw */
		    {0x02, perm, 0},		       /* the dnsmasq user */
		    {0x04, 0, (uint32_t)-1},	       /* owning group: nothing */
		    {0x10, perm, (uint32_t)-1},	       /* mask */
		    {0x20, 0, (uint32_t)-1},	       /* others: nothing */
		},
	};

	if (!pw)
		return err_set(err, -ENOENT, "No user \"%s\" for dnsmasq", dnsmasq_user());
	acl.e[1].id = (uint32_t)pw->pw_uid;
	if (chmod(path, dir ? 0700 : 0600) < 0)
		return err_set_errno(err, -errno, "Failed to set the mode of \"%s\"", path);
	if (setxattr(path, "system.posix_acl_access", &acl, sizeof(acl), 0) < 0) {
		int e = errno;

		/* A file system without ACLs: the old way, passable directories and a
		 * readable file, is what is left. */
		if (e == EOPNOTSUPP) {
			log_warn("\"%s\" takes no ACL: made %s so that dnsmasq can read it", path,
				 dir ? "0711" : "0644");
			if (chmod(path, dir ? 0711 : 0644) < 0)
				return err_set_errno(err, -errno,
						     "Failed to set the mode of \"%s\"", path);
			return 0;
		}
		return err_set_errno(err, -e, "Failed to set the ACL of \"%s\"", path);
	}
	return 0;
}

/* ---- nftables ---- */

static pthread_mutex_t nft_lock = PTHREAD_MUTEX_INITIALIZER;

static void nft_ctxp(struct nft_ctx **c)
{
	if (*c)
		nft_ctx_free(*c);
	*c = NULL;
}

static int nft_run(const char *script, const char *what, struct err **err)
{
	_cleanup_(nft_ctxp) struct nft_ctx *c = NULL;
	int r;

	pthread_mutex_lock(&nft_lock);
	c = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!c) {
		pthread_mutex_unlock(&nft_lock);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	nft_ctx_buffer_output(c);
	nft_ctx_buffer_error(c);
	r = nft_run_cmd_from_buffer(c, script);
	if (r != 0) {
		_cleanup_free_ char *msg = strdup(nft_ctx_get_error_buffer(c) ?: "");
		char *nl;

		pthread_mutex_unlock(&nft_lock);
		if (msg && (nl = strchr(msg, '\n')))
			*nl = '\0';
		return err_set(err, -EIO, "Cannot set the nftables rules of %s: %s", what,
			       msg && *msg ? msg : "nft failed");
	}
	pthread_mutex_unlock(&nft_lock);
	return 0;
}

static int nft_apply(const struct network_spec *s, bool remove, struct err **err)
{
	_cleanup_free_ char *script = network_nft_script(s, remove);
	_cleanup_free_ char *what = str_printf("network \"%s\"", s->name);

	if (!script || !what)
		return err_set(err, -ENOMEM, "Out of memory");
	return nft_run(script, what, err);
}

static int write_sysctl(const char *path, const char *value, struct err **err)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to open \"%s\"", path);
	if (write(fd, value, strlen(value)) != (ssize_t)strlen(value))
		return err_set_errno(err, -errno, "Failed to write \"%s\"", path);
	return 0;
}

/* ---- dnsmasq ---- */

/* The pid of the dnsmasq that the pid file in `dir` names, when that process is still the
 * dnsmasq of that directory (its command line names the pid file); 0 otherwise. */
static pid_t stale_dnsmasq(const char *dir)
{
	_cleanup_free_ char *pidfile = str_printf("%s/dnsmasq.pid", dir);
	_cleanup_free_ char *want = str_printf("--pid-file=%s/dnsmasq.pid", dir);
	_cleanup_free_ char *text = NULL, *cmdline = NULL, *proc = NULL;
	size_t len = 0;
	long pid;

	if (!pidfile || !want || file_read_all(pidfile, &text, NULL, NULL) < 0)
		return 0;
	pid = strtol(text, NULL, 10);
	if (pid <= 1)
		return 0;
	proc = str_printf("/proc/%ld/cmdline", pid);
	if (!proc || file_read_all(proc, &cmdline, &len, NULL) < 0)
		return 0;
	for (size_t off = 0; off < len; off += strlen(cmdline + off) + 1)
		if (strcmp(cmdline + off, want) == 0)
			return (pid_t)pid;
	return 0;
}

/* Stops a dnsmasq that is not (or no longer) our child: SIGTERM, then SIGKILL after 2 s. */
static void kill_stale(pid_t pid)
{
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (pfd < 0)
		return;
	syscall(SYS_pidfd_send_signal, pfd, SIGTERM, NULL, 0);
	for (int i = 0; i < 200; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		_cleanup_free_ char *stat = str_printf("/proc/%d/stat", (int)pid);
		_cleanup_free_ char *text = NULL;
		const char *paren;

		/* Gone, or a zombie waiting for its parent: either way it serves no more. */
		if (!stat || file_read_all(stat, &text, NULL, NULL) < 0)
			break;
		paren = strrchr(text, ')');
		if (paren && paren[1] && (paren[2] == 'Z' || paren[2] == 'X'))
			break;
		if (i == 199)
			syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0);
		nanosleep(&ts, NULL);
	}
	close(pfd);
}

static int spawn_dnsmasq(char **argv, const char *log, pid_t *ret, struct err **err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none;
	pid_t pid;
	int r;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	/* Its own session: a signal to the daemon's process group does not reach it, and it
	 * outlives a daemon restart (the next start replaces it). The daemon blocks its
	 * signals in every thread; dnsmasq must get them. */
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
	r = posix_spawn(&pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r != 0)
		return err_set_errno(err, -r, "Failed to run \"%s\"", argv[0]);
	*ret = pid;
	return 0;
}

/* The last line of the log, for an error message. */
static char *log_tail(const char *log)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	char *line;

	if (file_read_all(log, &text, &len, NULL) < 0 || len == 0)
		return strdup("no message");
	while (len > 0 && text[len - 1] == '\n')
		text[--len] = '\0';
	line = strrchr(text, '\n');
	return strdup(line ? line + 1 : text);
}

/*
 * Starts the dnsmasq of `s` and waits until it has bound its sockets (it writes its pid file
 * then), so that a create fails with dnsmasq's own message rather than later in the log. Any
 * dnsmasq left by an earlier daemon for this network is stopped first.
 */
static int dnsmasq_start(struct network_manager *m, const struct network_spec *s, struct err **err)
{
	_cleanup_free_ char *dir = net_dir(m, s->name);
	_cleanup_free_ char *log = NULL, *pidfile = NULL;
	_cleanup_strv_ char **argv = NULL;
	const char *bin = dnsmasq_path();
	struct dnsmasq_proc *v;
	pid_t pid = 0, stale;
	int r, status;

	if (!dir)
		return err_set(err, -ENOMEM, "Out of memory");
	if (!bin)
		return err_set(err, -ENOENT,
			       "dnsmasq is not installed (Debian package dnsmasq-base): network "
			       "\"%s\" needs it for DHCP and DNS",
			       s->name);
	stale = stale_dnsmasq(dir);
	if (stale)
		kill_stale(stale);
	log = str_printf("%s/dnsmasq.log", dir);
	pidfile = str_printf("%s/dnsmasq.pid", dir);
	argv = network_dnsmasq_argv(bin, dnsmasq_user(), s, dir);
	if (!log || !pidfile || !argv)
		return err_set(err, -ENOMEM, "Out of memory");
	unlink(pidfile);
	r = spawn_dnsmasq(argv, log, &pid, err);
	if (r < 0)
		return r;
	for (int i = 0;; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		_cleanup_free_ char *text = NULL;

		if (waitpid(pid, &status, WNOHANG) == pid) {
			_cleanup_free_ char *why = log_tail(log);

			return err_set(err, -EIO, "dnsmasq of network \"%s\" failed to start: %s",
				       s->name, why ? why : "no message");
		}
		if (file_read_all(pidfile, &text, NULL, NULL) >= 0 && strtol(text, NULL, 10) == pid)
			break;
		if (i >= 500) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return err_set(err, -ETIMEDOUT,
				       "dnsmasq of network \"%s\" did not start within 5 seconds",
				       s->name);
		}
		nanosleep(&ts, NULL);
	}
	pthread_mutex_lock(&m->sup_lock);
	v = realloc(m->procs, (m->n_procs + 1) * sizeof(*v));
	if (!v) {
		pthread_mutex_unlock(&m->sup_lock);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	m->procs = v;
	v[m->n_procs] = (struct dnsmasq_proc){
	    .network = strdup(s->name),
	    .argv = steal_pointer(&argv),
	    .log = steal_pointer(&log),
	    .pid = pid,
	    .started = mono_now(),
	};
	m->n_procs++;
	pthread_mutex_unlock(&m->sup_lock);
	log_debug("dnsmasq of network \"%s\" started (pid %d)", s->name, (int)pid);
	return 0;
}

/* Stops the dnsmasq of network `name`: ours (taken out of the supervisor first, so that its
 * exit is not taken for a crash), or one an earlier daemon left. */
static void dnsmasq_stop(struct network_manager *m, const char *name)
{
	_cleanup_free_ char *dir = net_dir(m, name);
	pid_t pid = 0, stale;
	int status;

	pthread_mutex_lock(&m->sup_lock);
	for (size_t i = 0; i < m->n_procs; i++) {
		if (strcmp(m->procs[i].network, name) != 0)
			continue;
		pid = m->procs[i].pid;
		proc_done(&m->procs[i]);
		memmove(&m->procs[i], &m->procs[i + 1], (m->n_procs - i - 1) * sizeof(*m->procs));
		m->n_procs--;
		break;
	}
	pthread_mutex_unlock(&m->sup_lock);
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, &status, 0);
	}
	if (dir && (stale = stale_dnsmasq(dir)))
		kill_stale(stale);
}

bool network_dnsmasq_running(struct network_manager *m, const char *name)
{
	bool running = false;

	pthread_mutex_lock(&m->sup_lock);
	for (size_t i = 0; i < m->n_procs; i++)
		if (strcmp(m->procs[i].network, name) == 0 && m->procs[i].pid > 0)
			running = true;
	pthread_mutex_unlock(&m->sup_lock);
	return running;
}

/* The supervisor: once a second (or when woken), reaps the dnsmasq processes that exited and
 * starts them again, waiting longer after each quick death in a row (at most 30 s). */
static void *supervisor(void *data)
{
	struct network_manager *m = data;

	pthread_mutex_lock(&m->sup_lock);
	while (!m->sup_stop) {
		struct timespec until;
		time_t now = mono_now();

		for (size_t i = 0; i < m->n_procs; i++) {
			struct dnsmasq_proc *p = &m->procs[i];
			int status;

			if (p->pid > 0 && waitpid(p->pid, &status, WNOHANG) == p->pid) {
				unsigned delay;

				p->quick_deaths = now - p->started < 10 ? p->quick_deaths + 1 : 0;
				/* At once the first time; then 2, 4, 8... s while it keeps dying
				 * young, so that a dnsmasq that cannot start does not spin. */
				delay = p->quick_deaths > 1
					    ? 1u << (p->quick_deaths < 6 ? p->quick_deaths - 1 : 5)
					    : 0;
				if (delay > 30)
					delay = 30;
				if (WIFSIGNALED(status))
					log_warn("dnsmasq of network \"%s\" (pid %d) was killed by "
						 "signal %d; restarting it in %u s",
						 p->network, (int)p->pid, WTERMSIG(status), delay);
				else
					log_warn(
					    "dnsmasq of network \"%s\" (pid %d) exited with status "
					    "%d; restarting it in %u s",
					    p->network, (int)p->pid, WEXITSTATUS(status), delay);
				p->pid = 0;
				p->restart_at = now + delay;
			}
			if (p->pid == 0 && p->restart_at <= now) {
				_cleanup_err_ struct err *e = NULL;
				pid_t pid;

				if (spawn_dnsmasq(p->argv, p->log, &pid, &e) < 0) {
					log_error("Cannot restart dnsmasq of network \"%s\": %s",
						  p->network, err_msg(e, -EIO));
					p->restart_at = now + 30;
					continue;
				}
				p->pid = pid;
				p->started = now;
				log_info("dnsmasq of network \"%s\" restarted (pid %d)", p->network,
					 (int)pid);
			}
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&m->sup_wake, &m->sup_lock, &until);
	}
	pthread_mutex_unlock(&m->sup_lock);
	return NULL;
}

int network_supervisor_start(struct network_manager *m, struct err **err)
{
	int r = pthread_create(&m->sup_thread, NULL, supervisor, m);

	if (r != 0)
		return err_set_errno(err, -r, "Cannot start the dnsmasq supervisor");
	m->sup_running = true;
	return 0;
}

/* ---- bringing a network up and down ---- */

/* Makes the kernel and dnsmasq match `s`. `create`: the bridge must not exist yet. */
static int network_up(struct network_manager *m, const struct network_spec *s, bool create,
		      struct err **err)
{
	_cleanup_free_ char *dir = net_dir(m, s->name);
	_cleanup_free_ char *hosts = NULL;
	enum netlink_link_kind kind;
	struct stat st;
	int r;

	if (!dir)
		return err_set(err, -ENOMEM, "Out of memory");
	r = mkdir_p(dir, 0700, err);
	if (r >= 0)
		r = grant_dnsmasq(dir, true, err);
	if (r < 0)
		return r;
	hosts = str_printf("%s/dnsmasq.hosts", dir);
	if (!hosts)
		return err_set(err, -ENOMEM, "Out of memory");
	if (stat(hosts, &st) < 0) {
		r = file_write(hosts, "", 0, 0600, err);
		if (r < 0)
			return r;
	}
	r = grant_dnsmasq(hosts, false, err);
	if (r < 0)
		return r;
	r = netlink_link_kind(s->name, &kind, err);
	if (r < 0)
		return r;
	if (kind == NETLINK_LINK_OTHER || (create && kind != NETLINK_LINK_ABSENT))
		return err_set(err, -EEXIST, "Interface \"%s\" already exists on the host",
			       s->name);
	if (kind == NETLINK_LINK_ABSENT)
		r = netlink_bridge_create(s->name, s->mtu, err);
	else
		r = netlink_link_setup(s->name, s->mtu, err);
	if (r < 0)
		return r;
	crashpoint("network-create-bridge");
	r = netlink_addr_sync(s->name, AF_INET, s->has_v4 ? &s->v4 : NULL, err);
	if (r < 0)
		return r;
	r = netlink_addr_sync(s->name, AF_INET6, s->has_v6 ? &s->v6 : NULL, err);
	if (r < 0)
		return r;
	/* Forwarding is a property of the namespace; NAT needs it. */
	if (s->has_v4 && s->v4_nat &&
	    (r = write_sysctl("/proc/sys/net/ipv4/ip_forward", "1", err)) < 0)
		return r;
	if (s->has_v6 && s->v6_nat &&
	    (r = write_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1", err)) < 0)
		return r;
	r = nft_apply(s, false, err);
	if (r < 0)
		return r;
	dnsmasq_stop(m, s->name);
	if (network_spec_wants_dnsmasq(s))
		return dnsmasq_start(m, s, err);
	return 0;
}

/* Removes everything of network `name` but its row; carries on past failures so that as much
 * as can go goes, and returns the first. `creating`: the network's create was under way (its
 * bridge may not carry cairn's mark yet). */
static int network_down(struct network_manager *m, const char *name, bool creating,
			struct err **err)
{
	struct network_spec s = {.name = name};
	_cleanup_free_ char *dir = net_dir(m, name);
	int r, ret = 0;

	dnsmasq_stop(m, name);
	r = nft_apply(&s, true, err);
	if (r < 0)
		ret = r;
	r = netlink_bridge_delete(name, creating, ret < 0 ? NULL : err);
	if (r < 0 && ret == 0)
		ret = r;
	if (dir) {
		r = rm_rf(dir, ret < 0 ? NULL : err);
		if (r < 0 && r != -ENOENT && ret == 0)
			ret = r;
	}
	return ret;
}

/* ---- checks and address choice ---- */

static uint32_t rnd32(void *data)
{
	uint32_t v;

	(void)data;
	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		v = (uint32_t)random();
	return v;
}

/* The subnets in use by the other networks of `rows`, of `family`, appended to *v. */
static int other_subnets(const struct db_network *rows, size_t n, const char *self, int family,
			 struct net_cidr **v, size_t *nv)
{
	const char *key = family == AF_INET ? "ipv4.address" : "ipv6.address";

	for (size_t i = 0; i < n; i++) {
		const char *a = kvlist_get(&rows[i].config, key);
		struct net_cidr c, *grown;

		if ((self && strcmp(rows[i].name, self) == 0) || !a ||
		    net_cidr_parse_host(a, family, &c, NULL) < 0)
			continue;
		grown = realloc(*v, (*nv + 1) * sizeof(**v));
		if (!grown)
			return -ENOMEM;
		*v = grown;
		(*v)[(*nv)++] = c;
	}
	return 0;
}

/*
 * Resolves "auto" and checks overlaps for one family of `config` of network `name`: the
 * default for a key that is not set is auto on create (`creating`), and auto also sets the nat
 * key when that is unset.
 */
static int resolve_family(const char *name, struct kvlist *config, int family,
			  const struct db_network *rows, size_t n, bool creating, struct err **err)
{
	const char *key = family == AF_INET ? "ipv4.address" : "ipv6.address";
	const char *nat = family == AF_INET ? "ipv4.nat" : "ipv6.nat";
	_cleanup_free_ struct net_cidr *used = NULL;
	_cleanup_free_ struct net_cidr *others = NULL;
	size_t n_used = 0, n_others = 0;
	const char *v = kvlist_get(config, key);
	struct net_cidr c;
	char buf[NET_CIDR_MAX];
	int r;

	if (!v && !creating)
		return 0;
	if (v && strcmp(v, "none") == 0)
		return 0;
	r = netlink_routes(family, name, &used, &n_used, err);
	if (r < 0)
		return r;
	if (other_subnets(rows, n, name, family, &others, &n_others) < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	if (!v || strcmp(v, "auto") == 0) {
		struct net_cidr *all = realloc(used, (n_used + n_others + 1) * sizeof(*all));

		if (!all)
			return err_set(err, -ENOMEM, "Out of memory");
		used = all;
		if (n_others)
			memcpy(used + n_used, others, n_others * sizeof(*others));
		r = family == AF_INET
			? net_auto_ipv4(used, n_used + n_others, rnd32, NULL, &c, err)
			: net_auto_ipv6(used, n_used + n_others, rnd32, NULL, &c, err);
		if (r < 0)
			return r;
		net_cidr_format(&c, buf, sizeof(buf));
		if (kvlist_set(config, key, buf) < 0 ||
		    (!kvlist_get(config, nat) && kvlist_set(config, nat, "true") < 0))
			return err_set(err, -ENOMEM, "Out of memory");
		return 0;
	}
	r = net_cidr_parse_host(v, family, &c, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		const char *a = kvlist_get(&rows[i].config, key);
		struct net_cidr o;

		if (strcmp(rows[i].name, name) == 0 || !a ||
		    net_cidr_parse_host(a, family, &o, NULL) < 0)
			continue;
		if (net_cidr_overlap(&c, &o))
			return err_set(err, -EINVAL, "Subnet of %s=%s overlaps network \"%s\" (%s)",
				       key, v, rows[i].name, a);
	}
	for (size_t i = 0; i < n_used; i++) {
		if (!net_cidr_overlap(&c, &used[i]))
			continue;
		net_cidr_format(&used[i], buf, sizeof(buf));
		return err_set(err, -EINVAL, "Subnet of %s=%s overlaps the route to %s of the host",
			       key, v, buf);
	}
	return 0;
}

/* Checks type, description and keys, then resolves the addresses of `config` in place. */
static int check_config(struct network_manager *m, const char *name, struct kvlist *config,
			const char *description, bool creating, struct err **err)
{
	struct db_network *rows = NULL;
	size_t n = 0;
	int r;

	if (description && (r = config_text_valid("description", description, err)) < 0)
		return r;
	for (size_t i = 0; i < config->n; i++) {
		r = config_text_valid(config->items[i].key, config->items[i].value, err);
		if (r < 0)
			return r;
		r = network_key_valid(config->items[i].key, config->items[i].value, err);
		if (r < 0)
			return r;
	}
	r = db_network_list(m->db, &rows, &n, err);
	if (r < 0)
		return r;
	r = resolve_family(name, config, AF_INET, rows, n, creating, err);
	if (r >= 0)
		r = resolve_family(name, config, AF_INET6, rows, n, creating, err);
	db_networks_free(rows, n);
	return r;
}

/* ---- the operations ---- */

int network_create(struct network_manager *m, const char *name, const char *type,
		   const char *description, const struct kvlist *config, struct err **err)
{
	_cleanup_kvlist_ struct kvlist resolved = {0};
	_cleanup_(network_spec_done) struct network_spec s = {0};
	_cleanup_(db_network_done) struct db_network old = {0};
	enum netlink_link_kind kind;
	struct db_network row = {0};
	int r;

	r = network_name_valid(name, err);
	if (r < 0)
		return r;
	if (type && *type && strcmp(type, "bridge") != 0)
		return err_set(err, -EINVAL,
			       "Unknown network type \"%s\" (only bridge is supported)", type);
	if (kvlist_copy(&resolved, config) < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	pthread_mutex_lock(&m->lock);
	r = db_network_get(m->db, name, &old, NULL);
	if (r >= 0 && old.state != DB_ROW_READY) {
		/* What a failed undo left (its row holds the name until it is gone): finish it. */
		r = network_down(m, name, old.state == DB_ROW_CREATING, err);
		if (r < 0 || (r = db_network_delete(m->db, name, err)) < 0)
			goto out;
	} else if (r >= 0) {
		r = err_set(err, -EEXIST, "Network \"%s\" already exists", name);
		goto out;
	}
	r = netlink_link_kind(name, &kind, err);
	if (r < 0)
		goto out;
	if (kind != NETLINK_LINK_ABSENT) {
		r = err_set(err, -EEXIST, "Interface \"%s\" already exists on the host", name);
		goto out;
	}
	if (!dnsmasq_path()) {
		r = err_set(err, -ENOENT,
			    "dnsmasq is not installed (Debian package dnsmasq-base): managed "
			    "networks need it for DHCP and DNS");
		goto out;
	}
	r = check_config(m, name, &resolved, description, true, err);
	if (r < 0)
		goto out;
	r = network_spec_read(name, &resolved, &s, err);
	if (r < 0)
		goto out;
	row = (struct db_network){.name = (char *)name,
				  .type = "bridge",
				  .description = (char *)(description ? description : ""),
				  .config = resolved,
				  .state = DB_ROW_CREATING};
	r = db_network_insert(m->db, &row, err);
	if (r < 0)
		goto out;
	crashpoint("network-create-row");
	r = network_up(m, &s, true, err);
	if (r >= 0) {
		crashpoint("network-create-up");
		r = db_network_set_state(m->db, name, DB_ROW_READY, err);
	}
	if (r < 0) {
		_cleanup_err_ struct err *e = NULL;

		if (network_down(m, name, true, &e) < 0 || db_network_delete(m->db, name, &e) < 0)
			err_log_ignored(e, -EIO, "Undoing the create of network \"%s\"", name);
	}
out:
	pthread_mutex_unlock(&m->lock);
	return r;
}

int network_update(struct network_manager *m, const char *name, const struct kvlist *config,
		   const char *description, struct err **err)
{
	_cleanup_(db_network_done) struct db_network old = {0};
	_cleanup_kvlist_ struct kvlist resolved = {0};
	_cleanup_(network_spec_done) struct network_spec s = {0}, olds = {0};
	int r;

	if (kvlist_copy(&resolved, config) < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	pthread_mutex_lock(&m->lock);
	r = db_network_get(m->db, name, &old, err);
	if (r < 0)
		goto out;
	if (old.state != DB_ROW_READY) {
		r = err_set(err, -EBUSY, "Network \"%s\" is being created or deleted", name);
		goto out;
	}
	r = check_config(m, name, &resolved, description, false, err);
	if (r < 0)
		goto out;
	r = network_spec_read(name, &resolved, &s, err);
	if (r < 0)
		goto out;
	r = network_spec_read(name, &old.config, &olds, err);
	if (r < 0)
		goto out;
	r = network_up(m, &s, false, err);
	if (r >= 0)
		r = db_network_update(m->db, name, &resolved, description, err);
	if (r < 0) {
		_cleanup_err_ struct err *e = NULL;

		if (network_up(m, &olds, false, &e) < 0)
			err_log_ignored(e, -EIO, "Putting back the settings of network \"%s\"",
					name);
	}
out:
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* True when `keys` is a nic on network `name` (managed, or bridged on its bridge). */
static bool nic_on(const struct kvlist *keys, const char *name)
{
	const char *type = kvlist_get(keys, "type"), *net = kvlist_get(keys, "network");
	const char *parent = kvlist_get(keys, "parent");

	if (!type || strcmp(type, "nic") != 0)
		return false;
	return (net && strcmp(net, name) == 0) || (!net && parent && strcmp(parent, name) == 0);
}

static bool devices_use(const struct devices *d, const char *name)
{
	for (size_t i = 0; i < d->n; i++)
		if (nic_on(&d->items[i].keys, name))
			return true;
	return false;
}

int network_used_by(struct network_manager *m, const char *name, char ***ret, struct err **err)
{
	_cleanup_strv_ char **v = calloc(1, sizeof(char *));
	struct db_instance *insts = NULL;
	struct profile *profiles = NULL;
	size_t n_insts = 0, n_profiles = 0;
	int r;

	if (!v)
		return err_set(err, -ENOMEM, "Out of memory");
	/* The expanded devices: an instance that gets its nic from a profile uses the network
	 * as much as one that has its own. */
	r = db_instance_list(m->db, &insts, &n_insts, err);
	if (r < 0)
		return r;
	for (size_t i = 0; r >= 0 && i < n_insts; i++) {
		_cleanup_free_ char *url = NULL;

		if (!devices_use(&insts[i].expanded_devices, name))
			continue;
		url = str_printf("/1.0/instances/%s", insts[i].name);
		if (!url || strv_push(&v, url) < 0)
			r = err_set(err, -ENOMEM, "Out of memory");
	}
	db_instances_free(insts, n_insts);
	if (r < 0)
		return r;
	r = db_profile_list(m->db, &profiles, &n_profiles, err);
	if (r < 0)
		return r;
	for (size_t i = 0; r >= 0 && i < n_profiles; i++) {
		_cleanup_free_ char *url = NULL;

		if (!devices_use(&profiles[i].devices, name))
			continue;
		url = str_printf("/1.0/profiles/%s", profiles[i].name);
		if (!url || strv_push(&v, url) < 0)
			r = err_set(err, -ENOMEM, "Out of memory");
	}
	profiles_free(profiles, n_profiles);
	if (r < 0)
		return r;
	*ret = steal_pointer(&v);
	return 0;
}

/* -EBUSY naming the users of network `name` when it has any. */
static int refuse_in_use(struct network_manager *m, const char *name, const char *what,
			 struct err **err)
{
	_cleanup_strv_ char **users = NULL;
	_cleanup_free_ char *list = NULL;
	int r = network_used_by(m, name, &users, err);

	if (r < 0)
		return r;
	if (!users[0])
		return 0;
	list = strdup("");
	for (size_t i = 0; list && users[i]; i++) {
		char *more = str_printf("%s%s%s", list, i ? ", " : "", users[i]);

		free(list);
		list = more;
	}
	return err_set(err, -EBUSY, "Network \"%s\" is in use (by %s); %s", name,
		       list ? list : "instances", what);
}

int network_delete(struct network_manager *m, const char *name, struct err **err)
{
	_cleanup_(db_network_done) struct db_network old = {0};
	int r;

	pthread_mutex_lock(&m->lock);
	r = db_network_get(m->db, name, &old, err);
	if (r < 0)
		goto out;
	r = refuse_in_use(m, name, "remove it from them first", err);
	if (r < 0)
		goto out;
	r = db_network_set_state(m->db, name, DB_ROW_DELETING, err);
	if (r < 0)
		goto out;
	crashpoint("network-delete-row");
	r = network_down(m, name, false, err);
	if (r >= 0)
		r = db_network_delete(m->db, name, err);
out:
	pthread_mutex_unlock(&m->lock);
	return r;
}

int network_rename(struct network_manager *m, const char *name, const char *new_name,
		   struct err **err)
{
	_cleanup_(db_network_done) struct db_network old = {0}, taken = {0};
	_cleanup_(network_spec_done) struct network_spec s = {0};
	_cleanup_free_ char *from = NULL, *to = NULL;
	enum netlink_link_kind kind;
	int r;

	r = network_name_valid(new_name, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&m->lock);
	r = db_network_get(m->db, name, &old, err);
	if (r < 0)
		goto out;
	if (db_network_get(m->db, new_name, &taken, NULL) >= 0) {
		r = err_set(err, -EEXIST, "Network \"%s\" already exists", new_name);
		goto out;
	}
	r = netlink_link_kind(new_name, &kind, err);
	if (r < 0)
		goto out;
	if (kind != NETLINK_LINK_ABSENT) {
		r = err_set(err, -EEXIST, "Interface \"%s\" already exists on the host", new_name);
		goto out;
	}
	r = refuse_in_use(m, name, "it cannot be renamed", err);
	if (r < 0)
		goto out;
	r = network_spec_read(new_name, &old.config, &s, err);
	if (r < 0)
		goto out;
	from = net_dir(m, name);
	to = net_dir(m, new_name);
	if (!from || !to) {
		r = err_set(err, -ENOMEM, "Out of memory");
		goto out;
	}
	/* The old network goes down whole, the row takes the new name, and the network comes
	 * up under it with its leases: a crash in between leaves one of the two names, which
	 * the next start brings up (and sweeps the other's bridge). */
	dnsmasq_stop(m, name);
	{
		struct network_spec gone = {.name = name};

		r = nft_apply(&gone, true, err);
		if (r < 0)
			goto out;
	}
	r = netlink_bridge_rename(name, new_name, err);
	if (r < 0)
		goto back;
	if (rename(from, to) < 0) {
		r = err_set_errno(err, -errno, "Failed to rename \"%s\"", from);
		netlink_bridge_rename(new_name, name, NULL);
		goto back;
	}
	r = db_network_rename(m->db, name, new_name, err);
	if (r < 0) {
		rename(to, from);
		netlink_bridge_rename(new_name, name, NULL);
		goto back;
	}
	{
		_cleanup_err_ struct err *e = NULL;

		/* The rename is done; a network that does not come up is what a start finds too:
		 * logged, and tried again at the next start or change. */
		r = network_up(m, &s, false, &e);
		if (r < 0)
			log_error("Network \"%s\" renamed to \"%s\" but not up: %s", name, new_name,
				  err_msg(e, r));
		r = 0;
	}
	goto out;
back : {
	/* Put the old name's network back up as it was. */
	_cleanup_(network_spec_done) struct network_spec olds = {0};
	_cleanup_err_ struct err *e = NULL;

	if (network_spec_read(name, &old.config, &olds, &e) < 0 ||
	    network_up(m, &olds, false, &e) < 0)
		err_log_ignored(e, -EIO, "Bringing network \"%s\" back up", name);
}
out:
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* ---- start-up ---- */

int network_recover(struct network_manager *m, struct err **err)
{
	_cleanup_strv_ char **ours = NULL;
	_cleanup_closedir_ DIR *dir = NULL;
	struct db_network *rows = NULL;
	size_t n = 0;
	struct dirent *de;
	int r;

	r = db_network_list(m->db, &rows, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		_cleanup_err_ struct err *e = NULL;

		if (rows[i].state == DB_ROW_READY)
			continue;
		log_info("Removing network \"%s\" left %s by the last run", rows[i].name,
			 rows[i].state == DB_ROW_CREATING ? "half created" : "half deleted");
		if (network_down(m, rows[i].name, rows[i].state == DB_ROW_CREATING, &e) < 0 ||
		    db_network_delete(m->db, rows[i].name, &e) < 0)
			err_log_ignored(e, -EIO, "Removing network \"%s\"", rows[i].name);
	}
	db_networks_free(rows, n);
	rows = NULL;
	r = db_network_list(m->db, &rows, &n, err);
	if (r < 0)
		return r;
	/* Bridges of ours and directories without a row: what a crash or a failed undo left. */
	if (netlink_our_bridges(&ours, NULL) >= 0) {
		for (size_t i = 0; ours[i]; i++) {
			bool known = false;

			for (size_t j = 0; j < n; j++)
				known = known || strcmp(rows[j].name, ours[i]) == 0;
			if (known)
				continue;
			log_info("Removing bridge \"%s\", which no network owns", ours[i]);
			netlink_bridge_delete(ours[i], false, NULL);
		}
	}
	dir = opendir(m->dir);
	while (dir && (de = readdir(dir))) {
		bool known = false;

		if (de->d_name[0] == '.')
			continue;
		for (size_t j = 0; j < n; j++)
			known = known || strcmp(rows[j].name, de->d_name) == 0;
		if (known)
			continue;
		log_info("Removing \"%s/%s\", which no network owns", m->dir, de->d_name);
		network_down(m, de->d_name, false, NULL);
	}
	db_networks_free(rows, n);
	return 0;
}

void network_start_all(struct network_manager *m)
{
	struct db_network *rows = NULL;
	_cleanup_err_ struct err *e = NULL;
	size_t n = 0;
	int r;

	r = db_network_list(m->db, &rows, &n, &e);
	if (r < 0) {
		log_error("Networks not started: %s", err_msg(e, r));
		return;
	}
	pthread_mutex_lock(&m->lock);
	/* The table is cairn's alone: start from an empty one, so no rule of a network that is
	 * gone survives. */
	if (n > 0 && nft_run("add table inet " NETWORK_NFT_TABLE "\n"
			     "delete table inet " NETWORK_NFT_TABLE "\n",
			     "cairn", &e) < 0) {
		log_error("%s", err_msg(e, -EIO));
		err_free(e);
		e = NULL;
	}
	for (size_t i = 0; i < n; i++) {
		_cleanup_(network_spec_done) struct network_spec s = {0};
		_cleanup_err_ struct err *ne = NULL;

		if (rows[i].state != DB_ROW_READY)
			continue;
		r = network_spec_read(rows[i].name, &rows[i].config, &s, &ne);
		if (r >= 0)
			r = network_up(m, &s, false, &ne);
		if (r < 0)
			log_error("Network \"%s\" is not up: %s", rows[i].name, err_msg(ne, r));
		else
			log_info("Network \"%s\" is up", rows[i].name);
	}
	pthread_mutex_unlock(&m->lock);
	db_networks_free(rows, n);
}

/* ---- state and leases ---- */

void network_link_state_done(struct network_link_state *s)
{
	if (!s)
		return;
	strv_free(s->addresses);
	*s = (struct network_link_state){0};
}

int network_state(struct network_manager *m, const char *name, struct network_link_state *ret,
		  struct err **err)
{
	_cleanup_(db_network_done) struct db_network row = {0};
	struct network_link_state st = {0};
	int r;

	r = db_network_get(m->db, name, &row, err);
	if (r < 0)
		return r;
	r = netlink_link_state(name, &st, err);
	if (r < 0) {
		network_link_state_done(&st);
		return r;
	}
	*ret = st;
	return 0;
}

int network_leases(struct network_manager *m, const char *name, struct network_lease **ret,
		   size_t *ret_n, struct err **err)
{
	_cleanup_(db_network_done) struct db_network row = {0};
	_cleanup_free_ char *dir = NULL, *leases = NULL, *hosts = NULL, *lt = NULL, *ht = NULL;
	int r;

	r = db_network_get(m->db, name, &row, err);
	if (r < 0)
		return r;
	dir = net_dir(m, name);
	leases = dir ? str_printf("%s/dnsmasq.leases", dir) : NULL;
	hosts = dir ? str_printf("%s/dnsmasq.hosts", dir) : NULL;
	if (!leases || !hosts)
		return err_set(err, -ENOMEM, "Out of memory");
	file_read_all(leases, &lt, NULL, NULL);
	file_read_all(hosts, &ht, NULL, NULL);
	if (network_leases_parse(lt, ht, ret, ret_n) < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	return 0;
}

/* ---- nics: reservations and names ---- */

int network_nic_check(struct db *db, const char *network, const char *ipv4, struct err **err)
{
	_cleanup_(db_network_done) struct db_network row = {0};
	const char *addr;
	struct net_cidr c;
	uint8_t ip[16] = {0};
	int r;

	r = db_network_get(db, network, &row, err);
	if (r == -ENOENT || (r >= 0 && row.state != DB_ROW_READY))
		return err_set(err, -ENOENT, "Network \"%s\" not found", network);
	if (r < 0)
		return r;
	if (!ipv4)
		return 0;
	addr = kvlist_get(&row.config, "ipv4.address");
	if (!addr || net_cidr_parse_host(addr, AF_INET, &c, NULL) < 0)
		return err_set(err, -EINVAL,
			       "Network \"%s\" has no IPv4 subnet for ipv4.address=%s", network,
			       ipv4);
	if (net_addr_parse(ipv4, AF_INET, ip) < 0 || !net_cidr_contains(&c, ip))
		return err_set(err, -EINVAL, "ipv4.address=%s is not in network \"%s\" (%s)", ipv4,
			       network, addr);
	{
		struct net_cidr sub = net_cidr_subnet(&c);
		uint32_t hm = (uint32_t)(0xffffffffu >> c.prefix);
		uint32_t a =
		    (uint32_t)ip[0] << 24 | (uint32_t)ip[1] << 16 | (uint32_t)ip[2] << 8 | ip[3];

		if (memcmp(ip, c.addr, 4) == 0 || memcmp(ip, sub.addr, 4) == 0 || (a & hm) == hm)
			return err_set(err, -EINVAL,
				       "ipv4.address=%s is the bridge's, the subnet's or the "
				       "broadcast address of network \"%s\"",
				       ipv4, network);
	}
	return 0;
}

/* One line of the hosts file, split in place. */
struct host_line {
	char *hwaddr, *ipv4, *name;
};

/* Splits `text` (modified) into lines; *ret the caller's to free. */
static int hosts_read(char *text, struct host_line **ret, size_t *ret_n)
{
	struct host_line *v = NULL;
	size_t n = 0;
	char *save = NULL;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[3] = {0}, *fs = NULL;
		size_t nf = 0;
		struct host_line *nv;

		for (char *t = strtok_r(line, ",", &fs); t && nf < 3; t = strtok_r(NULL, ",", &fs))
			f[nf++] = t;
		if (nf < 2)
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			free(v);
			return -ENOMEM;
		}
		v = nv;
		v[n++] = nf == 3 ? (struct host_line){f[0], f[1], f[2]}
				 : (struct host_line){f[0], NULL, f[1]};
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* Writes the hosts file of `network` from `lines` (the ones with a NULL hwaddr left out) when
 * it differs from `old`, and tells its dnsmasq. */
static int hosts_write(struct network_manager *m, const char *network, const char *old,
		       const struct host_line *lines, size_t n, struct err **err)
{
	_cleanup_free_ struct network_host *hosts = calloc(n + 1, sizeof(*hosts));
	_cleanup_free_ char *text = NULL, *path = NULL, *dir = net_dir(m, network);
	size_t k = 0;
	int r;

	if (!hosts || !dir)
		return err_set(err, -ENOMEM, "Out of memory");
	for (size_t i = 0; i < n; i++)
		if (lines[i].hwaddr)
			hosts[k++] =
			    (struct network_host){lines[i].hwaddr, lines[i].ipv4, lines[i].name};
	text = network_dnsmasq_hosts(hosts, k);
	path = str_printf("%s/dnsmasq.hosts", dir);
	if (!text || !path)
		return err_set(err, -ENOMEM, "Out of memory");
	if (old && strcmp(old, text) == 0)
		return 0;
	{
		_cleanup_free_ char *tmp = NULL;

		r = file_write_prepare(path, text, strlen(text), 0600, &tmp, err);
		if (r < 0)
			return r;
		r = grant_dnsmasq(tmp, false, err);
		if (r < 0) {
			unlink(tmp);
			return r;
		}
		r = file_write_commit(tmp, path, err);
		if (r < 0)
			return r;
	}
	/* dnsmasq reads --dhcp-hostsfile again on SIGHUP. */
	pthread_mutex_lock(&m->sup_lock);
	for (size_t i = 0; i < m->n_procs; i++)
		if (strcmp(m->procs[i].network, network) == 0 && m->procs[i].pid > 0)
			kill(m->procs[i].pid, SIGHUP);
	pthread_mutex_unlock(&m->sup_lock);
	return 0;
}

int network_host_set(struct network_manager *m, const char *network, const char *instance,
		     const char *hwaddr, const char *ipv4, struct err **err)
{
	_cleanup_(db_network_done) struct db_network row = {0};
	_cleanup_free_ char *dir = net_dir(m, network), *path = NULL, *text = NULL, *old = NULL;
	_cleanup_free_ struct host_line *lines = NULL;
	struct host_line *grown;
	size_t n = 0;
	int r;

	if (!dir)
		return err_set(err, -ENOMEM, "Out of memory");
	pthread_mutex_lock(&m->lock);
	r = network_nic_check(m->db, network, ipv4, err);
	if (r < 0)
		goto out;
	path = str_printf("%s/dnsmasq.hosts", dir);
	if (!path) {
		r = err_set(err, -ENOMEM, "Out of memory");
		goto out;
	}
	if (file_read_all(path, &text, NULL, NULL) < 0 && !(text = strdup(""))) {
		r = err_set(err, -ENOMEM, "Out of memory");
		goto out;
	}
	old = strdup(text);
	if (!old || hosts_read(text, &lines, &n) < 0) {
		r = err_set(err, -ENOMEM, "Out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		bool mine = strcmp(lines[i].name, instance) == 0 ||
			    strcasecmp(lines[i].hwaddr, hwaddr) == 0;

		if (mine) {
			lines[i].hwaddr = NULL;
			continue;
		}
		if (ipv4 && lines[i].ipv4 && strcmp(lines[i].ipv4, ipv4) == 0) {
			r = err_set(err, -EEXIST,
				    "Address %s of network \"%s\" is reserved for instance \"%s\"",
				    ipv4, network, lines[i].name);
			goto out;
		}
	}
	grown = realloc(lines, (n + 1) * sizeof(*lines));
	if (!grown) {
		r = err_set(err, -ENOMEM, "Out of memory");
		goto out;
	}
	lines = grown;
	lines[n++] = (struct host_line){(char *)hwaddr, (char *)ipv4, (char *)instance};
	r = hosts_write(m, network, old, lines, n, err);
out:
	pthread_mutex_unlock(&m->lock);
	return r;
}

void network_host_forget(struct network_manager *m, const char *instance)
{
	struct db_network *rows = NULL;
	size_t n_rows = 0;

	if (db_network_list(m->db, &rows, &n_rows, NULL) < 0)
		return;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < n_rows; i++) {
		_cleanup_free_ char *dir = net_dir(m, rows[i].name), *path = NULL, *text = NULL,
				    *old = NULL;
		_cleanup_free_ struct host_line *lines = NULL;
		_cleanup_err_ struct err *e = NULL;
		size_t n = 0;

		path = dir ? str_printf("%s/dnsmasq.hosts", dir) : NULL;
		if (!path || file_read_all(path, &text, NULL, NULL) < 0 || !(old = strdup(text)) ||
		    hosts_read(text, &lines, &n) < 0)
			continue;
		for (size_t j = 0; j < n; j++)
			if (strcmp(lines[j].name, instance) == 0)
				lines[j].hwaddr = NULL;
		if (hosts_write(m, rows[i].name, old, lines, n, &e) < 0)
			err_log_ignored(e, -EIO, "Removing instance \"%s\" from network \"%s\"",
					instance, rows[i].name);
	}
	pthread_mutex_unlock(&m->lock);
	db_networks_free(rows, n_rows);
}

int network_bridge_ready(struct network_manager *m, const char *network, struct err **err)
{
	_cleanup_(db_network_done) struct db_network row = {0};
	enum netlink_link_kind kind;
	int r;

	r = db_network_get(m->db, network, &row, err);
	if (r == -ENOENT || (r >= 0 && row.state != DB_ROW_READY))
		return err_set(err, -ENOENT, "Network \"%s\" not found", network);
	if (r < 0)
		return r;
	r = netlink_link_kind(network, &kind, err);
	if (r < 0)
		return r;
	if (kind != NETLINK_LINK_OURS)
		return err_set(err, -ENETDOWN,
			       "Network \"%s\" is not up (its bridge is missing; the daemon's log "
			       "says why)",
			       network);
	return 0;
}

/* ---- an instance's interfaces ---- */

void network_ifaces_free(struct network_iface *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		network_link_state_done(&v[i].st);
	free(v);
}

struct ifaces_job {
	int nsfd;
	struct network_iface *v;
	size_t n;
	int r;
	struct err *e;
};

static void *ifaces_thread(void *data)
{
	struct ifaces_job *job = data;

	/* This thread alone moves; it ends right after, so no other work ever runs in the
	 * instance's namespace. */
	if (setns(job->nsfd, CLONE_NEWNET) < 0) {
		job->r = err_set_errno(&job->e, -errno, "Cannot enter the instance's network");
		return NULL;
	}
	job->r = netlink_ifaces(&job->v, &job->n, &job->e);
	return NULL;
}

int network_instance_ifaces(pid_t pid, struct network_iface **ret, size_t *ret_n, struct err **err)
{
	_cleanup_free_ char *path = str_printf("/proc/%d/ns/net", (int)pid);
	_cleanup_close_ int fd = -EBADF;
	struct ifaces_job job = {.nsfd = -EBADF};
	pthread_t t;
	int r;

	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(err, errno == ENOENT ? -ESRCH : -errno,
				     "Cannot open the network namespace of process %d", (int)pid);
	job.nsfd = fd;
	r = pthread_create(&t, NULL, ifaces_thread, &job);
	if (r != 0)
		return err_set_errno(err, -r, "Cannot start a thread");
	pthread_join(t, NULL);
	if (job.r < 0) {
		if (err && !*err)
			*err = job.e;
		else
			err_free(job.e);
		return job.r;
	}
	*ret = job.v;
	*ret_n = job.n;
	return 0;
}
