#pragma once

/*
 * The uid/gid range unprivileged containers run in, and shifting a tree of files into it.
 * The range comes from root's entries in /etc/subuid and /etc/subgid; the daemon adds
 * "root:1000000:1000000000" to each when root has none, as Incus does.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct err;

/* One contiguous mapping: container ids [0, size) are host ids [host_base, host_base + size). */
struct idmap {
	uint32_t uid_base;
	uint32_t gid_base;
	uint32_t size; /* 65536 */
};

/*
 * Reads root's first range of at least 65536 ids from `subuid_path` and `subgid_path`
 * (normally /etc/subuid, /etc/subgid). When root has none and `add_missing` is true, appends
 * "root:1000000:1000000000" to the file (atomically) and uses it. -ENOENT when root has no
 * usable range and `add_missing` is false.
 */
int instance_idmap_load(const char *subuid_path, const char *subgid_path, bool add_missing,
			struct idmap *ret, struct err **err);

/*
 * Moves the ownership of every file under `path` (not crossing into other filesystems, not
 * following symlinks) from one base to another: uid u becomes u - from_uid + to_uid when
 * from_uid <= u < from_uid + size, and likewise for gids. Keeps setuid/setgid bits (chown
 * clears them). The ids in POSIX ACLs move the same way, and so does the root a file capability
 * is for (a version 2 capability, the host's root, becomes a version 3 one for the range's root,
 * and back to version 2 when shifted to 0). Use from = 0 to shift an unprivileged image into a
 * range, or to = 0 to unshift for a privileged instance.
 */
int instance_shift_tree(const char *path, uint32_t from_uid, uint32_t from_gid, uint32_t to_uid,
			uint32_t to_gid, uint32_t size, struct err **err);

/*
 * The owner and mode of an instance's volume directory, the one that holds rootfs/, when the
 * files in it are shifted to `uid_base` (0: not shifted, a privileged instance). As LXD does it:
 * host uid `uid_base`, the container's root, with mode 0100, so that only LXC acting as that
 * root passes on the way to the rootfs; root with mode 0700 for a privileged instance, whose
 * rootfs nothing unprivileged needs. Either way no other host user reaches a setuid file inside.
 */
void instance_idmap_volume_access(uint32_t uid_base, uid_t *ret_uid, gid_t *ret_gid,
				  mode_t *ret_mode);

/*
 * Gives the directory `path` (never a symlink) the owner and mode above. Cheap (one chown and
 * one chmod), so it is applied again at every start. -errno of open, fchown or fchmod.
 */
int instance_idmap_gate_volume(const char *path, uint32_t uid_base, struct err **err);
