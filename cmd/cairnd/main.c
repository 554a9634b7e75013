/*
 * cairnd: the daemon. `cairnd [--group GROUP] [--debug]` serves the API;
 * `cairnd init [--auto] [--storage-backend btrfs|dir] [--storage-size SIZE] [--network NAME|none]`
 * prepares $CAIRN_DIR (default pool, busybox image, the managed bridge cairnbr0 with eth0 on it
 * in the default profile) and exits. Starting a container, running a command
 * in one and dumping or restoring one with CRIU happen outside the multithreaded daemon, in the
 * cairn-fork helper program (instance/fork.h), which find_helper() locates; `cairnd forkfile ...`
 * is the hidden helper that reaches the files of a running container in its namespaces (it needs
 * the daemon's modules, not only liblxc).
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cairnd/daemon.h"
#include "cmd/cairnd/ephemeral.h"
#include "cmd/cairnd/events.h"
#include "cmd/cairnd/operations.h"
#include "cmd/cairnd/copier.h"
#include "cmd/cairnd/scheduler.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "instance/files.h"
#include "instance/fork.h"
#include "instance/lxc.h"
#include "network/spec.h"
#include "storage/storage.h"

#define VERSION "0.1.0"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: cairnd [--group GROUP] [--restricted] [--debug]\n"
		"       cairnd init [--auto] [--storage-backend btrfs|dir] [--storage-size SIZE]\n"
		"                   [--network NAME|none]\n"
		"\n"
		"The cairn daemon. It keeps its state in $CAIRN_DIR (default /var/lib/cairn) and\n"
		"serves the API on $CAIRN_DIR/unix.socket to root and the admin group.\n"
		"\n"
		"  --group GROUP   the admin group (default cairn-admin)\n"
		"  --restricted    the admin group may make neither privileged containers\n"
		"                  nor host-path disks (root still may). Without it, a member\n"
		"                  of the admin group can become root on the host through them\n"
		"  --debug         log debug messages\n");
}

/*
 * The cairn-fork helper: $CAIRN_FORK_HELPER when set (tests, unusual layouts); else next to this
 * binary when it is there (the build tree); else where `cmake --install` puts it relative to the
 * installed cairnd (so that a prefix chosen at install time works); else the libexec path the
 * build was configured with. A missing helper does not stop the daemon: starts and execs are
 * refused with its path in the message, and the log says so now.
 */
static char *find_helper(const char *exe)
{
	const char *env = getenv("CAIRN_FORK_HELPER");
	_cleanup_free_ char *dir = NULL, *beside = NULL, *installed = NULL;
	char *slash;

	if (env && *env)
		return strdup(env);
	dir = strdup(exe);
	if (!dir)
		return NULL;
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	beside = str_printf("%s/" INSTANCE_FORK_HELPER, dir);
	installed = str_printf("%s/" CAIRN_HELPER_FROM_BINDIR "/" INSTANCE_FORK_HELPER, dir);
	if (!beside || !installed)
		return NULL;
	if (access(beside, F_OK) == 0)
		return steal_pointer(&beside);
	/* Without the "bin/.." in the path, as the install has it. */
	if (access(installed, F_OK) == 0)
		return realpath(installed, NULL) ?: steal_pointer(&installed);
	return strdup(CAIRN_HELPER_DIR "/" INSTANCE_FORK_HELPER);
}

static int daemon_init_fields(struct daemon *d, const char *group)
{
	const char *dir = getenv("CAIRN_DIR");
	char exe[4096];
	ssize_t n;

	memset(d, 0, sizeof(*d));
	d->lock_fd = -EBADF;
	d->listen_fd = -EBADF;
	pthread_mutex_init(&d->busy_lock, NULL);
	d->dir = strdup(dir && *dir ? dir : "/var/lib/cairn");
	d->group_name = strdup(group);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -errno;
	exe[n] = '\0';
	d->helper = find_helper(exe);
	d->self_exe = strdup(exe);
	if (!d->dir || !d->group_name || !d->helper || !d->self_exe)
		return -ENOMEM;
	/* Trailing slashes would make paths that differ from what the client computes. */
	for (size_t l = strlen(d->dir); l > 1 && d->dir[l - 1] == '/'; l--)
		d->dir[l - 1] = '\0';
	return 0;
}

static void daemon_free_fields(struct daemon *d)
{
	daemon_done(d);
	free(d->dir);
	free(d->group_name);
	free(d->helper);
	free(d->self_exe);
}

