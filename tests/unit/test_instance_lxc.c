/*
 * Real containers through liblxc (root only, visibly skipped otherwise): build the busybox
 * rootfs, shift it into root's subordinate range, render the config with limits, start it
 * through the forkstart helper (this executable), check the state, the uid of init and the
 * limits in the host's cgroup files, then stop it. Everything lives in a temporary directory
 * and the container is stopped even when an assertion fails.
 */

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/kvlist.h"
#include "common/util.h"
#include "instance/idmap.h"
#include "instance/image.h"
#include "instance/fork.h"
#include "instance/lxc.h"
#include "instance/lxcconf.h"

struct fixture {
	char tmp[64];
	char name[64];
	char *self_exe;
	char *lxcpath; /* tmp/containers */
	char *image;   /* tmp/image (rootfs/ inside) */
	char *log_dir; /* tmp/logs/<name> */
	char *config;  /* tmp/logs/<name>/lxc.conf */
	struct idmap idmap;
	bool started;
};

static struct fixture *current;

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int write_config(struct fixture *f, const char *rootfs, const struct kvlist *config,
			struct err **err)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ char *log = str_printf("%s/lxc.log", f->log_dir);
	_cleanup_free_ char *console = str_printf("%s/console.log", f->log_dir);
	_cleanup_free_ char *seccomp = str_printf("%s/seccomp.profile", f->log_dir);
	struct sysinfo si;
	struct instance_lxc_spec spec = {
	    .name = f->name,
	    .rootfs_path = rootfs,
	    .log_path = log,
	    .console_log = console,
	    .seccomp_profile = seccomp,
	    .config = config,
	    .idmap = f->idmap,
	    .cgroup = instance_cgroup_detect(),
	    .host_cpus = (unsigned)sysconf(_SC_NPROCESSORS_ONLN),
	};
	int r;

	if (sysinfo(&si) == 0)
		spec.host_memory = (uint64_t)si.totalram * si.mem_unit;
	r = instance_lxc_config_render(&spec, &text, err);
	if (r < 0)
		return r;
	r = file_write_atomic(seccomp, instance_seccomp_profile(),
			      strlen(instance_seccomp_profile()), 0600, err);
	if (r < 0)
		return r;
	return file_write_atomic(f->config, text, strlen(text), 0600, err);
}

static int group_setup(void **state)
{
	struct fixture *f;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *rootfs = NULL;
	_cleanup_free_ char *logs = NULL;
	int r;

	if (geteuid() != 0) {
		print_message("skipped: starting containers needs root\n");
		exit(77);
	}
	if (access("/bin/busybox", X_OK) < 0) {
		print_message("skipped: no /bin/busybox (install busybox-static)\n");
		exit(77);
	}
	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	r = instance_idmap_load("/etc/subuid", "/etc/subgid", false, &f->idmap, &e);
	if (r < 0) {
		print_message("skipped: %s\n", err_msg(e, r));
		free(f);
		exit(77);
	}

	strcpy(f->tmp, "/tmp/cairn-lxc-XXXXXX");
	assert_non_null(mkdtemp(f->tmp));
	current = f;
	/* The container's root must be able to walk down to its rootfs. */
	assert_int_equal(chmod(f->tmp, 0711), 0);
	snprintf(f->name, sizeof(f->name), "cairn-test-%d", (int)getpid());
	f->self_exe = realpath("/proc/self/exe", NULL);
	f->lxcpath = str_printf("%s/containers", f->tmp);
	f->image = str_printf("%s/image", f->tmp);
	logs = str_printf("%s/logs", f->tmp);
	f->log_dir = str_printf("%s/logs/%s", f->tmp, f->name);
	f->config = str_printf("%s/lxc.conf", f->log_dir);
	assert_non_null(f->self_exe);
	assert_int_equal(mkdir(f->lxcpath, 0711), 0);
	assert_int_equal(mkdir(f->image, 0711), 0);
	assert_int_equal(mkdir(logs, 0700), 0);
	assert_int_equal(mkdir(f->log_dir, 0700), 0);

	r = instance_image_build_busybox(f->image, NULL, &e);
	if (r < 0)
		fail_msg("build: %s", err_msg(e, r));
	rootfs = str_printf("%s/rootfs", f->image);
	r = instance_shift_tree(rootfs, 0, 0, f->idmap.uid_base, f->idmap.gid_base, f->idmap.size,
				&e);
	if (r < 0)
		fail_msg("shift: %s", err_msg(e, r));
	*state = f;
	return 0;
}

