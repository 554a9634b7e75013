#pragma once

/*
 * Renders the full LXC configuration of an instance from its cairn config. Pure: no liblxc, no
 * file system access, so it is unit-tested on its own.
 */

#include <stdbool.h>
#include <stdint.h>

#include "instance/idmap.h"

struct devices;
struct err;
struct kvlist;

enum instance_cgroup_layout {
	INSTANCE_CGROUP_V1, /* memory, cpu, pids controllers on cgroup v1 (hybrid hosts) */
	INSTANCE_CGROUP_V2, /* unified hierarchy */
	INSTANCE_CGROUP_LAYOUT_MAX,
};

/* One nic of an instance, resolved: what lxc.net.N needs. Strings are borrowed. */
struct instance_nic {
	const char *link;   /* the bridge the host end goes on */
	const char *name;   /* the interface name inside the instance */
	const char *hwaddr; /* the stable MAC */
	unsigned mtu;	    /* 0: the bridge's */
};

struct instance_lxc_spec {
	const char *name;
	const char *rootfs_path;     /* absolute path of the rootfs directory */
	const char *log_path;	     /* lxc.log.file */
	const char *console_log;     /* lxc.console.logfile */
	const char *seccomp_profile; /* lxc.seccomp.profile: where instance_seccomp_profile() is */
	const struct kvlist *config; /* the instance's validated config */
	struct idmap idmap;	     /* used unless security.privileged is true */
	enum instance_cgroup_layout cgroup;
	unsigned host_cpus;   /* for limits.cpu counts and ranges */
	uint64_t host_memory; /* bytes, for limits.memory percentages */
	/* The expanded devices (NULL: none): each host-path disk becomes an lxc.mount.entry. */
	const struct devices *devices;
	/* One flag per device of `devices`: its source is a regular file (create=file) rather
	 * than a directory (create=dir). NULL: every source is a directory. */
	const bool *device_is_file;
	const struct instance_nic *nics; /* n_nics of them, in device-name order */
	size_t n_nics;
};

/*
 * Returns the configuration text in *ret (caller frees). It sets:
 *   lxc.uts.name; lxc.rootfs.path = dir:<rootfs>; lxc.idmap (u and g) unless
 *   security.privileged is true, and lxc.cap.drop = INSTANCE_CAP_DROP_PRIVILEGED and Incus's
 *   device allowlist (devices.deny = a, then devices.allow lines) when it is;
 *   lxc.seccomp.profile = <seccomp_profile> for every instance;
 *   lxc.net.0.type = empty without nics, else for each nic N lxc.net.N.type = veth, .link,
 *   .name, .hwaddr, .mtu (when set) and .flags = up; lxc.mount.auto = proc:mixed sys:mixed
 * cgroup:mixed; lxc.autodev = 1; lxc.pty.max = 1024; lxc.tty.max = 0; lxc.console.logfile, or
 *   lxc.console.path = none when migration.stateful is true (CRIU cannot dump the console's
 *   terminal); lxc.log.file;
 *   lxc.log.level = warn; lxc.init.cmd = /sbin/init; lxc.signal.halt = SIGUSR1
 *   (busybox init halts on it; an image whose metadata says systemd would want SIGRTMIN+3);
 *   limits.memory -> lxc.cgroup.memory.limit_in_bytes (v1) or lxc.cgroup2.memory.max (v2),
 *     a percentage being of host_memory;
 *   limits.cpu -> lxc.cgroup[2].cpuset.cpus ("2" means the first 2 CPUs, "0-1,3" is a set);
 *   limits.processes -> lxc.cgroup[2].pids.max;
 *   one lxc.mount.entry per host-path disk of `devices`, in order of target path (a parent
 *     before what is mounted below it; `none` devices and the root disk render nothing):
 *     "SOURCE TARGET none bind,create=dir|file[,ro][,idmap=container] 0 0", TARGET relative to
 *     the rootfs (no leading "/"), spaces, tabs and backslashes escaped as fstab does (\040),
 *     `ro` for readonly=true, `idmap=container` unless security.privileged is true (an
 *     idmapped mount: host ids show through unshifted, so a host file of uid 1000 is 1000
 *     inside and a file written by 1234 inside is 1234 on the host).
 * -EINVAL when a value cannot be rendered (e.g. more CPUs than the host has) or a path is
 * missing (seccomp_profile included: no instance starts without its filter).
 */
int instance_lxc_config_render(const struct instance_lxc_spec *spec, char **ret, struct err **err);

/*
 * The capabilities a privileged container loses, as Incus drops them (lxc.cap.drop, in liblxc's
 * names). An unprivileged container keeps its full set: its capabilities only count in its own
 * user namespace.
 */
#define INSTANCE_CAP_DROP_PRIVILEGED "sys_time sys_module sys_rawio mac_admin mac_override"

/*
 * The seccomp profile (liblxc's version 2 format) of every container, privileged or not: Incus's
 * default deny list. kexec_load, open_by_handle_at, init_module, finit_module and
 * delete_module fail with ENOSYS, umount2 with MNT_FORCE fails with EACCES. A static string.
 */
const char *instance_seccomp_profile(void);

/*
 * The cgroup layout of this host: INSTANCE_CGROUP_V1 when /sys/fs/cgroup/memory is a cgroup v1
 * mount (legacy and hybrid hosts), else INSTANCE_CGROUP_V2. Unlike the rest of this header it
 * looks at the host (one statfs); the daemon calls it once and puts the result in the spec.
 */
enum instance_cgroup_layout instance_cgroup_detect(void);
