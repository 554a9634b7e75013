#pragma once

/*
 * The daemon's process-wide state, shared by the HTTP threads, the operation workers and the
 * main loop.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "instance/instance.h"

struct MHD_Daemon;
struct network_manager;
struct MHD_Connection;
struct MHD_Response;
struct err;

struct daemon {
	char *dir;	  /* CAIRN_DIR */
	char *helper;	  /* the cairn-fork program (instance/fork.h) */
	char *self_exe;	  /* this binary, for the forkfile helper */
	char *group_name; /* admin group */
	gid_t group_gid;  /* (gid_t)-1 when the group does not exist */
	int lock_fd;	  /* flock on $CAIRN_DIR/.lock: one daemon per directory */
	/* --restricted: the admin group may make neither privileged containers nor host-path
	 * disks; root still may. */
	bool restricted;
	int listen_fd;
	struct MHD_Daemon *mhd;
	struct instance_env env;	  /* db, pools, idmap: what the lifecycle needs */
	struct network_manager *networks; /* managed networks; NULL until daemon_networks_start() */

	/* Instances with an operation in flight: a second change to one of them is refused with
	 * a conflict rather than interleaved. */
	pthread_mutex_t busy_lock;
	char **busy; /* NULL-terminated names */
};

/* A request as the handlers see it. */
struct request {
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
	char params[4][256]; /* the route's captured segments, decoded */
	size_t n_params;
	json_object *body;	/* the JSON body (ROUTE_BODY_JSON), NULL when empty */
	int body_fd;		/* the uploaded body (ROUTE_BODY_FILE), -EBADF otherwise */
	uint64_t body_streamed; /* bytes of a ROUTE_BODY_STREAM body passed on */
	int body_stream_error;	/* negative errno when passing it on failed, else 0 */
	uid_t uid;		/* peer credentials */
	gid_t gid;
	pid_t pid;
	/* Over HTTPS (core.https_address) rather than the unix socket; uid is then (uid_t)-1,
	 * so --restricted applies to every network client. */
	bool network;
	/* Root or the admin group on the socket; a trusted certificate over HTTPS. */
	bool trusted;
	char fingerprint[65]; /* of the client certificate over HTTPS, "" when none */
	/* A handler that answers with something other than an envelope (file contents, a protocol
	 * upgrade) sets this; the server queues it with the handler's status and destroys it. */
	struct MHD_Response *response;
};

/* True when `req` comes from someone --restricted applies to: not root, on a restricted daemon. */
bool request_restricted(const struct daemon *d, const struct request *req);

/* A query argument of the request, or NULL. */
const char *request_query(struct request *req, const char *key);

/* A header of the request (case-insensitive name), or NULL. */
const char *request_header(struct request *req, const char *name);

/* The DER of the certificate a network client presented, borrowed from its TLS session;
 * -ENOENT when it presented none or came through the unix socket. */
int request_client_certificate(struct request *req, const uint8_t **ret, size_t *ret_len);

/* The integer value of ?recursion= (0 when absent or invalid). */
int request_recursion(struct request *req);

/*
 * Marks instance `name` busy for the caller. -EBUSY with "Instance "x" is busy: another
 * operation on it is running" when it already is. Release with daemon_release().
 */
int daemon_claim(struct daemon *d, const char *name, struct err **err);
void daemon_release(struct daemon *d, const char *name);

/* Sets up $CAIRN_DIR (directories, modes), opens the database, loads the idmap and pools,
 * mounts them, creates the default pool and the busybox image when there is no pool yet
 * (`backend`/`size` choose how; NULL/0 for the defaults), and runs recovery. */
int daemon_setup(struct daemon *d, const char *backend, uint64_t size, struct err **err);

/* Creates pool `name` with `driver` ("btrfs" or "dir"), `source` (NULL: a loop file at
 * disks/<name>.img for btrfs, the pool directory itself for dir) and `size` (0: 10GiB), records
 * it and adds it to the daemon's list. Undoes itself on failure. */
int daemon_pool_create(struct daemon *d, const char *name, const char *driver, const char *source,
		       uint64_t size, struct err **err);

/* Deletes pool `name`: refused (-EBUSY) while instances or images are on it, naming them; then
 * its row goes and its storage (mount, loop file, mount point) is removed. -ENOENT when
 * unknown. */
int daemon_pool_delete(struct daemon *d, const char *name, struct err **err);

/* Sets the size (0: unchanged; a loop file only grows) and description (NULL: unchanged) of pool
 * `name`. -EINVAL to shrink, -EOPNOTSUPP for a pool without a loop file. */
int daemon_pool_update(struct daemon *d, const char *name, uint64_t size, const char *description,
		       struct err **err);

/* Creates the network manager, finishes or undoes what the last run left of network changes,
 * brings every network up and starts the dnsmasq supervisor (run by the serving daemon only,
 * before autostart: instances need their bridges). */
int daemon_networks_start(struct daemon *d, struct err **err);

/*
 * `cairnd init`'s network: creates managed bridge `name` (auto IPv4 /24 with NAT, auto IPv6 ULA,
 * dnsmasq) unless a network of that name exists, and gives the `default` profile an `eth0` nic on
 * it unless the profile has a nic already. Running it again changes nothing. Prints what it did
 * on `out`. -EEXIST when a host interface has the name.
 */
int daemon_init_network(struct daemon *d, const char *name, FILE *out, struct err **err);

/* Closes the database and frees everything (pools stay mounted: containers keep running). */
void daemon_done(struct daemon *d);

/* Serves the API on $CAIRN_DIR/unix.socket, and over HTTPS when core.https_address is set, until
 * daemon_server_stop(). */
int daemon_server_start(struct daemon *d, struct err **err);
void daemon_server_stop(struct daemon *d);

/* Starts a libmicrohttpd daemon serving the routes over TLS on the listening socket `fd` (taken
 * over on success) with the server's `key` and `cert` (PEM), asking clients for a certificate.
 * *ret is the caller's to stop. */
int server_tls_start(struct daemon *d, int fd, const char *key, const char *cert,
		     struct MHD_Daemon **ret, struct err **err);
