#pragma once

/*
 * cairn-fork: the helper program that does liblxc's forking work (start, attach, checkpoint,
 * restore) outside the multithreaded daemon. The daemon spawns it as one of
 *
 *   cairn-fork forkstart NAME LXCPATH CONFIG LOGDIR
 *   cairn-fork forkexec NAME LXCPATH CONFIG LOGDIR UID GID CWD INTERACTIVE -- CMD...
 *   cairn-fork forkcheckpoint NAME LXCPATH CONFIG DIR LOGDIR STOP
 *   cairn-fork forkrestore NAME LXCPATH CONFIG DIR LOGDIR
 *
 * (see instance/lxc.h and instance/exec.h for what each does and how the daemon reads its
 * outcome). It is linked with liblxc and common/ only: its start-up is part of every `cairn
 * start` and `cairn exec`, and the daemon's own binary loads some thirty libraries the helper
 * never calls. It is installed as LIBEXECDIR/cairn/cairn-fork; cairnd looks for it next to
 * itself first (the build tree), then there.
 */

/* The helper's file name. */
#define INSTANCE_FORK_HELPER "cairn-fork"

/* The names of CRIU's logs kept in the instance's log directory. */
#define INSTANCE_CRIU_DUMP_LOG "criu-dump.log"
#define INSTANCE_CRIU_RESTORE_LOG "criu-restore.log"

/* forkexec's exit code when it could not run the command at all. */
#define INSTANCE_EXEC_ATTACH_FAILED 255

/*
 * The helper's main(): runs the helper named by argv[1] and returns its exit status (1 or, for
 * forkexec, 255 on a bad command line). Single-threaded; every helper first marks inherited
 * descriptors above 2 close-on-exec.
 */
int instance_fork_main(int argc, char **argv);
