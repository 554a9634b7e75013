/*
 * Test driver of migration_refresh_remote() (migration/migration.h), the call the daemon makes on
 * its own to refresh an instance onto a remote that trusts its certificate (the snapshot
 * server's): opens the state of a stopped daemon ($CAIRN_DIR) as cairnd does at start and
 * refreshes instance NAME onto https://ADDR, whose server certificate is in CERT_FILE, as
 * TARGET. Prints "Transferred N bytes", or "Error: ..." and exits 1.
 *
 *   refresh-remote NAME https://ADDR CERT_FILE [TARGET] [--prune]
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cairnd/daemon.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "migration/migration.h"

int main(int argc, char **argv)
{
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *cert = NULL;
	const char *dir = getenv("CAIRN_DIR");
	struct migration_opts opts = {0};
	struct migration_remote remote;
	uint64_t bytes = 0;
	struct daemon d;
	int r;

	if (argc < 4 || argc > 6) {
		fprintf(stderr,
			"usage: refresh-remote NAME https://ADDR CERT_FILE [TARGET] [--prune]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	memset(&d, 0, sizeof(d));
	d.lock_fd = -EBADF;
	d.listen_fd = -EBADF;
	pthread_mutex_init(&d.busy_lock, NULL);
	d.dir = strdup(dir && *dir ? dir : "/var/lib/cairn");
	d.group_name = strdup("root");
	d.helper = strdup("/nonexistent");
	d.self_exe = strdup("/nonexistent");
	if (!d.dir || !d.group_name || !d.helper || !d.self_exe)
		return 1;
	r = file_read_all(argv[3], &cert, NULL, &e);
	if (r >= 0)
		r = daemon_setup(&d, NULL, 0, &e);
	if (r >= 0) {
		remote.address = argv[2];
		remote.certificate = cert;
		opts.refresh_prune = (argc > 4 && strcmp(argv[argc - 1], "--prune") == 0);
		r = migration_refresh_remote(&d.env, argv[1], &remote,
					     argc > 4 && strcmp(argv[4], "--prune") != 0 ? argv[4]
											 : NULL,
					     &opts, &bytes, &e);
	}
	daemon_done(&d);
	if (r < 0) {
		fprintf(stderr, "Error: %s\n", err_msg(e, r));
		return 1;
	}
	printf("Transferred %llu bytes\n", (unsigned long long)bytes);
	return 0;
}