static void stop_quietly(struct fixture *f)
{
	if (f && f->started) {
		instance_lxc_stop(f->name, f->lxcpath, f->config, 0, true, NULL);
		f->started = false;
	}
}

/* liblxc leaves the monitor's empty cgroups behind (lxc.monitor.NAME in each hierarchy). */
static void remove_monitor_cgroups(const char *name)
{
	static const char *const parents[] = {"/sys/fs/cgroup/*", "/sys/fs/cgroup"};

	for (size_t i = 0; i < sizeof(parents) / sizeof(parents[0]); i++) {
		_cleanup_free_ char *pattern = str_printf("%s/lxc.monitor.%s", parents[i], name);
		glob_t g = {0};

		if (pattern && glob(pattern, GLOB_ONLYDIR, NULL, &g) == 0)
			for (size_t j = 0; j < g.gl_pathc; j++)
				rmdir(g.gl_pathv[j]);
		globfree(&g);
	}
}

static int group_teardown(void **state)
{
	struct fixture *f = current;

	(void)state;
	if (!f)
		return 0;
	stop_quietly(f);
	remove_monitor_cgroups(f->name);
	rm_rf(f->tmp, NULL);
	free(f->self_exe);
	free(f->lxcpath);
	free(f->image);
	free(f->log_dir);
	free(f->config);
	free(f);
	current = NULL;
	return 0;
}

/* The line of /proc/<pid>/status that starts with `key`, e.g. "Uid:". */
static char *proc_status_line(pid_t pid, const char *key)
{
	_cleanup_free_ char *path = str_printf("/proc/%d/status", (int)pid);
	_cleanup_free_ char *text = NULL;
	char *p, *end;

	if (file_read_all(path, &text, NULL, NULL) < 0)
		return NULL;
	for (p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (str_startswith(p, key)) {
			end = strchr(p, '\n');
			return strndup(p, end ? (size_t)(end - p) : strlen(p));
		}
	return NULL;
}

/*
 * The host's file `file` of the cgroup that `pid` is in for `controller` (v1), or in the
 * unified hierarchy (controller NULL).
 */
static char *cgroup_file(pid_t pid, const char *controller, const char *file)
{
	_cleanup_free_ char *path = str_printf("/proc/%d/cgroup", (int)pid);
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ char *want = controller ? str_printf(":%s:", controller) : strdup("0::");
	_cleanup_free_ char *value = NULL;
	char *line, *save = NULL;

	if (file_read_all(path, &text, NULL, NULL) < 0)
		return NULL;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *at = strstr(line, want);
		_cleanup_free_ char *cg = NULL;

		if (!at || (!controller && line != at))
			continue;
		cg = controller
			 ? str_printf("/sys/fs/cgroup/%s%s/%s", controller, at + strlen(want), file)
			 : str_printf("/sys/fs/cgroup%s/%s", at + strlen(want), file);
		if (file_read_all(cg, &value, NULL, NULL) < 0)
			return NULL;
		value[strcspn(value, "\n")] = '\0';
		return steal_pointer(&value);
	}
	return NULL;
}

