#include "api/tls.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "api/trust.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

/* The GnuTLS functions used here, resolved once. */
static struct {
	int (*privkey_init)(gnutls_x509_privkey_t *);
	void (*privkey_deinit)(gnutls_x509_privkey_t);
	int (*privkey_generate)(gnutls_x509_privkey_t, gnutls_pk_algorithm_t, unsigned int,
				unsigned int);
	int (*privkey_export2)(gnutls_x509_privkey_t, gnutls_x509_crt_fmt_t, gnutls_datum_t *);
	int (*crt_init)(gnutls_x509_crt_t *);
	void (*crt_deinit)(gnutls_x509_crt_t);
	int (*crt_import)(gnutls_x509_crt_t, const gnutls_datum_t *, gnutls_x509_crt_fmt_t);
	int (*crt_set_version)(gnutls_x509_crt_t, unsigned int);
	int (*crt_set_serial)(gnutls_x509_crt_t, const void *, size_t);
	int (*crt_set_activation_time)(gnutls_x509_crt_t, time_t);
	int (*crt_set_expiration_time)(gnutls_x509_crt_t, time_t);
	int (*crt_set_dn_by_oid)(gnutls_x509_crt_t, const char *, unsigned int, const void *,
				 unsigned int);
	int (*crt_set_key)(gnutls_x509_crt_t, gnutls_x509_privkey_t);
	int (*crt_set_key_usage)(gnutls_x509_crt_t, unsigned int);
	int (*crt_set_key_purpose_oid)(gnutls_x509_crt_t, const void *, unsigned int);
	int (*crt_set_basic_constraints)(gnutls_x509_crt_t, unsigned int, int);
	int (*crt_sign2)(gnutls_x509_crt_t, gnutls_x509_crt_t, gnutls_x509_privkey_t,
			 gnutls_digest_algorithm_t, unsigned int);
	int (*crt_export2)(gnutls_x509_crt_t, gnutls_x509_crt_fmt_t, gnutls_datum_t *);
	const gnutls_datum_t *(*get_peers)(gnutls_session_t, unsigned int *);
	int (*rnd)(gnutls_rnd_level_t, void *, size_t);
	const char *(*strerror)(int);
	gnutls_free_function *free;
	int loaded; /* 1 when loaded, negative errno when loading failed */
	char error[256];
} g;

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
	void *h = dlopen("libgnutls.so.30", RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		snprintf(g.error, sizeof(g.error), "Cannot load GnuTLS: %s", dlerror());
		g.loaded = -ENOENT;
		return;
	}
	/* The handle stays open for the life of the process. */
#define LOAD(field, symbol)                                                                        \
	do {                                                                                       \
		*(void **)&g.field = dlsym(h, symbol);                                             \
		if (!g.field) {                                                                    \
			snprintf(g.error, sizeof(g.error), "GnuTLS lacks %s", symbol);             \
			g.loaded = -ENOENT;                                                        \
			return;                                                                    \
		}                                                                                  \
	} while (0)
	LOAD(privkey_init, "gnutls_x509_privkey_init");
	LOAD(privkey_deinit, "gnutls_x509_privkey_deinit");
	LOAD(privkey_generate, "gnutls_x509_privkey_generate");
	LOAD(privkey_export2, "gnutls_x509_privkey_export2");
	LOAD(crt_init, "gnutls_x509_crt_init");
	LOAD(crt_deinit, "gnutls_x509_crt_deinit");
	LOAD(crt_import, "gnutls_x509_crt_import");
	LOAD(crt_set_version, "gnutls_x509_crt_set_version");
	LOAD(crt_set_serial, "gnutls_x509_crt_set_serial");
	LOAD(crt_set_activation_time, "gnutls_x509_crt_set_activation_time");
	LOAD(crt_set_expiration_time, "gnutls_x509_crt_set_expiration_time");
	LOAD(crt_set_dn_by_oid, "gnutls_x509_crt_set_dn_by_oid");
	LOAD(crt_set_key, "gnutls_x509_crt_set_key");
	LOAD(crt_set_key_usage, "gnutls_x509_crt_set_key_usage");
	LOAD(crt_set_key_purpose_oid, "gnutls_x509_crt_set_key_purpose_oid");
	LOAD(crt_set_basic_constraints, "gnutls_x509_crt_set_basic_constraints");
	LOAD(crt_sign2, "gnutls_x509_crt_sign2");
	LOAD(crt_export2, "gnutls_x509_crt_export2");
	LOAD(get_peers, "gnutls_certificate_get_peers");
	LOAD(rnd, "gnutls_rnd");
	LOAD(strerror, "gnutls_strerror");
	LOAD(free, "gnutls_free");
#undef LOAD
	g.loaded = 1;
}

static int tls_load(struct err **err)
{
	pthread_once(&once, load);
	if (g.loaded < 0)
		return err_set(err, g.loaded, "%s", g.error);
	return 0;
}

static void privkey_deinitp(gnutls_x509_privkey_t *k)
{
	if (*k)
		g.privkey_deinit(*k);
	*k = NULL;
}

