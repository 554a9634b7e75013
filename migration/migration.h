#pragma once

/*
 * Copy, move and refresh of instances between two cairnd daemons (doc/architecture.md,
 * "Migration"). Every transfer has a source and a target; the target says what it already has
 * (its "haves": each snapshot's name and the UUID that ties it to the source's snapshot, and its
 * pool's driver), the source answers with one stream of what the target lacks:
 *
 *   - both pools btrfs: the optimized backup layout (backup/send.h): backup/index.yaml, then a
 *     btrfs send stream per snapshot the target lacks, each a difference from the one before,
 *     the first a difference from the newest snapshot both sides have (matched by UUID, not by
 *     name), and the instance's volume last;
 *   - a dir pool on either side: the file-level backup layout (backup/backup.h) of the snapshots
 *     the target lacks and the instance's volume.
 *
 * The target receives into a new instance (a CREATING row, removed at recovery if the daemon
 * dies) or, for a refresh, into the existing stopped instance: each new snapshot committed whole
 * and at once, the volume swapped in last with RENAME_EXCHANGE, so that a transfer cut at any
 * byte leaves whole snapshots and a whole instance, and a retried refresh starts from them.
 */

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

struct err;
struct instance_env;

/* What both ends of a transfer were asked to do. */
struct migration_opts {
	bool instance_only;	    /* no snapshots */
	bool refresh;		    /* into an existing instance: send only what it lacks */
	bool refresh_exclude_older; /* a refresh skips source snapshots older than the target's
				       newest one */
	bool refresh_prune; /* a refresh deletes target snapshots the source no longer has */
	/* The source sends this snapshot of the instance (NULL: the instance): its tree becomes
	 * a new instance on the target, without snapshots; never a refresh. */
	const char *snapshot;
	/* Called on the source once the instance itself is no longer needed (its temporary
	 * snapshot is taken), so that the caller can let other operations at it; may be NULL. */
	void (*release)(void *ctx);
	void *release_ctx;
};

/*
 * The target's haves for instance `name` (which need not exist; then it has nothing) on the pool
 * the transfer would land on (`pool`, NULL: the instance's own, else "default"), as the JSON
 * object sent to the source: {"driver": "btrfs", "exists": bool, "snapshots": [{"name",
 * "uuid", "ctransid"}...]}. *ret is the caller's.
 */
int migration_target_haves(const struct instance_env *env, const char *name, const char *pool,
			   const struct migration_opts *opts, json_object **ret, struct err **err);

/*
 * The source's side: writes to `fd` the stream of what the target lacks, given its `haves`,
 * from instance `name` (running or not: read through a temporary snapshot). -ENOENT for an
 * unknown instance, -EINVAL for haves that do not parse, else the errno of what failed.
 */
int migration_source_send(const struct instance_env *env, const char *name, json_object *haves,
			  const struct migration_opts *opts, int fd, struct err **err);

/*
 * The target's side: reads the stream from `fd` into instance `name` on pool `pool` (NULL: the
 * instance's own or "default"): a new instance, or with opts->refresh an existing stopped one
 * (-EBUSY "Instance ... is running: stop it before a refresh"). `restricted`: refuse what
 * `cairnd --restricted` refuses. Every check of an import applies, and a stream's parent must be
 * one of this instance's own snapshots. Nothing half made is left on failure.
 */
int migration_target_receive(const struct instance_env *env, const char *name, const char *pool,
			     const struct migration_opts *opts, bool restricted, int fd,
			     struct err **err);

/* The refusal of a refresh into instance `name` here: -EBUSY while it runs. */
int migration_refresh_allowed(const struct instance_env *env, const char *name, struct err **err);

struct migration_http;

/*
 * Push mode, the source's side: asks the target operation `op` (its URL or path on `h`'s peer)
 * for its haves with `secret`, then sends the stream of instance `name` to it and waits for its
 * answer, which comes once the target has committed what it received. *ret_bytes (may be NULL)
 * is the stream's size on the wire. A local failure wins over the target's, which then only saw
 * a stream cut short.
 */
int migration_push(const struct instance_env *env, const char *name, struct migration_http *h,
		   const char *op, const char *secret, const struct migration_opts *opts,
		   uint64_t *ret_bytes, struct err **err);

/*
 * Pull mode, the target's side: sends this daemon's haves for `name` to the source operation
 * `op` with `secret` and receives the stream it answers (migration_target_receive()).
 * *ret_bytes (may be NULL) is the stream's size on the wire.
 */
int migration_pull(const struct instance_env *env, const char *name, const char *pool,
		   struct migration_http *h, const char *op, const char *secret,
		   const struct migration_opts *opts, bool restricted, uint64_t *ret_bytes,
		   struct err **err);

/*
 * A refresh within this daemon (`cairn copy --refresh SRC DST`): the source's stream of what
 * instance `target` lacks (a new instance on pool `pool` when it does not exist) received
 * through a pipe by migration_target_receive(), so that it has the semantics and the crash
 * safety of a refresh between daemons. opts->refresh must be set. Errors as for
 * migration_source_send() and migration_target_receive(); the receiver's refusal wins over the
 * broken pipe it causes.
 */
int migration_local(const struct instance_env *env, const char *source, const char *target,
		    const char *pool, const struct migration_opts *opts, bool restricted,
		    struct err **err);

/* "https://HOST[:PORT]" of a URL (caller frees); NULL when `url` is not https:// or on OOM. */
char *migration_url_base(const char *url);

/* A remote cairnd the daemon itself talks to. */
struct migration_remote {
	const char *address;	 /* its API: "https://ADDR[:PORT]" */
	const char *certificate; /* its server certificate (PEM), whose key is pinned */
};

/*
 * Refreshes instance `name` onto `remote` as `target_name` (NULL: the same name), without any
 * client: creates the target operation on the remote (POST /1.0/instances, source type
 * "migration", push mode, refresh; a missing target instance is copied whole), authenticated
 * by this daemon's own certificate ($CAIRN_DIR/server.crt, which the remote must trust), then
 * pushes the stream and waits for the remote to commit it. opts->refresh is implied.
 * *ret_bytes (may be NULL) is the stream's size on the wire. Errors: the remote's refusal with
 * its message (-EPERM for a certificate it does not trust or a pin that does not match,
 * -EHOSTUNREACH when it cannot be reached, -EBUSY when the target instance runs), or the
 * errno of the local failure.
 */
int migration_refresh_remote(const struct instance_env *env, const char *name,
			     const struct migration_remote *remote, const char *target_name,
			     const struct migration_opts *opts, uint64_t *ret_bytes,
			     struct err **err);