static void test_start_state_limits_stop(void **state)
{
	struct fixture *f = *state;
	_cleanup_kvlist_ struct kvlist config = {0};
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *rootfs = str_printf("%s/rootfs", f->image);
	_cleanup_free_ char *uid_line = NULL;
	_cleanup_free_ char *expect_uid = NULL;
	_cleanup_free_ char *seccomp_line = NULL;
	_cleanup_free_ char *mem = NULL;
	_cleanup_free_ char *pids = NULL;
	struct instance_state st;
	double t0, running_us, running_usage_us, stopped_us;
	int r;

	assert_int_equal(kvlist_set(&config, "limits.memory", "64MiB"), 0);
	assert_int_equal(kvlist_set(&config, "limits.processes", "20"), 0);
	r = write_config(f, rootfs, &config, &e);
	if (r < 0)
		fail_msg("config: %s", err_msg(e, r));

	assert_int_equal(instance_lxc_state(f->name, f->lxcpath, true, &st, NULL), 0);
	assert_int_equal(st.status, INSTANCE_STOPPED);
	assert_int_equal(st.pid, 0);
	assert_int_equal(st.processes, -1);

	f->started = true;
	r = instance_lxc_start(f->self_exe, f->name, f->lxcpath, f->config, f->log_dir, &e);
	if (r < 0)
		fail_msg("start: %s", err_msg(e, r));

	assert_int_equal(instance_lxc_state(f->name, f->lxcpath, true, &st, NULL), 0);
	assert_int_equal(st.status, INSTANCE_RUNNING);
	assert_string_equal(instance_status_name(st.status), "Running");
	assert_true(st.pid > 1);
	assert_true(st.processes >= 1);
	assert_true(st.memory_usage > 0);
	assert_true(st.memory_peak >= st.memory_usage);
	assert_true(st.cpu_usage > 0);

	/* init runs as root of the container, i.e. the first id of the range on the host. */
	uid_line = proc_status_line(st.pid, "Uid:");
	assert_non_null(uid_line);
	expect_uid = str_printf("Uid:\t%" PRIu32 "\t", f->idmap.uid_base);
	if (!str_startswith(uid_line, expect_uid))
		fail_msg("init's \"%s\" does not start with \"%s\"", uid_line, expect_uid);

	/* liblxc loaded the rendered profile: init runs under a seccomp filter (mode 2). */
	seccomp_line = proc_status_line(st.pid, "Seccomp:");
	assert_non_null(seccomp_line);
	assert_string_equal(seccomp_line, "Seccomp:\t2");

	/* The rendered limits are really in force. */
	if (instance_cgroup_detect() == INSTANCE_CGROUP_V1) {
		mem = cgroup_file(st.pid, "memory", "memory.limit_in_bytes");
		pids = cgroup_file(st.pid, "pids", "pids.max");
	} else {
		mem = cgroup_file(st.pid, NULL, "memory.max");
		pids = cgroup_file(st.pid, NULL, "pids.max");
	}
	assert_non_null(mem);
	assert_non_null(pids);
	assert_string_equal(mem, "67108864");
	assert_string_equal(pids, "20");

	t0 = now_us();
	for (int i = 0; i < 100; i++)
		assert_int_equal(instance_lxc_state(f->name, f->lxcpath, false, &st, NULL), 0);
	running_us = (now_us() - t0) / 100;
	t0 = now_us();
	for (int i = 0; i < 100; i++)
		assert_int_equal(instance_lxc_state(f->name, f->lxcpath, true, &st, NULL), 0);
	running_usage_us = (now_us() - t0) / 100;

	/* Starting a running container is not an error. */
	r = instance_lxc_start(f->self_exe, f->name, f->lxcpath, f->config, f->log_dir, &e);
	if (r < 0)
		fail_msg("second start: %s", err_msg(e, r));

	t0 = now_us();
	r = instance_lxc_stop(f->name, f->lxcpath, f->config, 10, false, &e);
	if (r < 0)
		fail_msg("stop: %s", err_msg(e, r));
	print_message("clean stop took %.2f s\n", (now_us() - t0) / 1e6);
	f->started = false;
	assert_int_equal(instance_lxc_state(f->name, f->lxcpath, true, &st, NULL), 0);
	assert_int_equal(st.status, INSTANCE_STOPPED);
	assert_int_equal(st.pid, 0);

	/* Stopping a stopped container is fine. */
	assert_int_equal(instance_lxc_stop(f->name, f->lxcpath, f->config, 10, false, NULL), 0);

	t0 = now_us();
	for (int i = 0; i < 1000; i++)
		assert_int_equal(instance_lxc_state(f->name, f->lxcpath, false, &st, NULL), 0);
	stopped_us = (now_us() - t0) / 1000;
	print_message(
	    "instance_lxc_state: stopped %.1f us, running %.1f us, running with usage %.1f us\n",
	    stopped_us, running_us, running_usage_us);
}

