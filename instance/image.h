#pragma once

/*
 * Image content: the built-in busybox image and imported Incus-format unified tarballs.
 * These functions fill directories; the daemon puts the directories in image volumes.
 */

#include <stdint.h>

#include <json-c/json.h>

struct err;

/*
 * Builds the built-in busybox image into `dir` (an empty, existing directory, normally an
 * image volume): `dir/rootfs/` with the host's static busybox (/bin/busybox from Debian's
 * busybox-static; `busybox_path` overrides) copied in, its applet links, /sbin/init, an
 * inittab that mounts what init needs and halts cleanly on SIGUSR1, /etc/passwd, group,
 * hostname, profile; and `dir/metadata.yaml` (architecture, creation_date, properties:
 * description, os: busybox, release). Self-contained: no bind mounts from the host.
 * -ENOENT with a hint ("install busybox-static") when no static busybox is found, -ENOEXEC
 * when the binary is not static.
 */
int instance_image_build_busybox(const char *dir, const char *busybox_path, struct err **err);

/*
 * Unpacks an Incus unified image tarball (gzip, xz or plain tar; metadata.yaml, rootfs/,
 * templates/) from `tarball_fd` into `dir` with libarchive, keeping ownership, modes, xattrs,
 * device nodes and hard links. No entry may land outside `dir`: absolute paths, `..`
 * components and writes through symlinks are refused (-EINVAL, message names the entry), and
 * so are hard links pointing outside. A truncated or corrupt archive is -EINVAL. Requires
 * `metadata.yaml` that parses as YAML with an `architecture` key, and `rootfs/`. On any error
 * `dir` may hold a partial tree: the caller deletes the volume.
 *
 * On success *ret_metadata holds metadata.yaml as a json-c tree (caller puts).
 */
int instance_image_unpack(int tarball_fd, const char *dir, json_object **ret_metadata,
			  struct err **err);

/* SHA-256 of everything readable from `fd` from its current position, as 64 hex characters
 * in `out`. */
int instance_image_sha256_fd(int fd, char out[static 65], struct err **err);
