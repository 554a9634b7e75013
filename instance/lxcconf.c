#include "instance/lxcconf.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/vfs.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/kvlist.h"
#include "common/util.h"
#include "config/devices.h"
#include "config/keys.h"

#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

/* The configuration text under construction; `failed` latches the first allocation failure. */
struct conf_buf {
	char *text;
	size_t len;
	bool failed;
};

static void conf_buf_done(struct conf_buf *b)
{
	free(b->text);
	b->text = NULL;
}

static void __attribute__((format(printf, 2, 3))) conf_add(struct conf_buf *b, const char *fmt, ...)
{
	va_list ap;
	_cleanup_free_ char *line = NULL;
	char *nt;
	int n;

	if (b->failed)
		return;
	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n < 0) {
		line = NULL;
		b->failed = true;
		return;
	}
	nt = realloc(b->text, b->len + (size_t)n + 2);
	if (!nt) {
		b->failed = true;
		return;
	}
	memcpy(nt + b->len, line, (size_t)n);
	nt[b->len + (size_t)n] = '\n';
	nt[b->len + (size_t)n + 1] = '\0';
	b->text = nt;
	b->len += (size_t)n + 1;
}

/* A value that goes into the config must stay on its line: a newline would add keys. */
static int check_value(const char *what, const char *value, struct err **err)
{
	if (!value || !*value)
		return err_set(err, -EINVAL, "Missing %s for the LXC configuration", what);
	if (strpbrk(value, "\n\r"))
		return err_set(err, -EINVAL, "Invalid %s \"%s\": line breaks are not allowed", what,
			       value);
	return 0;
}