static int run_init(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"auto", no_argument, NULL, 'a'},
	    {"storage-backend", required_argument, NULL, 'b'},
	    {"storage-size", required_argument, NULL, 's'},
	    {"network", required_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	_cleanup_err_ struct err *e = NULL;
	/* CAIRN_INIT_NETWORK gives the default of --network: the test suites set it to "none",
	 * so that a `cairnd init` of theirs never makes a bridge on the host. */
	const char *network = getenv("CAIRN_INIT_NETWORK") && *getenv("CAIRN_INIT_NETWORK")
				  ? getenv("CAIRN_INIT_NETWORK")
				  : "cairnbr0";
	const char *backend = NULL;
	uint64_t size = 0;
	struct daemon d;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			break;
		case 'b':
			if (strcmp(optarg, "btrfs") != 0 && strcmp(optarg, "dir") != 0) {
				fprintf(
				    stderr,
				    "Error: Unknown storage backend \"%s\" (use btrfs or dir)\n",
				    optarg);
				return 1;
			}
			backend = optarg;
			break;
		case 's':
			if (parse_size(optarg, &size, &e) < 0) {
				fprintf(stderr, "Error: %s\n", err_msg(e, -EINVAL));
				return 1;
			}
			break;
		case 'n':
			if (strcmp(optarg, "none") != 0 && network_name_valid(optarg, &e) < 0) {
				fprintf(stderr, "Error: %s\n", err_msg(e, -EINVAL));
				return 1;
			}
			network = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "Error: unexpected argument \"%s\"\n", argv[optind]);
		return 1;
	}
	if (strcmp(network, "none") != 0 && network_name_valid(network, &e) < 0) {
		fprintf(stderr, "Error: %s\n", err_msg(e, -EINVAL));
		return 1;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "Error: cairnd init must run as root\n");
		return 1;
	}
	r = daemon_init_fields(&d, "cairn-admin");
	if (r < 0) {
		fprintf(stderr, "Error: %s\n", strerror(-r));
		return 1;
	}
	r = daemon_setup(&d, backend, size, &e);
	if (r == -EBUSY) {
		fprintf(stderr,
			"Error: cairnd is running on \"%s\"; it initialised itself when it first "
			"started (see `cairn storage list`)\n",
			d.dir);
		daemon_free_fields(&d);
		return 1;
	}
	if (r < 0) {
		fprintf(stderr, "Error: %s\n", err_msg(e, r));
		daemon_free_fields(&d);
		return 1;
	}
	for (size_t i = 0; i < d.env.n_pools; i++)
		printf("Storage pool \"%s\": %s on %s\n", d.env.pools[i].name,
		       d.env.pools[i].driver, d.env.pools[i].source);
	printf("Image \"busybox\" is ready\n");
	if (strcmp(network, "none") != 0) {
		r = daemon_init_network(&d, network, stdout, &e);
		if (r < 0) {
			fprintf(stderr, "Error: %s\n", err_msg(e, r));
			daemon_free_fields(&d);
			return 1;
		}
	}
	daemon_free_fields(&d);
	return 0;
}

static int run_daemon(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"group", required_argument, NULL, 'g'}, {"debug", no_argument, NULL, 'd'},
	    {"restricted", no_argument, NULL, 'r'},  {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},     {},
	};
	_cleanup_err_ struct err *e = NULL;
	const char *group = "cairn-admin";
	bool restricted = false;
	struct daemon d;
	sigset_t set;
	int c, r, sig;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'g':
			group = optarg;
			break;
		case 'd':
			log_set_level(LOG_LEVEL_DEBUG);
			break;
		case 'r':
			restricted = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("%s\n", VERSION);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "Error: unknown command \"%s\"\n", argv[optind]);
		return 1;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "Error: cairnd must run as root\n");
		return 1;
	}

	/* Signals are taken synchronously by the main thread; every other thread inherits the
	 * mask, so none of them is interrupted. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	r = daemon_init_fields(&d, group);
	if (r < 0) {
		fprintf(stderr, "Error: %s\n", strerror(-r));
		return 1;
	}
	d.restricted = restricted;
	r = daemon_setup(&d, NULL, 0, &e);
	if (r >= 0)
		r = daemon_server_start(&d, &e);
	if (r < 0) {
		log_error("%s", err_msg(e, r));
		daemon_free_fields(&d);
		return 1;
	}
	log_info("cairnd %s serving on %s/unix.socket (group \"%s\"%s)", VERSION, d.dir, group,
		 restricted ? ", restricted" : "");
	{
		_cleanup_err_ struct err *he = NULL;

		r = instance_helper_check(d.helper, &he);
		if (r < 0)
			log_error("Instances cannot be started nor commands run in them: %s",
				  err_msg(he, r));
		else
			log_debug("Helper program: %s", d.helper);
	}
	{
		_cleanup_err_ struct err *ne = NULL;

		r = daemon_networks_start(&d, &ne);
		if (r < 0)
			log_error("Managed networks are not available: %s", err_msg(ne, r));
	}
	/* Before autostart, which would start again what stopped while the daemon was down. */
	ephemeral_reap_at_start(&d);
	instance_autostart(&d.env);
	r = ephemeral_start(&d, &e);
	if (r < 0)
		log_error("Ephemeral instances that stop on their own are kept: %s", err_msg(e, r));
	/* After autostart, so that the catch-up pass sees the instances running that will run. */
	r = scheduler_start(&d, &e);
	if (r < 0)
		log_error("The snapshot scheduler is off: %s", err_msg(e, r));
	{
		_cleanup_err_ struct err *ce = NULL;

		r = copier_start(&d, &ce);
		if (r < 0)
			log_error("The snapshot server is off: %s", err_msg(ce, r));
	}

	for (;;) {
		struct timespec tick = {.tv_sec = 60};

		sig = sigtimedwait(&set, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT)
			break;
	}
	log_info("Shutting down (instances keep running)");
	events_shutdown();
	scheduler_stop();
	copier_stop();
	ephemeral_stop();
	daemon_server_stop(&d);
	operation_drain();
	daemon_free_fields(&d);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "forkfile") == 0)
		return instance_forkfile_main(argc, argv);
	if (argc > 1 && strcmp(argv[1], "init") == 0)
		return run_init(argc - 1, argv + 1);
	return run_daemon(argc, argv);
}
