#pragma once

/* The route handlers, one file per API family (api_*.c). See routes.h for the contract. */

#include <stdbool.h>
#include <sys/types.h>

#include <json-c/json.h>

struct daemon;
struct err;
struct request;

#define HANDLER(name)                                                                              \
	int name(struct daemon *d, struct request *req, json_object **ret_envelope,                \
		 struct err **err)

HANDLER(handle_root);
HANDLER(handle_server);
HANDLER(handle_server_put);
HANDLER(handle_server_patch);
HANDLER(handle_certificates_list);
HANDLER(handle_certificates_create);
HANDLER(handle_certificate_get);
HANDLER(handle_certificate_delete);
HANDLER(handle_tokens_list);
HANDLER(handle_token_delete);
HANDLER(handle_remotes_list);
HANDLER(handle_remotes_create);
HANDLER(handle_remote_get);
HANDLER(handle_remote_delete);
HANDLER(handle_events);
HANDLER(handle_operations_list);
HANDLER(handle_operation_get);
HANDLER(handle_operation_delete);
HANDLER(handle_operation_wait);
HANDLER(handle_operation_websocket);

/* The console in LXD's shape (cmd/cairnd/api_exec.c): an operation whose websockets "0" and
 * "control" carry the console `ptx` until the client detaches; `ptx` and `hold` (what holds
 * the console in liblxc) are taken over. Returns 202 with the async envelope. */
int api_console_websocket(struct daemon *d, struct request *req, int ptx, int hold,
			  json_object **ret_envelope, struct err **err);
HANDLER(handle_profiles_list);
HANDLER(handle_profiles_create);
HANDLER(handle_profile_get);
HANDLER(handle_profile_put);
HANDLER(handle_profile_patch);
HANDLER(handle_profile_post);
HANDLER(handle_profile_delete);
HANDLER(handle_instances_list);
HANDLER(handle_instances_create);
HANDLER(handle_instance_get);
HANDLER(handle_instance_put);
HANDLER(handle_instance_patch);
HANDLER(handle_instance_delete);
HANDLER(handle_instance_post);
HANDLER(handle_instance_state_get);
HANDLER(handle_instance_state_put);
HANDLER(handle_instance_exec);
HANDLER(handle_instance_files_get);
HANDLER(handle_instance_files_post);
HANDLER(handle_instance_files_delete);
HANDLER(handle_instance_console_get);
HANDLER(handle_instance_console_post);
HANDLER(handle_snapshots_list);
HANDLER(handle_snapshots_create);
HANDLER(handle_snapshot_get);
HANDLER(handle_snapshot_put);
HANDLER(handle_snapshot_post);
HANDLER(handle_snapshot_delete);
HANDLER(handle_snapshots_auto);
HANDLER(handle_snapshots_prune);
HANDLER(handle_images_list);
HANDLER(handle_images_create);
HANDLER(handle_aliases_list);
HANDLER(handle_aliases_create);
HANDLER(handle_alias_get);
HANDLER(handle_alias_delete);
HANDLER(handle_image_get);
HANDLER(handle_image_delete);
HANDLER(handle_pools_list);
HANDLER(handle_pools_create);
HANDLER(handle_pool_get);
HANDLER(handle_pool_resources);
HANDLER(handle_pool_put);
HANDLER(handle_pool_patch);
HANDLER(handle_pool_delete);
HANDLER(handle_resources_criu);
HANDLER(handle_networks_list);
HANDLER(handle_networks_create);
HANDLER(handle_network_get);
HANDLER(handle_network_put);
HANDLER(handle_network_patch);
HANDLER(handle_network_delete);
HANDLER(handle_network_post);
HANDLER(handle_network_state);
HANDLER(handle_network_leases);
HANDLER(handle_backups_list);
HANDLER(handle_backups_create);
HANDLER(handle_backup_get);
HANDLER(handle_backup_delete);
HANDLER(handle_backup_export);
/* POST /1.0/instances with an application/octet-stream body: an import (api_backups.c). */
HANDLER(handle_instances_import);

/* ---- api_snapshots.c: pieces the instance handlers share ---- */

struct snapshot_info;

/* The snapshot object of the API (see doc/api.md). New reference. */
json_object *api_snapshot_to_json(const struct snapshot_info *s, const char *architecture);

/* PUT /1.0/instances/<name> with "restore" (and "stateful"): starts the restore operation (202). */
int api_snapshot_restore(struct daemon *d, struct request *req, const char *snapshot,
			 bool disk_only, bool stateful, json_object **ret_envelope,
			 struct err **err);

/* POST /1.0/instances with a "copy" source ("c1" or "c1/snap0"): starts the copy (202) onto
 * `pool` (the root disk's pool of the body; NULL: the source's). With `restricted`, a copy that
 * would be privileged or have a host-path disk is refused (instance_settings_restricted()).
 * `refresh` (NULL: a plain copy): a refresh of instance `name` (made when missing) from instance
 * `source`, through the migration stream (migration_local()); a running target is refused. */
struct migration_opts;
int api_instance_copy(struct daemon *d, const char *name, const char *source, const char *pool,
		      bool instance_only, const struct migration_opts *refresh, bool restricted,
		      json_object **ret_envelope, struct err **err);

/* ---- api_networks.c: pieces the instance handlers share ---- */

/* The "network" object of an instance's state: its interfaces as the namespace of `pid` (its
 * init) shows them, in Incus's shape; empty when it is stopped (pid 0). New reference. */
json_object *api_instance_network_json(pid_t pid);

/* route_spool functions (routes.h) of the ROUTE_BODY_FILE routes. */
int spool_instance_file(struct daemon *d, struct request *req, char **ret_dir, struct err **err);
int spool_image(struct daemon *d, struct request *req, char **ret_dir, struct err **err);
int spool_instance_import(struct daemon *d, struct request *req, char **ret_dir, struct err **err);

/* Migration between daemons (cmd/cairnd/api_migration.c): the source's side of
 * POST /1.0/instances/<name> {"migration": true}, the target's of POST /1.0/instances with a
 * source of type "migration" (the pool from its root disk, NULL: default), and the data
 * exchange on /1.0/operations/<id>/migration. */
int api_instance_migrate(struct daemon *d, struct request *req, json_object **ret_envelope,
			 struct err **err);
/* The source's side of POST /1.0/instances/<name>/snapshots/<snap> {"migration": true}: the
 * snapshot's tree sent as a new instance. */
int api_snapshot_migrate(struct daemon *d, struct request *req, json_object **ret_envelope,
			 struct err **err);
int api_instances_migration(struct daemon *d, struct request *req, const char *name,
			    json_object *source, const char *pool, json_object **ret_envelope,
			    struct err **err);
HANDLER(handle_operation_migration_get);
HANDLER(handle_operation_migration_post);
int stream_operation_migration(struct daemon *d, struct request *req, int *ret_fd,
			       struct err **err);