static int parse_u64(const char *s, uint64_t *ret)
{
	uint64_t n = 0;

	if (!s || !*s)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		if (n > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	*ret = n;
	return 0;
}

/* limits.memory: a size ("256MiB") or a percentage of the host's memory ("50%"). */
static int render_memory(const struct instance_lxc_spec *spec, const char *value, uint64_t *ret,
			 struct err **err)
{
	size_t len = strlen(value);
	uint64_t bytes;

	if (len > 1 && value[len - 1] == '%') {
		_cleanup_free_ char *num = strndup(value, len - 1);
		uint64_t pct;

		if (!num)
			return err_set(err, -ENOMEM, "Out of memory");
		if (parse_u64(num, &pct) < 0 || pct == 0 || pct > 100)
			return err_set(err, -EINVAL,
				       "Invalid value \"%s\" for \"limits.memory\": a percentage "
				       "is 1%% to 100%%",
				       value);
		if (spec->host_memory == 0)
			return err_set(err, -EINVAL,
				       "Cannot render \"limits.memory\" = \"%s\": the host's "
				       "memory size is unknown",
				       value);
		bytes = spec->host_memory / 100 * pct + spec->host_memory % 100 * pct / 100;
	} else {
		struct err *e = NULL;
		int r = parse_size(value, &bytes, &e);

		if (r < 0) {
			r = err_set(err, r, "Invalid value \"%s\" for \"limits.memory\": %s", value,
				    err_msg(e, r));
			err_free(e);
			return r;
		}
	}
	/* The kernel rounds down to pages; under one page the container cannot even start. */
	if (bytes < 4096)
		return err_set(err, -EINVAL,
			       "Invalid value \"%s\" for \"limits.memory\": too small", value);
	*ret = bytes;
	return 0;
}

/*
 * Checks a CPU set ("0-1,3"): ranges in order lo <= hi. Returns the highest CPU in it, or -1
 * when the syntax is wrong.
 */
static long cpuset_highest(const char *value)
{
	const char *p = value;
	long highest = -1;

	for (;;) {
		char *end;
		unsigned long lo, hi;

		if (*p < '0' || *p > '9')
			return -1;
		lo = strtoul(p, &end, 10);
		hi = lo;
		p = end;
		if (*p == '-') {
			p++;
			if (*p < '0' || *p > '9')
				return -1;
			hi = strtoul(p, &end, 10);
			p = end;
		}
		if (lo > hi || hi > INT32_MAX)
			return -1;
		if ((long)hi > highest)
			highest = (long)hi;
		if (*p == '\0')
			return highest;
		if (*p != ',')
			return -1;
		p++;
	}
}

/*
 * limits.cpu: a bare number is a count of CPUs (the first N: "2" -> "0-1"); anything with "-" or
 * "," is a set of CPU numbers passed on as written once every CPU in it exists.
 */
static int render_cpus(const struct instance_lxc_spec *spec, const char *value, char **ret,
		       struct err **err)
{
	uint64_t count;
	long highest;

	if (!strpbrk(value, "-,")) {
		if (parse_u64(value, &count) < 0 || count == 0)
			return err_set(err, -EINVAL,
				       "Invalid value \"%s\" for \"limits.cpu\": expected a CPU "
				       "count or a set such as 0-1,3",
				       value);
		if (count > spec->host_cpus)
			return err_set(
			    err, -EINVAL,
			    "Invalid value \"%s\" for \"limits.cpu\": the host has %u CPUs", value,
			    spec->host_cpus);
		*ret = count == 1 ? strdup("0") : str_printf("0-%" PRIu64, count - 1);
		return *ret ? 0 : err_set(err, -ENOMEM, "Out of memory");
	}

	highest = cpuset_highest(value);
	if (highest < 0)
		return err_set(err, -EINVAL,
			       "Invalid value \"%s\" for \"limits.cpu\": expected a CPU count or a "
			       "set such as 0-1,3",
			       value);
	if ((unsigned long)highest >= spec->host_cpus)
		return err_set(err, -EINVAL,
			       "Invalid value \"%s\" for \"limits.cpu\": CPU %ld does not exist "
			       "(the host has %u CPUs)",
			       value, highest, spec->host_cpus);
	*ret = strdup(value);
	return *ret ? 0 : err_set(err, -ENOMEM, "Out of memory");
}

/*
 * The devices a privileged container may open, as Incus allows them (driver_lxc.go): mknod of
 * any block or character node, read and write of the pseudo devices, terminals, fuse and tun.
 * Unprivileged containers need no list: without CAP_MKNOD in the host's user namespace they can
 * make no device node, and the ones LXC binds in are the same harmless ones.
 */
static const char *const privileged_devices[] = {
    "b *:* m",	    /* mknod of block devices */
    "c *:* m",	    /* mknod of character devices */
    "c 136:* rwm",  /* the /dev/pts terminals */
    "c 1:3 rwm",    /* /dev/null */
    "c 1:5 rwm",    /* /dev/zero */
    "c 1:7 rwm",    /* /dev/full */
    "c 1:8 rwm",    /* /dev/random */
    "c 1:9 rwm",    /* /dev/urandom */
    "c 5:0 rwm",    /* /dev/tty */
    "c 5:1 rwm",    /* /dev/console */
    "c 5:2 rwm",    /* /dev/ptmx */
    "c 10:229 rwm", /* /dev/fuse */
    "c 10:200 rwm", /* /dev/net/tun */
};

/*
 * A path in an fstab field: getmntent(), which liblxc uses to read lxc.mount.entry, splits fields
 * at blanks and decodes \040 (space), \011 (tab), \012 (newline) and \134 (backslash).
 */
static char *fstab_escape(const char *path)
{
	char *out = malloc(strlen(path) * 4 + 1), *o = out;

	if (!out)
		return NULL;
	for (const char *p = path; *p; p++) {
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\\') {
			sprintf(o, "\\%03o", (unsigned)(unsigned char)*p);
			o += 4;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

/* One host-path disk, ready to be rendered. */
struct host_mount {
	const char *name;
	const char *source;
	char target[PATH_MAX]; /* normalized, absolute */
	bool file;
	bool readonly;
};

static int cmp_host_mount(const void *a, const void *b)
{
	return strcmp(((const struct host_mount *)a)->target,
		      ((const struct host_mount *)b)->target);
}

/*
 * The lxc.mount.entry lines of the host-path disks. Sorted by target, a mount on "/mnt/a" comes
 * before one below it. The target is given relative to the rootfs: liblxc then resolves it
 * below the container's root file system without leaving it.
 */
static int render_host_mounts(struct conf_buf *b, const struct instance_lxc_spec *spec,
			      bool privileged, struct err **err)
{
	_cleanup_free_ struct host_mount *mounts = NULL;
	size_t n = 0;
	int r;

	if (!spec->devices || spec->devices->n == 0)
		return 0;
	mounts = calloc(spec->devices->n, sizeof(*mounts));
	if (!mounts)
		return err_set(err, -ENOMEM, "Out of memory");
	for (size_t i = 0; i < spec->devices->n; i++) {
		const struct device *dev = &spec->devices->items[i];
		struct host_mount *m = &mounts[n];
		const char *path = kvlist_get(&dev->keys, "path");
		const char *ro = kvlist_get(&dev->keys, "readonly");

		if (!device_is_host_disk(&dev->keys))
			continue;
		m->name = dev->name;
		m->source = kvlist_get(&dev->keys, "source");
		if ((r = check_value("device source", m->source, err)) < 0)
			return r;
		if (!path || device_path_normalize(path, m->target, sizeof(m->target)) < 0 ||
		    strcmp(m->target, "/") == 0)
			return err_set(err, -EINVAL, "Invalid path \"%s\" of device \"%s\"",
				       path ? path : "", dev->name);
		if ((r = check_value("device path", m->target, err)) < 0)
			return r;
		m->file = spec->device_is_file && spec->device_is_file[i];
		m->readonly = false;
		if (ro && config_parse_bool(ro, &m->readonly) < 0)
			return err_set(err, -EINVAL,
				       "Invalid value \"%s\" for \"readonly\" of device \"%s\"", ro,
				       dev->name);
		n++;
	}
	qsort(mounts, n, sizeof(*mounts), cmp_host_mount);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *src = fstab_escape(mounts[i].source);
		_cleanup_free_ char *dst = fstab_escape(mounts[i].target + 1);

		if (!src || !dst)
			return err_set(err, -ENOMEM, "Out of memory");
		conf_add(b, "lxc.mount.entry = %s %s none bind,create=%s%s%s 0 0", src, dst,
			 mounts[i].file ? "file" : "dir", mounts[i].readonly ? ",ro" : "",
			 privileged ? "" : ",idmap=container");
	}
	return 0;
}

int instance_lxc_config_render(const struct instance_lxc_spec *spec, char **ret, struct err **err)
{
	_cleanup_(conf_buf_done) struct conf_buf b = {0};
	const char *prefix;
	const char *value;
	bool privileged = false, stateful = false;
	int r;

	if ((r = check_value("instance name", spec->name, err)) < 0 ||
	    (r = check_value("rootfs path", spec->rootfs_path, err)) < 0 ||
	    (r = check_value("log path", spec->log_path, err)) < 0 ||
	    (r = check_value("console log path", spec->console_log, err)) < 0 ||
	    (r = check_value("seccomp profile path", spec->seccomp_profile, err)) < 0)
		return r;
	if (spec->cgroup != INSTANCE_CGROUP_V1 && spec->cgroup != INSTANCE_CGROUP_V2)
		return err_set(err, -EINVAL, "Unknown cgroup layout %d", (int)spec->cgroup);
	prefix = spec->cgroup == INSTANCE_CGROUP_V1 ? "lxc.cgroup" : "lxc.cgroup2";

	value = spec->config ? config_get(spec->config, "security.privileged") : NULL;
	if (value && config_parse_bool(value, &privileged) < 0)
		return err_set(err, -EINVAL, "Invalid value \"%s\" for \"security.privileged\"",
			       value);
	value = spec->config ? config_get(spec->config, "migration.stateful") : NULL;
	if (value && config_parse_bool(value, &stateful) < 0)
		return err_set(err, -EINVAL, "Invalid value \"%s\" for \"migration.stateful\"",
			       value);

	conf_add(&b, "lxc.uts.name = %s", spec->name);
	conf_add(&b, "lxc.rootfs.path = dir:%s", spec->rootfs_path);
	if (!privileged) {
		if (spec->idmap.size == 0)
			return err_set(err, -EINVAL, "No id range for unprivileged instance \"%s\"",
				       spec->name);
		conf_add(&b, "lxc.idmap = u 0 %" PRIu32 " %" PRIu32, spec->idmap.uid_base,
			 spec->idmap.size);
		conf_add(&b, "lxc.idmap = g 0 %" PRIu32 " %" PRIu32, spec->idmap.gid_base,
			 spec->idmap.size);
	} else {
		/*
		 * Root in a privileged container is root on the host; Incus takes these away from
		 * it (and the two mac_ ones whenever it cannot give the container an AppArmor
		 * namespace of its own, which cairn never does). In a user namespace they would
		 * only apply to the namespace's own objects, so unprivileged containers keep them,
		 * as with Incus (CAP_SYS_TIME there sets a nested time namespace's offsets).
		 */
		conf_add(&b, "lxc.cap.drop = %s", INSTANCE_CAP_DROP_PRIVILEGED);
		/* Root may still make any device node, but open only the terminal and pseudo
		 * devices: not the host's disks, memory or /dev/kmsg. */
		conf_add(&b, "%s.devices.deny = a", prefix);
		for (size_t i = 0; i < sizeof(privileged_devices) / sizeof(privileged_devices[0]);
		     i++)
			conf_add(&b, "%s.devices.allow = %s", prefix, privileged_devices[i]);
	}
	conf_add(&b, "lxc.seccomp.profile = %s", spec->seccomp_profile);
	if (spec->n_nics == 0)
		conf_add(&b, "lxc.net.0.type = empty");
	for (size_t i = 0; i < spec->n_nics; i++) {
		const struct instance_nic *nic = &spec->nics[i];

		if (!nic->link || !nic->name || !nic->hwaddr)
			return err_set(err, -EINVAL, "Incomplete nic %zu of instance \"%s\"", i,
				       spec->name);
		/* A line break in a value would be a second config line of the caller's. */
		if ((r = check_value("nic link", nic->link, err)) < 0 ||
		    (r = check_value("nic name", nic->name, err)) < 0 ||
		    (r = check_value("nic hwaddr", nic->hwaddr, err)) < 0)
			return r;
		/* A veth pair: the host end on the bridge, the other end moved into the
		 * container's namespace under `name`, with the stable MAC. */
		conf_add(&b, "lxc.net.%zu.type = veth", i);
		conf_add(&b, "lxc.net.%zu.link = %s", i, nic->link);
		conf_add(&b, "lxc.net.%zu.name = %s", i, nic->name);
		conf_add(&b, "lxc.net.%zu.hwaddr = %s", i, nic->hwaddr);
		if (nic->mtu)
			conf_add(&b, "lxc.net.%zu.mtu = %u", i, nic->mtu);
		conf_add(&b, "lxc.net.%zu.flags = up", i);
	}
	conf_add(&b, "lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed");
	conf_add(&b, "lxc.autodev = 1");
	conf_add(&b, "lxc.pty.max = 1024");
	conf_add(&b, "lxc.tty.max = 0");
	/*
	 * CRIU cannot dump a process whose controlling terminal is the console: its pty master is
	 * on the host, held by the LXC monitor, and busybox's console shell keeps /dev/tty open
	 * ("ctty inheritance detected"). An instance that may be dumped starts without one.
	 */
	if (stateful)
		conf_add(&b, "lxc.console.path = none");
	else
		conf_add(&b, "lxc.console.logfile = %s", spec->console_log);
	conf_add(&b, "lxc.log.file = %s", spec->log_path);
	conf_add(&b, "lxc.log.level = warn");
	conf_add(&b, "lxc.init.cmd = /sbin/init");
	conf_add(&b, "lxc.signal.halt = SIGUSR1");

	value = spec->config ? config_get(spec->config, "limits.memory") : NULL;
	if (value && *value) {
		uint64_t bytes = 0;

		r = render_memory(spec, value, &bytes, err);
		if (r < 0)
			return r;
		conf_add(&b, "%s.%s = %" PRIu64, prefix,
			 spec->cgroup == INSTANCE_CGROUP_V1 ? "memory.limit_in_bytes"
							    : "memory.max",
			 bytes);
	}

	value = spec->config ? config_get(spec->config, "limits.cpu") : NULL;
	if (value && *value) {
		_cleanup_free_ char *cpus = NULL;

		r = render_cpus(spec, value, &cpus, err);
		if (r < 0)
			return r;
		conf_add(&b, "%s.cpuset.cpus = %s", prefix, cpus);
	}

	value = spec->config ? config_get(spec->config, "limits.processes") : NULL;
	if (value && *value) {
		uint64_t n;

		if (parse_u64(value, &n) < 0 || n == 0 || n > INT32_MAX)
			return err_set(err, -EINVAL,
				       "Invalid value \"%s\" for \"limits.processes\": expected a "
				       "positive number",
				       value);
		conf_add(&b, "%s.pids.max = %" PRIu64, prefix, n);
	}

	r = render_host_mounts(&b, spec, privileged, err);
	if (r < 0)
		return r;

	if (b.failed)
		return err_set(err, -ENOMEM, "Out of memory");
	*ret = steal_pointer(&b.text);
	return 0;
}

/*
 * Incus's default policy (internal/server/seccomp/seccomp.go: the "denylist" header and
 * defaultSeccompPolicy). ENOSYS rather than EPERM, so that software probing for these calls
 * takes its "not supported" path. Incus denies nothing more by default: bpf and keyctl stay
 * open (for an unprivileged container the kernel checks bpf's capabilities in the host's user
 * namespace and keeps keyrings per user namespace; a privileged one is root anyway), and the
 * compat-syscall list is an opt-in there (security.syscalls.deny_compat).
 */
static const char seccomp_profile[] = "2\n"
				      "denylist\n"
				      "[all]\n"
				      "reject_force_umount\n"
				      "kexec_load errno 38\n"
				      "open_by_handle_at errno 38\n"
				      "init_module errno 38\n"
				      "finit_module errno 38\n"
				      "delete_module errno 38\n";

const char *instance_seccomp_profile(void)
{
	return seccomp_profile;
}

enum instance_cgroup_layout instance_cgroup_detect(void)
{
	struct statfs fs;

	if (statfs("/sys/fs/cgroup/memory", &fs) == 0 &&
	    (unsigned long)fs.f_type == CGROUP_SUPER_MAGIC)
		return INSTANCE_CGROUP_V1;
	return INSTANCE_CGROUP_V2;
}
