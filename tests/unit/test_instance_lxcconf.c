/* Rendering of the LXC configuration: privileged or not (with the capability drop list and the
 * seccomp profile), each limit on cgroup v1 and v2, host-path disks as mount entries, bad
 * values. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/kvlist.h"
#include "config/devices.h"
#include "instance/lxcconf.h"

static struct instance_lxc_spec base_spec(const struct kvlist *config,
					  enum instance_cgroup_layout cgroup)
{
	struct instance_lxc_spec spec = {
	    .name = "c1",
	    .rootfs_path = "/var/lib/cairn/containers/c1/rootfs",
	    .log_path = "/var/lib/cairn/logs/c1/lxc.log",
	    .console_log = "/var/lib/cairn/logs/c1/console.log",
	    .seccomp_profile = "/var/lib/cairn/logs/c1/seccomp.profile",
	    .config = config,
	    .idmap = {.uid_base = 1000000, .gid_base = 2000000, .size = 65536},
	    .cgroup = cgroup,
	    .host_cpus = 4,
	    .host_memory = 8ULL << 30,
	};
	return spec;
}

/* True when `text` has `line` as a whole line. */
static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

static char *render_ok(const struct kvlist *config, enum instance_cgroup_layout cgroup)
{
	struct instance_lxc_spec spec = base_spec(config, cgroup);
	_cleanup_err_ struct err *e = NULL;
	char *text = NULL;
	int r = instance_lxc_config_render(&spec, &text, &e);

	if (r < 0)
		fail_msg("render failed: %s", err_msg(e, r));
	assert_non_null(text);
	return text;
}

static int render_fails(const struct kvlist *config, enum instance_cgroup_layout cgroup,
			const char *expect_in_msg)
{
	struct instance_lxc_spec spec = base_spec(config, cgroup);
	_cleanup_err_ struct err *e = NULL;
	char *text = NULL;
	int r = instance_lxc_config_render(&spec, &text, &e);

	assert_true(r < 0);
	assert_null(text);
	assert_non_null(e);
	if (expect_in_msg && !strstr(e->msg, expect_in_msg))
		fail_msg("message \"%s\" lacks \"%s\"", e->msg, expect_in_msg);
	return r;
}

static void test_unprivileged_defaults(void **state)
{
	struct kvlist config = {0};
	char *t = render_ok(&config, INSTANCE_CGROUP_V1);

	(void)state;
	assert_true(has_line(t, "lxc.uts.name = c1"));
	assert_true(has_line(t, "lxc.rootfs.path = dir:/var/lib/cairn/containers/c1/rootfs"));
	assert_true(has_line(t, "lxc.idmap = u 0 1000000 65536"));
	assert_true(has_line(t, "lxc.idmap = g 0 2000000 65536"));
	assert_true(has_line(t, "lxc.net.0.type = empty"));
	assert_true(has_line(t, "lxc.autodev = 1"));
	assert_true(has_line(t, "lxc.tty.max = 0"));
	assert_true(has_line(t, "lxc.pty.max = 1024"));
	assert_true(has_line(t, "lxc.init.cmd = /sbin/init"));
	assert_true(has_line(t, "lxc.signal.halt = SIGUSR1"));
	assert_true(has_line(t, "lxc.log.file = /var/lib/cairn/logs/c1/lxc.log"));
	assert_true(has_line(t, "lxc.log.level = warn"));
	assert_true(has_line(t, "lxc.console.logfile = /var/lib/cairn/logs/c1/console.log"));
	assert_true(has_line(t, "lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed"));
	/* Filtered like every container; capabilities are the user namespace's, none dropped. */
	assert_true(has_line(t, "lxc.seccomp.profile = /var/lib/cairn/logs/c1/seccomp.profile"));
	assert_null(strstr(t, "lxc.cap."));
	/* No limits unless asked for. */
	assert_null(strstr(t, "lxc.cgroup"));
	free(t);
}

static void test_privileged_has_no_idmap(void **state)
{
	_cleanup_kvlist_ struct kvlist config = {0};
	char *t;

	(void)state;
	assert_int_equal(kvlist_set(&config, "security.privileged", "true"), 0);
	t = render_ok(&config, INSTANCE_CGROUP_V1);
	assert_null(strstr(t, "lxc.idmap"));
	assert_true(has_line(t, "lxc.uts.name = c1"));
	free(t);

	assert_int_equal(kvlist_set(&config, "security.privileged", "false"), 0);
	t = render_ok(&config, INSTANCE_CGROUP_V1);
	assert_true(has_line(t, "lxc.idmap = u 0 1000000 65536"));
	free(t);
}

