#pragma once

/*
 * The certificates of HTTPS: generating a key and a self-signed certificate (the daemon's, once,
 * and the client's, on first need), checking a certificate handed in, and reading the client
 * certificate of a TLS session. GnuTLS is loaded with dlopen() on first use: cairnd has it
 * already (libmicrohttpd is linked with it), and the client, which needs it only the first time
 * it makes its own certificate, does not pay for loading it on every command.
 */

#include <stddef.h>
#include <stdint.h>

struct err;

/*
 * Makes an ECDSA P-384 key and a self-signed X.509 certificate for `common_name`, valid for ten
 * years for both TLS server and client authentication, and writes them as PEM: the key to
 * `key_path` (mode 0600) first, then the certificate to `cert_path` (0644), each atomically, so
 * a certificate never exists without its key. -ENOENT when GnuTLS cannot be loaded, -EIO when
 * it fails, or the errno of a failed write, the message naming the file.
 */
int api_tls_generate(const char *cert_path, const char *key_path, const char *common_name,
		     struct err **err);

/* Checks that `pem` holds an X.509 certificate GnuTLS can read, and that it is the one
 * api_pem_to_der() reads (whose fingerprint is trusted). -EINVAL with `Invalid certificate: ...`
 * otherwise, -ENOENT when GnuTLS cannot be loaded, -EIO when GnuTLS fails. */
int api_tls_certificate_check(const char *pem, struct err **err);

/* The DER of the certificate the peer of TLS session `session` (a gnutls_session_t) presented,
 * borrowed from the session. -ENOENT when it presented none. */
int api_tls_peer_certificate(void *session, const uint8_t **ret, size_t *ret_len);
