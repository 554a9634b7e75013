#include "cmd/cairnd/https.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api/tls.h"
#include "api/trust.h"
#include "cmd/cairnd/daemon.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *cert_pem, *key_pem;
static char fingerprint[API_FINGERPRINT_SIZE];
static char *served;		   /* the address served, NULL when none */
static struct MHD_Daemon *current; /* its daemon */

int https_setup(struct daemon *d, struct err **err)
{
	_cleanup_free_ char *cert_path = str_printf("%s/server.crt", d->dir);
	_cleanup_free_ char *key_path = str_printf("%s/server.key", d->dir);
	_cleanup_free_ char *cert = NULL, *key = NULL;
	int r;

	if (!cert_path || !key_path)
		return err_set(err, -ENOMEM, "Out of memory");
	/* The key is written first, so a certificate without its key means a broken copy, not
	 * an interrupted generation: that is an error, not something to overwrite. */
	if (access(cert_path, F_OK) < 0 && errno == ENOENT) {
		log_info("Generating the server certificate");
		r = api_tls_generate(cert_path, key_path, "cairnd", err);
		if (r < 0)
			return err_wrap(err, r, "Cannot make the server certificate");
	}
	r = file_read_all(cert_path, &cert, NULL, err);
	if (r >= 0)
		r = file_read_all(key_path, &key, NULL, err);
	if (r < 0)
		return r;
	/* Both root's alone: outside the admin group nothing under CAIRN_DIR but the socket is
	 * reachable (the certificate is public, and `GET /1.0` gives it to whoever may ask). */
	if (chmod(key_path, 0600) < 0)
		return err_set_errno(err, -errno, "Failed to protect \"%s\"", key_path);
	if (chmod(cert_path, 0600) < 0)
		return err_set_errno(err, -errno, "Failed to protect \"%s\"", cert_path);
	r = api_fingerprint_pem(cert, fingerprint, err);
	if (r < 0)
		return err_wrap(err, r, "Bad server certificate \"%s\"", cert_path);
	cert_pem = steal_pointer(&cert);
	key_pem = steal_pointer(&key);
	return 0;
}

const char *https_certificate(void)
{
	return cert_pem ? cert_pem : "";
}

const char *https_fingerprint(void)
{
	return fingerprint;
}

void https_address(char *buf, unsigned long len)
{
	pthread_mutex_lock(&lock);
	snprintf(buf, len, "%s", served ? served : "");
	pthread_mutex_unlock(&lock);
}

/* A listening TCP socket on host:port. */
static int open_listener(const char *address, struct err **err)
{
	_cleanup_free_ char *host = NULL;
	_cleanup_close_ int fd = -EBADF;
	struct sockaddr_storage ss = {0};
	socklen_t len;
	unsigned port;
	int r, one = 1;

	r = api_address_parse(address, false, &host, &port, err);
	if (r < 0)
		return r;
	if (strchr(host, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, host, &s6->sin6_addr);
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, host, &s4->sin_addr);
		len = sizeof(*s4);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to create a socket");
	/* SO_REUSEADDR only skips TIME_WAIT; no SO_REUSEPORT, so a port another daemon holds is
	 * refused rather than shared. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 4096) < 0)
		return err_set_errno(err, -errno, "Cannot listen on \"%s\"", address);
	return steal_fd(&fd);
}

static void *stop_thread(void *arg)
{
	MHD_stop_daemon(arg);
	return NULL;
}

/* Stops `old` in the background: it may be the daemon running the caller. Its listening socket
 * is closed now, so the port is free when this returns. */
static void retire(struct MHD_Daemon *old, bool wait)
{
	pthread_t t;
	MHD_socket fd;

	if (!old)
		return;
	fd = MHD_quiesce_daemon(old);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	if (wait || pthread_create(&t, NULL, stop_thread, old) != 0) {
		MHD_stop_daemon(old);
		return;
	}
	pthread_detach(t);
}

int https_apply(struct daemon *d, const char *address, struct err **err)
{
	struct MHD_Daemon *mhd = NULL, *old;
	_cleanup_free_ char *copy = NULL;
	_cleanup_close_ int fd = -EBADF;
	int r;

	pthread_mutex_lock(&lock);
	if ((!address || !*address) ? !served : (served && strcmp(served, address) == 0)) {
		pthread_mutex_unlock(&lock);
		return 0;
	}
	if (address && *address) {
		if (!cert_pem) {
			pthread_mutex_unlock(&lock);
			return err_set(err, -EIO, "The server certificate is not available");
		}
		_cleanup_err_ struct err *first = NULL;

		copy = strdup(address);
		fd = open_listener(address, &first);
		/* The same port on an address that overlaps the one served: free it first, and
		 * put the old one back when the new one still fails. */
		if (fd == -EADDRINUSE && served) {
			_cleanup_err_ struct err *e = NULL;

			retire(steal_pointer(&current), false);
			fd = open_listener(address, err);
			if (fd < 0) {
				int back = open_listener(served, &e);

				if (back >= 0 &&
				    server_tls_start(d, back, key_pem, cert_pem, &current, &e) < 0)
					close(back);
				if (!current) {
					log_error("Stopped serving on \"%s\": %s", served,
						  err_msg(e, back));
					free(served);
					served = NULL;
				}
			}
		} else if (fd < 0)
			err_set(err, fd, "%s", err_msg(first, fd));
		if (fd < 0 || !copy) {
			pthread_mutex_unlock(&lock);
			return fd < 0 ? fd : err_set(err, -ENOMEM, "Out of memory");
		}
		r = server_tls_start(d, fd, key_pem, cert_pem, &mhd, err);
		if (r < 0) {
			pthread_mutex_unlock(&lock);
			return r;
		}
		fd = -EBADF; /* libmicrohttpd's now */
	}
	old = current;
	current = mhd;
	free(served);
	served = steal_pointer(&copy);
	pthread_mutex_unlock(&lock);
	retire(old, false);
	if (served)
		log_info("Serving the API over HTTPS on %s", address);
	else
		log_info("Stopped serving the API over HTTPS");
	return 0;
}

void https_stop(void)
{
	struct MHD_Daemon *old;

	pthread_mutex_lock(&lock);
	old = current;
	current = NULL;
	free(served);
	served = NULL;
	pthread_mutex_unlock(&lock);
	retire(old, true);
}
