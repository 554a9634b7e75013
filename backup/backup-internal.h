#pragma once

/* Private helpers of the backup folder. Nothing outside backup/ includes this file. */

struct err;

/*
 * Checks what an import put at the top of a volume (`path`: the instance's volume or a
 * snapshot): `rootfs` a real directory; `templates`, `checkpoint` and `state`, when there,
 * directories; `backup.yaml` and `metadata.yaml`, when there, regular files; nothing else. What
 * the daemon later opens by those names (a checkpoint CRIU reads, say) is then never a symbolic
 * link to somewhere on the host. -EINVAL "Invalid backup tarball: ..." otherwise.
 */
/* (declared in backup.h, for migration/ too) */