/* An instance CRIU may dump starts without a console (CRIU cannot dump its terminal); the
 * others keep theirs. */
static void test_stateful_has_no_console(void **state)
{
	_cleanup_kvlist_ struct kvlist config = {0};
	char *t;

	(void)state;
	assert_int_equal(kvlist_set(&config, "migration.stateful", "true"), 0);
	t = render_ok(&config, INSTANCE_CGROUP_V1);
	assert_true(has_line(t, "lxc.console.path = none"));
	assert_true(has_line(t, "lxc.tty.max = 0"));
	assert_null(strstr(t, "lxc.console.logfile"));
	free(t);

	assert_int_equal(kvlist_set(&config, "migration.stateful", "false"), 0);
	t = render_ok(&config, INSTANCE_CGROUP_V1);
	assert_null(strstr(t, "lxc.console.path"));
	assert_true(has_line(t, "lxc.console.logfile = /var/lib/cairn/logs/c1/console.log"));
	free(t);
}

/* Root of a privileged container is the host's root: it loses what Incus takes away, and it is
 * filtered too. */
static void test_privileged_confinement(void **state)
{
	_cleanup_kvlist_ struct kvlist config = {0};
	char *t;

	(void)state;
	assert_int_equal(kvlist_set(&config, "security.privileged", "true"), 0);
	for (int cg = INSTANCE_CGROUP_V1; cg <= INSTANCE_CGROUP_V2; cg++) {
		t = render_ok(&config, (enum instance_cgroup_layout)cg);
		assert_true(has_line(
		    t, "lxc.cap.drop = sys_time sys_module sys_rawio mac_admin mac_override"));
		assert_true(
		    has_line(t, "lxc.seccomp.profile = /var/lib/cairn/logs/c1/seccomp.profile"));
		/* One drop line, no keep list that would override it. */
		assert_null(strstr(strstr(t, "lxc.cap.drop") + 1, "lxc.cap.drop"));
		assert_null(strstr(t, "lxc.cap.keep"));
		/* Incus's device allowlist: deny everything, then the pseudo devices. */
		assert_true(has_line(t, cg == INSTANCE_CGROUP_V1 ? "lxc.cgroup.devices.deny = a"
								 : "lxc.cgroup2.devices.deny = a"));
		assert_true(has_line(t, cg == INSTANCE_CGROUP_V1
					    ? "lxc.cgroup.devices.allow = c 1:3 rwm"
					    : "lxc.cgroup2.devices.allow = c 1:3 rwm"));
		assert_null(strstr(t, "1:11"));
		free(t);
	}
}

/* Incus's default seccomp policy, in liblxc's version 2 format, byte for byte. */
static void test_seccomp_profile(void **state)
{
	const char *p = instance_seccomp_profile();

	(void)state;
	assert_non_null(p);
	assert_string_equal(p, "2\n"
			       "denylist\n"
			       "[all]\n"
			       "reject_force_umount\n"
			       "kexec_load errno 38\n"
			       "open_by_handle_at errno 38\n"
			       "init_module errno 38\n"
			       "finit_module errno 38\n"
			       "delete_module errno 38\n");
	/* The same text at every call: the daemon compares it with the file it wrote before. */
	assert_ptr_equal(p, instance_seccomp_profile());
}

/* No container starts without its filter: the profile path is as required as the rootfs. */
static void test_seccomp_path_required(void **state)
{
	struct kvlist config = {0};
	struct instance_lxc_spec spec = base_spec(&config, INSTANCE_CGROUP_V2);
	_cleanup_err_ struct err *e = NULL;
	char *text = NULL;

	(void)state;
	spec.seccomp_profile = NULL;
	assert_int_equal(instance_lxc_config_render(&spec, &text, &e), -EINVAL);
	assert_null(text);
	assert_non_null(strstr(e->msg, "seccomp"));
	err_free(steal_pointer(&e));

	spec.seccomp_profile = "";
	assert_int_equal(instance_lxc_config_render(&spec, &text, &e), -EINVAL);
	assert_null(text);
	err_free(steal_pointer(&e));

	spec.seccomp_profile = "/tmp/p\nlxc.seccomp.profile =";
	assert_int_equal(instance_lxc_config_render(&spec, &text, &e), -EINVAL);
	assert_null(text);
	assert_non_null(strstr(e->msg, "line breaks"));
}