static void test_force_stop(void **state)
{
	struct fixture *f = *state;
	_cleanup_kvlist_ struct kvlist config = {0};
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *rootfs = str_printf("%s/rootfs", f->image);
	struct instance_state st;
	double t0;
	int r;

	r = write_config(f, rootfs, &config, &e);
	if (r < 0)
		fail_msg("config: %s", err_msg(e, r));
	f->started = true;
	r = instance_lxc_start(f->self_exe, f->name, f->lxcpath, f->config, f->log_dir, &e);
	if (r < 0)
		fail_msg("start: %s", err_msg(e, r));
	assert_int_equal(instance_lxc_state(f->name, f->lxcpath, false, &st, NULL), 0);
	assert_int_equal(st.status, INSTANCE_RUNNING);

	t0 = now_us();
	r = instance_lxc_stop(f->name, f->lxcpath, f->config, 10, true, &e);
	if (r < 0)
		fail_msg("force stop: %s", err_msg(e, r));
	f->started = false;
	print_message("forced stop took %.2f s\n", (now_us() - t0) / 1e6);
	assert_int_equal(instance_lxc_state(f->name, f->lxcpath, false, &st, NULL), 0);
	assert_int_equal(st.status, INSTANCE_STOPPED);
}

static void test_start_failure_reports_log(void **state)
{
	struct fixture *f = *state;
	_cleanup_kvlist_ struct kvlist config = {0};
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *missing = str_printf("%s/no-such-rootfs", f->tmp);
	_cleanup_free_ char *expect = str_printf("Failed to start instance \"%s\": ", f->name);
	struct instance_state st;
	int r;

	r = write_config(f, missing, &config, &e);
	if (r < 0)
		fail_msg("config: %s", err_msg(e, r));
	f->started = true;
	r = instance_lxc_start(f->self_exe, f->name, f->lxcpath, f->config, f->log_dir, &e);
	assert_int_equal(r, -EIO);
	assert_non_null(e);
	print_message("start failure: %s\n", e->msg);
	if (!str_startswith(e->msg, expect))
		fail_msg("message \"%s\" does not start with \"%s\"", e->msg, expect);
	/* Some text from lxc.log follows, not just the prefix. */
	assert_true(strlen(e->msg) > strlen(expect) + 5);
	assert_int_equal(instance_lxc_state(f->name, f->lxcpath, false, &st, NULL), 0);
	assert_int_equal(st.status, INSTANCE_STOPPED);
	f->started = false;

	/* A helper that fails before liblxc logs anything: its own log explains. */
	err_freep(&e);
	r = instance_lxc_start(f->self_exe, f->name, f->lxcpath, missing, f->log_dir, &e);
	assert_int_equal(r, -EIO);
	assert_non_null(e);
	print_message("start failure: %s\n", e->msg);
	if (!strstr(e->msg, ": Failed to load the configuration"))
		fail_msg("message \"%s\" does not explain the failure", e->msg);
}

static void test_unknown_is_stopped(void **state)
{
	struct fixture *f = *state;
	struct instance_state st = {.status = INSTANCE_RUNNING, .pid = 42};

	assert_int_equal(instance_lxc_state("never-created", f->lxcpath, true, &st, NULL), 0);
	assert_int_equal(st.status, INSTANCE_STOPPED);
	assert_int_equal(st.pid, 0);
	assert_int_equal(instance_lxc_stop("never-created", f->lxcpath, NULL, 1, false, NULL), 0);
}

static void test_status_names(void **state)
{
	(void)state;
	assert_string_equal(instance_status_name(INSTANCE_STOPPED), "Stopped");
	assert_string_equal(instance_status_name(INSTANCE_RUNNING), "Running");
	assert_string_equal(instance_status_name(INSTANCE_FROZEN), "Frozen");
	assert_string_equal(instance_status_name(INSTANCE_ERROR), "Error");
}

/* A failing test must not leave a container running. */
static int test_teardown(void **state)
{
	(void)state;
	stop_quietly(current);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_names),
	    cmocka_unit_test_teardown(test_unknown_is_stopped, test_teardown),
	    cmocka_unit_test_teardown(test_start_state_limits_stop, test_teardown),
	    cmocka_unit_test_teardown(test_force_stop, test_teardown),
	    cmocka_unit_test_teardown(test_start_failure_reports_log, test_teardown),
	};

	/* This executable is its own start helper, as cairnd is. */
	if (argc > 1 && strcmp(argv[1], "forkstart") == 0)
		return instance_fork_main(argc, argv);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
