#include "cmd/cairn/cli.h"

#include <stddef.h>

/*
 * The one command table. Parsing (args.c), the --help text and the REPL's completion (repl.c)
 * all read it, so a command added here is complete everywhere at once.
 */

static const struct cli_flag launch_flags[] = {
    {"config", 'c', CLI_FLAG_LIST, "KEY=VALUE", "Config key/value to apply to the new instance"},
    {"storage", 's', CLI_FLAG_STRING, "POOL", "Storage pool name"},
    {"description", 0, CLI_FLAG_STRING, "TEXT", "Instance description"},
    {"ephemeral", 'e', CLI_FLAG_BOOL, NULL, "Ephemeral instance (deleted when it stops)"},
    {"quiet", 'q', CLI_FLAG_BOOL, NULL, "Don't show progress information"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_flag start_flags[] = {
    {"stateful", 0, CLI_FLAG_BOOL, NULL, "Resume from the checkpoint (refused without one)"},
    {"stateless", 0, CLI_FLAG_BOOL, NULL, "Discard the checkpoint, if any, and boot afresh"},
    {"force", 'f', CLI_FLAG_BOOL, NULL, "Ignored for start"},
    {"timeout", 0, CLI_FLAG_INT, "N", "Time to wait for the operation, in seconds"},
    {"all", 0, CLI_FLAG_BOOL, NULL, "Run against all instances"},
    {"quiet", 'q', CLI_FLAG_BOOL, NULL, "Don't show progress information"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_flag stop_flags[] = {
    {"force", 'f', CLI_FLAG_BOOL, NULL, "Force the instance to stop"},
    {"stateful", 0, CLI_FLAG_BOOL, NULL,
     "Keep the running state (CRIU) for the next start to resume"},
    {"timeout", 0, CLI_FLAG_INT, "N", "Time to wait for a clean shutdown (default 30)"},
    {"all", 0, CLI_FLAG_BOOL, NULL, "Run against all instances"},
    {"quiet", 'q', CLI_FLAG_BOOL, NULL, "Don't show progress information"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_flag restart_flags[] = {
    {"force", 'f', CLI_FLAG_BOOL, NULL, "Force the instance to stop"},
    {"timeout", 0, CLI_FLAG_INT, "N", "Time to wait for a clean shutdown (default 30)"},
    {"all", 0, CLI_FLAG_BOOL, NULL, "Run against all instances"},
    {"quiet", 'q', CLI_FLAG_BOOL, NULL, "Don't show progress information"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_flag delete_flags[] = {
    {"force", 'f', CLI_FLAG_BOOL, NULL, "Force the removal of running instances"},
    {"interactive", 'i', CLI_FLAG_BOOL, NULL, "Require user confirmation"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_flag list_flags[] = {
    {"format", 'f', CLI_FLAG_STRING, "FORMAT", "Format (csv|json|table|yaml)"},
    {"columns", 'c', CLI_FLAG_STRING, "COLUMNS", "Columns (default \"ns46tS\")"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_flag format_flags[] = {
    {"format", 'f', CLI_FLAG_STRING, "FORMAT", "Format (csv|json|table|yaml)"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_flag import_flags[] = {
    {"alias", 0, CLI_FLAG_LIST, "NAME", "New aliases to add to the image"},
    {"quiet", 'q', CLI_FLAG_BOOL, NULL, "Don't show progress information"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_flag alias_create_flags[] = {
    {"description", 0, CLI_FLAG_STRING, "TEXT", "Alias description"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_flag repl_flags[] = {
    {"keep-going", 0, CLI_FLAG_BOOL, NULL, "Keep running the commands after one fails"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_flag snapshot_create_flags[] = {
    {"expiry", 0, CLI_FLAG_STRING, "EXPR|DATE", "Expiry: a lifetime such as \"1d 3H\" or a date"},
    {"no-expiry", 0, CLI_FLAG_BOOL, NULL, "Never expire, whatever snapshots.expiry.manual says"},
    {"reuse", 0, CLI_FLAG_BOOL, NULL, "Replace a snapshot of the same name"},
    {"stateful", 0, CLI_FLAG_BOOL, NULL, "Include the running state (needs CRIU 4.1 or newer)"},
    {"quiet", 'q', CLI_FLAG_BOOL, NULL, "Don't show progress information"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_flag snapshot_auto_flags[] = {
    {"all", 0, CLI_FLAG_BOOL, NULL, "Every instance"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_flag snapshot_prune_flags[] = {
    {"all", 0, CLI_FLAG_BOOL, NULL, "Every instance"},
    {"dry-run", 0, CLI_FLAG_BOOL, NULL, "Say what would be deleted and why; delete nothing"},
    {"config", 'c', CLI_FLAG_LIST, "KEY=VALUE",
     "With --dry-run: a snapshots.* rule to try in place of the instance's own"},
    {"format", 'f', CLI_FLAG_STRING, "FORMAT", "Format (csv|json|table|yaml)"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_flag restore_flags[] = {
    {"diskonly", 0, CLI_FLAG_BOOL, NULL, "Restore the disk only, keep the current config"},
    {"stateful", 0, CLI_FLAG_BOOL, NULL, "Also resume the processes of a stateful snapshot (CRIU)"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_flag copy_flags[] = {
    {"instance-only", 0, CLI_FLAG_BOOL, NULL, "Copy the instance without its snapshots"},
    {"storage", 's', CLI_FLAG_STRING, "POOL", "Storage pool of the copy (default: the source's)"},
    {"quiet", 'q', CLI_FLAG_BOOL, NULL, "Don't show progress information"},
    {NULL, 0, 0, NULL, NULL},
};

static const char *const copy_aliases[] = {"cp", NULL};
static const struct cli_flag move_flags[] = {
    {"storage", 's', CLI_FLAG_STRING, "POOL", "Storage pool to move the instance to"},
    {"quiet", 'q', CLI_FLAG_BOOL, NULL, "Don't show progress information"},
    {NULL, 0, 0, NULL, NULL},
};

static const char *const move_aliases[] = {"mv", NULL};
static const struct cli_flag exec_flags[] = {
    {"env", 0, CLI_FLAG_LIST, "KEY=VALUE", "Environment variable to set (e.g. HOME=/home/foo)"},
    {"cwd", 0, CLI_FLAG_STRING, "DIR", "Directory to run the command in (default /root)"},
    {"user", 0, CLI_FLAG_INT, "UID", "User ID to run the command as (default 0)"},
    {"group", 0, CLI_FLAG_INT, "GID", "Group ID to run the command as (default 0)"},
    {"force-interactive", 't', CLI_FLAG_BOOL, NULL, "Force pseudo-terminal allocation"},
    {"force-noninteractive", 'T', CLI_FLAG_BOOL, NULL, "Disable pseudo-terminal allocation"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_flag file_push_flags[] = {
    {"create-dirs", 'p', CLI_FLAG_BOOL, NULL, "Create any directories necessary"},
    {"recursive", 'r', CLI_FLAG_BOOL, NULL, "Recursively transfer files"},
    {"mode", 0, CLI_FLAG_STRING, "MODE", "Set the file's perms on push (octal)"},
    {"uid", 0, CLI_FLAG_INT, "UID", "Set the file's uid on push (default 0)"},
    {"gid", 0, CLI_FLAG_INT, "GID", "Set the file's gid on push (default 0)"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_flag file_pull_flags[] = {
    {"create-dirs", 'p', CLI_FLAG_BOOL, NULL, "Create any directories necessary"},
    {"recursive", 'r', CLI_FLAG_BOOL, NULL, "Recursively transfer files"},
    {"keep-mode", 0, CLI_FLAG_BOOL, NULL, "Keep the setuid, setgid and sticky bits on pull"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_flag monitor_flags[] = {
    {"type", 0, CLI_FLAG_LIST, "TYPE", "Event type to listen for (lifecycle|operation|logging)"},
    {"format", 'f', CLI_FLAG_STRING, "FORMAT", "Format (json|pretty|yaml)"},
    {"pretty", 0, CLI_FLAG_BOOL, NULL, "Pretty rendering (short for --format=pretty)"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_flag console_flags[] = {
    {"show-log", 0, CLI_FLAG_BOOL, NULL, "Retrieve the container's console log"},
    {NULL, 0, 0, NULL, NULL},
};

static const char *const delete_aliases[] = {"rm", NULL};
static const char *const list_aliases[] = {"ls", NULL};
static const char *const image_aliases[] = {"images", NULL};
static const char *const sub_list_aliases[] = {"ls", NULL};
static const char *const sub_delete_aliases[] = {"rm", NULL};

static const struct cli_command config_commands[] = {
    {"show", NULL, NULL, "NAME", "Show instance configuration", 1, 1, NULL, cli_cmd_config_show,
     CLI_COMPLETE_INSTANCE},
    {"get", NULL, NULL, "NAME KEY", "Get the value of an instance configuration key", 2, 2, NULL,
     cli_cmd_config_get, CLI_COMPLETE_INSTANCE_THEN_KEY},
    {"set", NULL, NULL, "NAME KEY=VALUE...|NAME KEY VALUE", "Set instance configuration keys", 2,
     -1, NULL, cli_cmd_config_set, CLI_COMPLETE_INSTANCE_THEN_KEY},
    {"unset", NULL, NULL, "NAME KEY", "Unset an instance configuration key", 2, 2, NULL,
     cli_cmd_config_unset, CLI_COMPLETE_INSTANCE_THEN_KEY},
    {"edit", NULL, NULL, "NAME", "Edit instance configuration as YAML", 1, 1, NULL,
     cli_cmd_config_edit, CLI_COMPLETE_INSTANCE},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL, NULL, CLI_COMPLETE_NONE},
};

static const struct cli_command image_alias_commands[] = {
    {"create", NULL, NULL, "ALIAS FINGERPRINT", "Create an image alias", 2, 2, alias_create_flags,
     cli_cmd_image_alias_create, CLI_COMPLETE_NONE},
    {"delete", sub_delete_aliases, NULL, "ALIAS", "Delete an image alias", 1, 1, NULL,
     cli_cmd_image_alias_delete, CLI_COMPLETE_IMAGE},
    {"list", sub_list_aliases, NULL, "", "List image aliases", 0, 0, format_flags,
     cli_cmd_image_alias_list, CLI_COMPLETE_NONE},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL, NULL, CLI_COMPLETE_NONE},
};

static const struct cli_command image_commands[] = {
    {"list", sub_list_aliases, NULL, "", "List images", 0, 0, format_flags, cli_cmd_image_list,
     CLI_COMPLETE_NONE},
    {"import", NULL, NULL, "FILE", "Import an image tarball", 1, 1, import_flags,
     cli_cmd_image_import, CLI_COMPLETE_FILE},
    {"delete", sub_delete_aliases, NULL, "IMAGE...", "Delete images", 1, -1, NULL,
     cli_cmd_image_delete, CLI_COMPLETE_IMAGE},
    {"show", NULL, NULL, "IMAGE", "Show image properties", 1, 1, NULL, cli_cmd_image_show,
     CLI_COMPLETE_IMAGE},
    {"alias", NULL, image_alias_commands, NULL, "Manage image aliases", 0, 0, NULL, NULL,
     CLI_COMPLETE_NONE},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL, NULL, CLI_COMPLETE_NONE},
};

static const struct cli_command snapshot_commands[] = {
    {"create", NULL, NULL, "NAME [SNAPSHOT]", "Take a snapshot of an instance", 1, 2,
     snapshot_create_flags, cli_cmd_snapshot_create, CLI_COMPLETE_INSTANCE},
    {"list", sub_list_aliases, NULL, "NAME", "List the snapshots of an instance", 1, 1,
     format_flags, cli_cmd_snapshot_list, CLI_COMPLETE_INSTANCE},
    {"restore", NULL, NULL, "NAME SNAPSHOT", "Restore an instance from a snapshot", 2, 2,
     restore_flags, cli_cmd_snapshot_restore, CLI_COMPLETE_INSTANCE_THEN_SNAPSHOT},
    {"delete", sub_delete_aliases, NULL, "NAME SNAPSHOT...", "Delete snapshots", 2, -1, NULL,
     cli_cmd_snapshot_delete, CLI_COMPLETE_INSTANCE_THEN_SNAPSHOT},
    {"rename", NULL, NULL, "NAME OLD NEW", "Rename a snapshot", 3, 3, NULL, cli_cmd_snapshot_rename,
     CLI_COMPLETE_INSTANCE_THEN_SNAPSHOT},
    {"show", NULL, NULL, "NAME SNAPSHOT", "Show a snapshot as YAML", 2, 2, NULL,
     cli_cmd_snapshot_show, CLI_COMPLETE_INSTANCE_THEN_SNAPSHOT},
    {"expiry", NULL, NULL, "NAME SNAPSHOT EXPR|DATE|never", "Change when a snapshot expires", 3, 3,
     NULL, cli_cmd_snapshot_expiry, CLI_COMPLETE_INSTANCE_THEN_SNAPSHOT},
    {"auto", NULL, NULL, "NAME...|--all", "Take a scheduled snapshot now, then prune", 0, -1,
     snapshot_auto_flags, cli_cmd_snapshot_auto, CLI_COMPLETE_INSTANCE},
    {"prune", NULL, NULL, "NAME...|--all",
     "Delete expired snapshots and those retention and the limit drop", 0, -1, snapshot_prune_flags,
     cli_cmd_snapshot_prune, CLI_COMPLETE_INSTANCE},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL, NULL, CLI_COMPLETE_NONE},
};

static const struct cli_command file_commands[] = {
    {"push", NULL, NULL, "LOCAL... NAME/PATH", "Push files into instances", 2, -1, file_push_flags,
     cli_cmd_file_push, CLI_COMPLETE_FILE},
    {"pull", NULL, NULL, "NAME/PATH... LOCAL", "Pull files from instances", 2, -1, file_pull_flags,
     cli_cmd_file_pull, CLI_COMPLETE_FILE},
    {"delete", sub_delete_aliases, NULL, "NAME/PATH...", "Delete files in instances", 1, -1, NULL,
     cli_cmd_file_delete, CLI_COMPLETE_NONE},
    {.name = "edit",
     .usage = "NAME/PATH",
     .help = "Edit a file of an instance in $VISUAL or $EDITOR",
     .min_args = 1,
     .max_args = 1,
     .handler = cli_cmd_file_edit,
     .complete = CLI_COMPLETE_INSTANCE},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL, NULL, CLI_COMPLETE_NONE},
};

static const struct cli_command storage_commands[] = {
    {"list", sub_list_aliases, NULL, "", "List storage pools", 0, 0, format_flags,
     cli_cmd_storage_list, CLI_COMPLETE_NONE},
    {"info", NULL, NULL, "POOL", "Show storage pool usage", 1, 1, NULL, cli_cmd_storage_info,
     CLI_COMPLETE_POOL},
    {"create", NULL, NULL, "POOL DRIVER [KEY=VALUE...]", "Create a storage pool", 2, -1, NULL,
     cli_cmd_storage_create, CLI_COMPLETE_NONE},
    {.name = "delete",
     .aliases = sub_delete_aliases,
     .usage = "POOL",
     .help = "Delete a storage pool (refused while instances or images are on it)",
     .min_args = 1,
     .max_args = 1,
     .handler = cli_cmd_storage_delete,
     .complete = CLI_COMPLETE_POOL},
    {.name = "show",
     .usage = "POOL",
     .help = "Show a storage pool as YAML",
     .min_args = 1,
     .max_args = 1,
     .handler = cli_cmd_storage_show,
     .complete = CLI_COMPLETE_POOL},
    {.name = "get",
     .usage = "POOL KEY",
     .help = "Get the value of a storage pool key",
     .min_args = 2,
     .max_args = 2,
     .handler = cli_cmd_storage_get,
     .complete = CLI_COMPLETE_POOL},
    {.name = "set",
     .usage = "POOL KEY=VALUE...|POOL KEY VALUE",
     .help = "Set storage pool keys (size grows a loop-file pool; description)",
     .min_args = 2,
     .max_args = -1,
     .handler = cli_cmd_storage_set,
     .complete = CLI_COMPLETE_POOL},
    {.name = "unset",
     .usage = "POOL KEY",
     .help = "Unset a storage pool key",
     .min_args = 2,
     .max_args = 2,
     .handler = cli_cmd_storage_unset,
     .complete = CLI_COMPLETE_POOL},
    {.name = "edit",
     .usage = "POOL",
     .help = "Edit a storage pool as YAML",
     .min_args = 1,
     .max_args = 1,
     .handler = cli_cmd_storage_edit,
     .complete = CLI_COMPLETE_POOL},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL, NULL, CLI_COMPLETE_NONE},
};

static const struct cli_flag network_create_flags[] = {
    {"type", 't', CLI_FLAG_STRING, "TYPE", "Network type (bridge, the default)"},
    {"description", 0, CLI_FLAG_STRING, "TEXT", "Network description"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_command network_commands[] = {
    {.name = "list",
     .aliases = sub_list_aliases,
     .usage = "",
     .help = "List managed networks",
     .flags = format_flags,
     .handler = cli_cmd_network_list},
    {.name = "show",
     .usage = "NETWORK",
     .help = "Show a network as YAML",
     .min_args = 1,
     .max_args = 1,
     .handler = cli_cmd_network_show,
     .complete = CLI_COMPLETE_NETWORK},
    {.name = "create",
     .usage = "NETWORK [KEY=VALUE...]",
     .help = "Create a managed bridge (ipv4.address and ipv6.address default to auto)",
     .min_args = 1,
     .max_args = -1,
     .flags = network_create_flags,
     .handler = cli_cmd_network_create},
    {.name = "delete",
     .aliases = sub_delete_aliases,
     .usage = "NETWORK",
     .help = "Delete a network (refused while instances use it)",
     .min_args = 1,
     .max_args = 1,
     .handler = cli_cmd_network_delete,
     .complete = CLI_COMPLETE_NETWORK},
    {.name = "set",
     .usage = "NETWORK KEY=VALUE...|NETWORK KEY VALUE",
     .help = "Set network keys (description too)",
     .min_args = 2,
     .max_args = -1,
     .handler = cli_cmd_network_set,
     .complete = CLI_COMPLETE_NETWORK},
    {.name = "unset",
     .usage = "NETWORK KEY",
     .help = "Unset a network key",
     .min_args = 2,
     .max_args = 2,
     .handler = cli_cmd_network_unset,
     .complete = CLI_COMPLETE_NETWORK},
    {.name = "get",
     .usage = "NETWORK KEY",
     .help = "Get the value of a network key",
     .min_args = 2,
     .max_args = 2,
     .handler = cli_cmd_network_get,
     .complete = CLI_COMPLETE_NETWORK},
    {.name = "edit",
     .usage = "NETWORK",
     .help = "Edit a network as YAML",
     .min_args = 1,
     .max_args = 1,
     .handler = cli_cmd_network_edit,
     .complete = CLI_COMPLETE_NETWORK},
    {.name = "rename",
     .usage = "NETWORK NEW",
     .help = "Rename a network and its bridge (refused while instances use it)",
     .min_args = 2,
     .max_args = 2,
     .handler = cli_cmd_network_rename,
     .complete = CLI_COMPLETE_NETWORK},
    {.name = "info",
     .usage = "NETWORK",
     .help = "Show the bridge's state: addresses, MTU, counters, dnsmasq",
     .min_args = 1,
     .max_args = 1,
     .handler = cli_cmd_network_info,
     .complete = CLI_COMPLETE_NETWORK},
    {.name = "list-leases",
     .usage = "NETWORK",
     .help = "List the DHCP leases of a network",
     .min_args = 1,
     .max_args = 1,
     .flags = format_flags,
     .handler = cli_cmd_network_list_leases,
     .complete = CLI_COMPLETE_NETWORK},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL, NULL, CLI_COMPLETE_NONE},
};

static const struct cli_command operation_commands[] = {
    {"list", sub_list_aliases, NULL, "", "List background operations", 0, 0, format_flags,
     cli_cmd_operation_list, CLI_COMPLETE_NONE},
    {"show", NULL, NULL, "ID", "Show details on a background operation", 1, 1, NULL,
     cli_cmd_operation_show, CLI_COMPLETE_OPERATION},
    {"delete", sub_delete_aliases, NULL, "ID",
     "Delete a background operation (will attempt to cancel)", 1, 1, NULL, cli_cmd_operation_delete,
     CLI_COMPLETE_OPERATION},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL, NULL, CLI_COMPLETE_NONE},
};

/* Kept in the order of the help text. */
static const struct cli_command top_commands[] = {
    {"launch", NULL, NULL, "IMAGE [NAME]", "Create and start an instance from an image", 1, 2,
     launch_flags, cli_cmd_launch, CLI_COMPLETE_IMAGE_THEN_NONE},
    {"init", NULL, NULL, "IMAGE [NAME]", "Create an instance from an image", 1, 2, launch_flags,
     cli_cmd_init, CLI_COMPLETE_IMAGE_THEN_NONE},
    {"start", NULL, NULL, "NAME...|--all", "Start instances", 0, -1, start_flags, cli_cmd_start,
     CLI_COMPLETE_INSTANCE},
    {"stop", NULL, NULL, "NAME...|--all", "Stop instances", 0, -1, stop_flags, cli_cmd_stop,
     CLI_COMPLETE_INSTANCE},
    {"restart", NULL, NULL, "NAME...|--all", "Restart instances", 0, -1, restart_flags,
     cli_cmd_restart, CLI_COMPLETE_INSTANCE},
    {"delete", delete_aliases, NULL, "NAME[/SNAPSHOT]...", "Delete instances and snapshots", 1, -1,
     delete_flags, cli_cmd_delete, CLI_COMPLETE_INSTANCE},
    {"list", list_aliases, NULL, "[FILTER...]", "List instances", 0, -1, list_flags, cli_cmd_list,
     CLI_COMPLETE_NONE},
    {"info", NULL, NULL, "NAME", "Show instance information", 1, 1, NULL, cli_cmd_info,
     CLI_COMPLETE_INSTANCE},
    {"config", NULL, config_commands, NULL, "Manage instance configuration", 0, 0, NULL, NULL,
     CLI_COMPLETE_NONE},
    {"snapshot", NULL, snapshot_commands, "NAME [SNAPSHOT]",
     "Manage snapshots (\"snapshot NAME [SNAPSHOT]\" takes one)", 1, 2, snapshot_create_flags,
     cli_cmd_snapshot, CLI_COMPLETE_INSTANCE},
    {"restore", NULL, NULL, "NAME SNAPSHOT", "Restore an instance from a snapshot", 2, 2,
     restore_flags, cli_cmd_restore, CLI_COMPLETE_INSTANCE_THEN_SNAPSHOT},
    {"copy", copy_aliases, NULL, "SOURCE[/SNAPSHOT] DESTINATION",
     "Copy an instance, or make one from a snapshot", 2, 2, copy_flags, cli_cmd_copy,
     CLI_COMPLETE_INSTANCE},
    {.name = "rename",
     .usage = "OLD NEW",
     .help = "Rename a stopped instance with its snapshots",
     .min_args = 2,
     .max_args = 2,
     .handler = cli_cmd_rename,
     .complete = CLI_COMPLETE_INSTANCE},
    {.name = "move",
     .aliases = move_aliases,
     .usage = "OLD NEW|NAME --storage POOL",
     .help = "Rename a stopped instance, or move it with its snapshots to another pool",
     .min_args = 1,
     .max_args = 2,
     .flags = move_flags,
     .handler = cli_cmd_move,
     .complete = CLI_COMPLETE_INSTANCE},
    {"exec", NULL, NULL, "NAME [--] COMMAND...", "Execute commands in instances", 2, -1, exec_flags,
     cli_cmd_exec, CLI_COMPLETE_INSTANCE},
    {"shell", NULL, NULL, "NAME", "Open a login shell as root in an instance", 1, 1, NULL,
     cli_cmd_shell, CLI_COMPLETE_INSTANCE},
    {"file", NULL, file_commands, NULL, "Manage files in instances", 0, 0, NULL, NULL,
     CLI_COMPLETE_NONE},
    {"console", NULL, NULL, "NAME", "Attach to instance consoles", 1, 1, console_flags,
     cli_cmd_console, CLI_COMPLETE_INSTANCE},
    {"image", image_aliases, image_commands, NULL, "Manage images", 0, 0, NULL, NULL,
     CLI_COMPLETE_NONE},
    {"storage", NULL, storage_commands, NULL, "Manage storage pools", 0, 0, NULL, NULL,
     CLI_COMPLETE_NONE},
    {.name = "network",
     .subcommands = network_commands,
     .help = "Manage networks (managed bridges with DHCP, DNS and NAT)"},
    {"doctor", NULL, NULL, "[NAME]",
     "Say whether stateful snapshots can work here (CRIU, the kernel) and for an instance", 0, 1,
     NULL, cli_cmd_doctor, CLI_COMPLETE_INSTANCE},
    {"repl", NULL, NULL, "", "Run commands interactively", 0, 0, repl_flags, cli_cmd_repl,
     CLI_COMPLETE_NONE},
    {"version", NULL, NULL, "", "Show local and remote versions", 0, 0, NULL, cli_cmd_version,
     CLI_COMPLETE_NONE},
    {"monitor", NULL, NULL, "", "Monitor the daemon's events", 0, 0, monitor_flags, cli_cmd_monitor,
     CLI_COMPLETE_NONE},
    {"operation", NULL, operation_commands, NULL, "List, show and delete background operations", 0,
     0, NULL, NULL, CLI_COMPLETE_NONE},
    {"completion", NULL, NULL, "bash", "Generate the completion script for a shell", 1, 1, NULL,
     cli_cmd_completion, CLI_COMPLETE_NONE},
    {"manpage", NULL, NULL, "DIR", "Generate the manual pages of every command into DIR", 1, 1,
     NULL, cli_cmd_manpage, CLI_COMPLETE_FILE},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL, NULL, CLI_COMPLETE_NONE},
};

static const struct cli_command root = {
    "cairn",
    NULL,
    top_commands,
    NULL,
    "Command line client for cairn, a manager for LXC system containers",
    0,
    0,
    NULL,
    NULL,
    CLI_COMPLETE_NONE,
};

const struct cli_command *cli_root(void)
{
	return &root;
}