static void test_unprivileged_needs_range(void **state)
{
	struct kvlist config = {0};
	struct instance_lxc_spec spec = base_spec(&config, INSTANCE_CGROUP_V2);
	_cleanup_err_ struct err *e = NULL;
	char *text = NULL;

	(void)state;
	spec.idmap.size = 0;
	assert_int_equal(instance_lxc_config_render(&spec, &text, &e), -EINVAL);
	assert_null(text);
}

struct limit_case {
	const char *key, *value;
	const char *v1_line, *v2_line;
};

static void test_limits_v1_v2(void **state)
{
	static const struct limit_case cases[] = {
	    {"limits.memory", "256MiB", "lxc.cgroup.memory.limit_in_bytes = 268435456",
	     "lxc.cgroup2.memory.max = 268435456"},
	    {"limits.memory", "1GB", "lxc.cgroup.memory.limit_in_bytes = 1000000000",
	     "lxc.cgroup2.memory.max = 1000000000"},
	    /* 25% of 8 GiB */
	    {"limits.memory", "25%", "lxc.cgroup.memory.limit_in_bytes = 2147483648",
	     "lxc.cgroup2.memory.max = 2147483648"},
	    {"limits.cpu", "2", "lxc.cgroup.cpuset.cpus = 0-1", "lxc.cgroup2.cpuset.cpus = 0-1"},
	    {"limits.cpu", "1", "lxc.cgroup.cpuset.cpus = 0", "lxc.cgroup2.cpuset.cpus = 0"},
	    {"limits.cpu", "0-1,3", "lxc.cgroup.cpuset.cpus = 0-1,3",
	     "lxc.cgroup2.cpuset.cpus = 0-1,3"},
	    {"limits.cpu", "3,", NULL, NULL},
	    {"limits.processes", "20", "lxc.cgroup.pids.max = 20", "lxc.cgroup2.pids.max = 20"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_kvlist_ struct kvlist config = {0};
		char *t;

		assert_int_equal(kvlist_set(&config, cases[i].key, cases[i].value), 0);
		if (!cases[i].v1_line) {
			render_fails(&config, INSTANCE_CGROUP_V1, cases[i].value);
			continue;
		}
		t = render_ok(&config, INSTANCE_CGROUP_V1);
		if (!has_line(t, cases[i].v1_line))
			fail_msg("%s=%s: no \"%s\" in:\n%s", cases[i].key, cases[i].value,
				 cases[i].v1_line, t);
		assert_null(strstr(t, "lxc.cgroup2."));
		free(t);
		t = render_ok(&config, INSTANCE_CGROUP_V2);
		if (!has_line(t, cases[i].v2_line))
			fail_msg("%s=%s: no \"%s\" in:\n%s", cases[i].key, cases[i].value,
				 cases[i].v2_line, t);
		assert_null(strstr(t, "lxc.cgroup."));
		free(t);
	}
}

static void test_all_limits_together(void **state)
{
	_cleanup_kvlist_ struct kvlist config = {0};
	char *t;

	(void)state;
	assert_int_equal(kvlist_set(&config, "limits.memory", "64MiB"), 0);
	assert_int_equal(kvlist_set(&config, "limits.cpu", "4"), 0);
	assert_int_equal(kvlist_set(&config, "limits.processes", "100"), 0);
	t = render_ok(&config, INSTANCE_CGROUP_V2);
	assert_true(has_line(t, "lxc.cgroup2.memory.max = 67108864"));
	assert_true(has_line(t, "lxc.cgroup2.cpuset.cpus = 0-3"));
	assert_true(has_line(t, "lxc.cgroup2.pids.max = 100"));
	free(t);
}

static void test_bad_values(void **state)
{
	static const struct {
		const char *key, *value, *msg;
	} bad[] = {
	    {"limits.memory", "lots", "limits.memory"},
	    {"limits.memory", "10G", "limits.memory"},
	    {"limits.memory", "0%", "limits.memory"},
	    {"limits.memory", "101%", "limits.memory"},
	    {"limits.memory", "1B", "too small"},
	    {"limits.cpu", "5", "the host has 4 CPUs"},
	    {"limits.cpu", "0", "limits.cpu"},
	    {"limits.cpu", "2-1", "limits.cpu"},
	    {"limits.cpu", "0-4", "CPU 4 does not exist"},
	    {"limits.cpu", "a-b", "limits.cpu"},
	    {"limits.cpu", "-1", "limits.cpu"},
	    {"limits.processes", "0", "limits.processes"},
	    {"limits.processes", "-3", "limits.processes"},
	    {"limits.processes", "ten", "limits.processes"},
	    {"security.privileged", "maybe", "security.privileged"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		_cleanup_kvlist_ struct kvlist config = {0};

		assert_int_equal(kvlist_set(&config, bad[i].key, bad[i].value), 0);
		assert_int_equal(render_fails(&config, INSTANCE_CGROUP_V1, bad[i].msg), -EINVAL);
		assert_int_equal(render_fails(&config, INSTANCE_CGROUP_V2, bad[i].msg), -EINVAL);
	}
}

static void test_line_breaks_refused(void **state)
{
	struct kvlist config = {0};
	struct instance_lxc_spec spec = base_spec(&config, INSTANCE_CGROUP_V1);
	_cleanup_err_ struct err *e = NULL;
	char *text = NULL;

	(void)state;
	/* A name or path with a newline would add arbitrary keys such as lxc.mount.entry. */
	spec.rootfs_path = "/tmp/x\nlxc.mount.entry = / host none bind 0 0";
	assert_int_equal(instance_lxc_config_render(&spec, &text, &e), -EINVAL);
	assert_null(text);
	assert_non_null(strstr(e->msg, "line breaks"));
}

static void test_percentage_needs_host_memory(void **state)
{
	_cleanup_kvlist_ struct kvlist config = {0};
	struct instance_lxc_spec spec;
	_cleanup_err_ struct err *e = NULL;
	char *text = NULL;

	(void)state;
	assert_int_equal(kvlist_set(&config, "limits.memory", "50%"), 0);
	spec = base_spec(&config, INSTANCE_CGROUP_V1);
	spec.host_memory = 0;
	assert_int_equal(instance_lxc_config_render(&spec, &text, &e), -EINVAL);
	assert_null(text);
}

/* Adds device `name` with `n` key/value pairs. */
static void add_device(struct devices *d, const char *name, size_t n, const char *const *kv)
{
	_cleanup_kvlist_ struct kvlist keys = {0};

	for (size_t i = 0; i < n; i++)
		assert_int_equal(kvlist_set(&keys, kv[2 * i], kv[2 * i + 1]), 0);
	assert_int_equal(devices_set(d, name, &keys), 0);
}

static size_t count_lines(const char *text, const char *prefix)
{
	size_t n = 0, len = strlen(prefix);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, prefix, len) == 0)
			n++;
	return n;
}

