#pragma once

/*
 * The disks of an instance as they meet the host when it starts: host paths mounted into the
 * container (their sources checked again, their targets made inside the rootfs without following
 * a symbolic link, their file systems checked for idmapped mounts) and the size of the root disk
 * (a quota on its volume where the pool's driver has one).
 */

#include <stdbool.h>

struct db_instance;
struct err;
struct instance_env;

/*
 * Readies the host-path disks of `row` (its expanded devices) for a start, before the LXC config
 * is written. For each one:
 *   - the source must still exist and be a directory or a regular file (-ENOENT, -EINVAL);
 *   - for an unprivileged instance, the source's file system must allow idmapped mounts, tried
 *     for real on a detached copy of the mount (-EOPNOTSUPP naming the device and the file
 *     system);
 *   - the target must not be below /proc or /sys (the kernel's file systems go there), nor below
 *     another host-path disk's target (what is made there would be made on the host) (-EINVAL);
 *   - the target is made inside the rootfs, a directory (or an empty file, for a file source)
 *     owned by the container's root, each missing component created and every lookup done with
 *     openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV)
 *     from a descriptor of the rootfs: a path that crosses a symbolic link is refused (-ELOOP,
 *     naming the device and the link), so nothing is ever made or mounted outside the rootfs.
 * On success *ret_is_file (caller frees; NULL when there are no devices) holds one flag per
 * expanded device: its source is a regular file (instance_lxc_spec.device_is_file).
 */
int instance_disks_prepare(const struct instance_env *env, const struct db_instance *row,
			   bool **ret_is_file, struct err **err);

/*
 * Applies the `size` of the root disk in `row`'s expanded devices to its volume: a limit on what
 * the volume references (a btrfs qgroup limit), or no limit when the root disk has no size. Run
 * at create, at every start, when the instance's settings change and, for each instance that uses
 * it, when a profile changes (instance_profile_update() calls it before its commit and again
 * with the old row if the commit fails; instance_recover() applies every stored size, which
 * settles a crash in between). A pool whose driver
 * cannot enforce a size (dir) is left alone when no size is asked and is -EOPNOTSUPP when one is
 * (instance_settings_check() refuses such a size before it is stored). -ENOENT when the pool is
 * not loaded; other errnos come from the driver (e.g. -ENOTCONN: quotas are off on a pool that
 * sits in a host btrfs directory).
 */
int instance_apply_root_size(const struct instance_env *env, const struct db_instance *row,
			     struct err **err);