static void crt_deinitp(gnutls_x509_crt_t *c)
{
	if (*c)
		g.crt_deinit(*c);
	*c = NULL;
}

static void datum_freep(gnutls_datum_t *d)
{
	if (d->data)
		(*g.free)(d->data);
	d->data = NULL;
}

#define CHECK(call, what)                                                                          \
	do {                                                                                       \
		int rc_ = (call);                                                                  \
		if (rc_ < 0)                                                                       \
			return err_set(err, -EIO, "Failed to %s: %s", what, g.strerror(rc_));      \
	} while (0)

int api_tls_generate(const char *cert_path, const char *key_path, const char *common_name,
		     struct err **err)
{
	_cleanup_(privkey_deinitp) gnutls_x509_privkey_t key = NULL;
	_cleanup_(crt_deinitp) gnutls_x509_crt_t crt = NULL;
	_cleanup_(datum_freep) gnutls_datum_t key_pem = {0};
	_cleanup_(datum_freep) gnutls_datum_t crt_pem = {0};
	unsigned char serial[16];
	time_t now = time(NULL);
	int r;

	r = tls_load(err);
	if (r < 0)
		return r;
	CHECK(g.privkey_init(&key), "create a private key");
	CHECK(g.privkey_generate(key, GNUTLS_PK_ECDSA,
				 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1), 0),
	      "generate a private key");
	CHECK(g.crt_init(&crt), "create a certificate");
	CHECK(g.rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)), "make a serial number");
	serial[0] &= 0x7f; /* a positive INTEGER */
	serial[0] |= 0x01;
	CHECK(g.crt_set_version(crt, 3), "set the certificate version");
	CHECK(g.crt_set_serial(crt, serial, sizeof(serial)), "set the serial number");
	/* A minute back, so that a peer whose clock is a little behind accepts it. */
	CHECK(g.crt_set_activation_time(crt, now - 60), "set the activation time");
	CHECK(g.crt_set_expiration_time(crt, now + 10LL * 365 * 86400), "set the expiry");
	CHECK(g.crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, "cairn", 5),
	      "set the organisation");
	CHECK(g.crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, common_name,
				  (unsigned)strlen(common_name)),
	      "set the common name");
	CHECK(g.crt_set_key(crt, key), "set the certificate's key");
	CHECK(g.crt_set_basic_constraints(crt, 0, -1), "set the basic constraints");
	CHECK(g.crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE), "set the key usage");
	CHECK(g.crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0), "set the key purpose");
	CHECK(g.crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0), "set the key purpose");
	CHECK(g.crt_sign2(crt, crt, key, GNUTLS_DIG_SHA384, 0), "sign the certificate");
	CHECK(g.privkey_export2(key, GNUTLS_X509_FMT_PEM, &key_pem), "export the private key");
	CHECK(g.crt_export2(crt, GNUTLS_X509_FMT_PEM, &crt_pem), "export the certificate");
	r = file_write_atomic(key_path, key_pem.data, key_pem.size, 0600, err);
	if (r < 0)
		return r;
	return file_write_atomic(cert_path, crt_pem.data, crt_pem.size, 0644, err);
}

int api_tls_certificate_check(const char *pem, struct err **err)
{
	_cleanup_(crt_deinitp) gnutls_x509_crt_t crt = NULL;
	_cleanup_(datum_freep) gnutls_datum_t checked = {0};
	_cleanup_free_ uint8_t *der = NULL;
	size_t len = 0;
	gnutls_datum_t d = {.data = (unsigned char *)pem, .size = (unsigned)strlen(pem)};
	int r, rc;

	r = tls_load(err);
	if (r < 0)
		return r;
	CHECK(g.crt_init(&crt), "create a certificate");
	rc = g.crt_import(crt, &d, GNUTLS_X509_FMT_PEM);
	if (rc < 0)
		return err_set(err, -EINVAL, "Invalid certificate: %s", g.strerror(rc));
	/* The trust store keeps the fingerprint api_pem_to_der() reads, of the first CERTIFICATE
	 * block; GnuTLS falls back to an "X509 CERTIFICATE" block when there is no whole one.
	 * Both must have read the same certificate, or the one checked is not the one trusted. */
	CHECK(g.crt_export2(crt, GNUTLS_X509_FMT_DER, &checked), "export the certificate");
	r = api_pem_to_der(pem, &der, &len, err);
	if (r < 0)
		return r;
	if (len != checked.size || memcmp(der, checked.data, len) != 0)
		return err_set(err, -EINVAL,
			       "Invalid certificate: its first CERTIFICATE block is not the "
			       "certificate GnuTLS reads");
	return 0;
}

int api_tls_peer_certificate(void *session, const uint8_t **ret, size_t *ret_len)
{
	const gnutls_datum_t *peers;
	unsigned n = 0;

	if (!session || tls_load(NULL) < 0)
		return -ENOENT;
	peers = g.get_peers((gnutls_session_t)session, &n);
	if (!peers || n == 0 || !peers[0].data || peers[0].size == 0)
		return -ENOENT;
	*ret = peers[0].data;
	*ret_len = peers[0].size;
	return 0;
}