/* The expanded devices of the mount tests: sorted by name, so the flags below are by name. */
static void mount_devices(struct devices *d)
{
	add_device(d, "cfg", 4,
		   (const char *const[]){"type", "disk", "source", "/srv/app.conf", "path",
					 "/etc/app.conf", "readonly", "true"});
	add_device(
	    d, "data", 3,
	    (const char *const[]){"type", "disk", "source", "/srv/data", "path", "//mnt/data/./"});
	add_device(d, "gone", 1, (const char *const[]){"type", "none"});
	add_device(d, "root", 3,
		   (const char *const[]){"type", "disk", "path", "/", "pool", "default"});
	add_device(d, "space", 4,
		   (const char *const[]){"type", "disk", "source", "/srv/my data\\x", "path",
					 "/mnt/a b", "readonly", "false"});
	add_device(
	    d, "sub", 3,
	    (const char *const[]){"type", "disk", "source", "/srv/sub", "path", "/mnt/data/sub"});
}

static void test_host_mounts(void **state)
{
	_cleanup_devices_ struct devices d = {0};
	_cleanup_kvlist_ struct kvlist config = {0};
	/* cfg is a file; the others are directories or not host paths */
	static const bool is_file[] = {true, false, false, false, false, false};
	_cleanup_err_ struct err *e = NULL;
	struct instance_lxc_spec spec;
	char *t = NULL;
	const char *a, *b, *c, *x;

	(void)state;
	mount_devices(&d);
	spec = base_spec(&config, INSTANCE_CGROUP_V2);
	spec.devices = &d;
	spec.device_is_file = is_file;
	assert_int_equal(instance_lxc_config_render(&spec, &t, &e), 0);
	/* ro for readonly=true, create=file for a file, idmapped for an unprivileged instance,
	 * targets relative to the rootfs and normalized, blanks and backslashes escaped */
	a = "lxc.mount.entry = /srv/app.conf etc/app.conf none bind,create=file,ro,idmap=container "
	    "0 0";
	b = "lxc.mount.entry = /srv/my\\040data\\134x mnt/a\\040b none bind,create=dir,"
	    "idmap=container 0 0";
	c = "lxc.mount.entry = /srv/data mnt/data none bind,create=dir,idmap=container 0 0";
	x = "lxc.mount.entry = /srv/sub mnt/data/sub none bind,create=dir,idmap=container 0 0";
	assert_true(has_line(t, a));
	assert_true(has_line(t, b));
	assert_true(has_line(t, c));
	assert_true(has_line(t, x));
	/* none and the root disk render nothing */
	assert_int_equal(count_lines(t, "lxc.mount.entry"), 4);
	/* by target: a parent before what is mounted below it */
	assert_true(strstr(t, a) < strstr(t, b));
	assert_true(strstr(t, b) < strstr(t, c));
	assert_true(strstr(t, c) < strstr(t, x));
	free(t);
	t = NULL;

	/* A privileged instance gets plain binds. */
	assert_int_equal(kvlist_set(&config, "security.privileged", "true"), 0);
	spec = base_spec(&config, INSTANCE_CGROUP_V2);
	spec.devices = &d;
	spec.device_is_file = is_file;
	assert_int_equal(instance_lxc_config_render(&spec, &t, &e), 0);
	assert_true(has_line(t, "lxc.mount.entry = /srv/data mnt/data none bind,create=dir 0 0"));
	assert_true(has_line(
	    t, "lxc.mount.entry = /srv/app.conf etc/app.conf none bind,create=file,ro 0 0"));
	assert_null(strstr(t, "idmap=container"));
	free(t);
	t = NULL;

	/* Without flags every source is a directory; no devices, no entries. */
	spec.device_is_file = NULL;
	assert_int_equal(instance_lxc_config_render(&spec, &t, &e), 0);
	assert_true(has_line(
	    t, "lxc.mount.entry = /srv/app.conf etc/app.conf none bind,create=dir,ro 0 0"));
	free(t);
	t = NULL;
	spec.devices = NULL;
	assert_int_equal(instance_lxc_config_render(&spec, &t, &e), 0);
	assert_null(strstr(t, "lxc.mount.entry"));
	free(t);
}

static void test_host_mounts_refused(void **state)
{
	_cleanup_devices_ struct devices d = {0};
	struct kvlist config = {0};
	struct instance_lxc_spec spec = base_spec(&config, INSTANCE_CGROUP_V2);
	_cleanup_err_ struct err *e = NULL;
	char *t = NULL;

	(void)state;
	spec.devices = &d;
	/* A line break in a source would add keys of its own. */
	add_device(&d, "evil", 3,
		   (const char *const[]){"type", "disk", "source", "/srv\nlxc.cap.drop =", "path",
					 "/mnt"});
	assert_int_equal(instance_lxc_config_render(&spec, &t, &e), -EINVAL);
	assert_null(t);
	assert_non_null(strstr(e->msg, "line breaks"));
	err_free(e);
	e = NULL;
	devices_done(&d);

	add_device(&d, "ro", 4,
		   (const char *const[]){"type", "disk", "source", "/srv", "path", "/mnt",
					 "readonly", "maybe"});
	assert_int_equal(instance_lxc_config_render(&spec, &t, &e), -EINVAL);
	assert_null(t);
	assert_non_null(strstr(e->msg, "\"readonly\" of device \"ro\""));
	err_free(e);
	e = NULL;
	devices_done(&d);

	add_device(&d, "up", 3,
		   (const char *const[]){"type", "disk", "source", "/srv", "path", "/mnt/../etc"});
	assert_int_equal(instance_lxc_config_render(&spec, &t, &e), -EINVAL);
	assert_null(t);
}

static void test_cgroup_detect(void **state)
{
	enum instance_cgroup_layout l = instance_cgroup_detect();
	bool v1_memory = false;
	char line[4096];
	FILE *f;

	(void)state;
	/* The mount table is the other witness: a cgroup v1 hierarchy with the memory controller
	 * is what makes a host V1 (hybrid); without one it is V2. */
	f = fopen("/proc/self/mounts", "re");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char dev[256], dir[1024], type[64], opts[2048];

		if (sscanf(line, "%255s %1023s %63s %2047s", dev, dir, type, opts) == 4 &&
		    strcmp(type, "cgroup") == 0 && strstr(opts, "memory"))
			v1_memory = true;
	}
	fclose(f);
	assert_int_equal(l, v1_memory ? INSTANCE_CGROUP_V1 : INSTANCE_CGROUP_V2);
	/* Whatever the host has, the answer must agree with the memory controller's files. */
	if (l == INSTANCE_CGROUP_V1)
		assert_int_equal(access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK), 0);
	else
		assert_int_not_equal(access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK),
				     0);
}

/* No nic: no network but lo. Two nics: a veth pair each, in order, with their MAC and MTU. */
static void test_nics(void **state)
{
	_cleanup_kvlist_ struct kvlist config = {0};
	const struct instance_nic nics[] = {
	    {.link = "cairnbr0", .name = "eth0", .hwaddr = "00:16:3e:00:00:01"},
	    {.link = "br1", .name = "eth1", .hwaddr = "00:16:3e:00:00:02", .mtu = 1400},
	};
	struct instance_lxc_spec spec = base_spec(&config, INSTANCE_CGROUP_V2);
	_cleanup_free_ char *none = render_ok(&config, INSTANCE_CGROUP_V2);
	_cleanup_free_ char *text = NULL;
	_cleanup_err_ struct err *e = NULL;

	(void)state;
	assert_true(has_line(none, "lxc.net.0.type = empty"));
	spec.nics = nics;
	spec.n_nics = 2;
	assert_int_equal(instance_lxc_config_render(&spec, &text, &e), 0);
	assert_false(has_line(text, "lxc.net.0.type = empty"));
	assert_true(has_line(text, "lxc.net.0.type = veth"));
	assert_true(has_line(text, "lxc.net.0.link = cairnbr0"));
	assert_true(has_line(text, "lxc.net.0.name = eth0"));
	assert_true(has_line(text, "lxc.net.0.hwaddr = 00:16:3e:00:00:01"));
	assert_true(has_line(text, "lxc.net.0.flags = up"));
	assert_null(strstr(text, "lxc.net.0.mtu"));
	assert_true(has_line(text, "lxc.net.1.link = br1"));
	assert_true(has_line(text, "lxc.net.1.name = eth1"));
	assert_true(has_line(text, "lxc.net.1.mtu = 1400"));
}

/* A nic value with a line break would add a config line of its own: refused. */
static void test_nic_line_break(void **state)
{
	_cleanup_kvlist_ struct kvlist config = {0};
	const struct instance_nic nic = {.link = "br0",
					 .name = "eth0\nlxc.apparmor.profile = unconfined",
					 .hwaddr = "00:16:3e:00:00:01"};
	struct instance_lxc_spec spec = base_spec(&config, INSTANCE_CGROUP_V2);
	_cleanup_free_ char *text = NULL;
	_cleanup_err_ struct err *e = NULL;

	(void)state;
	spec.nics = &nic;
	spec.n_nics = 1;
	assert_int_equal(instance_lxc_config_render(&spec, &text, &e), -EINVAL);
	assert_null(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unprivileged_defaults),
	    cmocka_unit_test(test_privileged_has_no_idmap),
	    cmocka_unit_test(test_stateful_has_no_console),
	    cmocka_unit_test(test_unprivileged_needs_range),
	    cmocka_unit_test(test_privileged_confinement),
	    cmocka_unit_test(test_seccomp_profile),
	    cmocka_unit_test(test_seccomp_path_required),
	    cmocka_unit_test(test_limits_v1_v2),
	    cmocka_unit_test(test_all_limits_together),
	    cmocka_unit_test(test_bad_values),
	    cmocka_unit_test(test_line_breaks_refused),
	    cmocka_unit_test(test_percentage_needs_host_memory),
	    cmocka_unit_test(test_cgroup_detect),
	    cmocka_unit_test(test_nics),
	    cmocka_unit_test(test_nic_line_break),
	    cmocka_unit_test(test_host_mounts),
	    cmocka_unit_test(test_host_mounts_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
