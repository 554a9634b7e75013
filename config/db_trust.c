#include "config/db.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/db-internal.h"

/*
 * The tables of the network API: server_config (key, value), certificates (the trust store,
 * keyed by fingerprint) and trust_tokens (one-time secrets; a row is deleted when used, in the
 * same transaction that trusts the certificate, so a token works once even when two clients
 * race with it).
 */

int db_server_config_get(struct db *db, struct kvlist *ret, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_kvlist_ struct kvlist kv = {0};
	int r, rc;

	r = dbq_prepare(db, "SELECT key, value FROM server_config ORDER BY key", &st, err);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (kvlist_set(&kv, (const char *)sqlite3_column_text(st, 0),
			       (const char *)sqlite3_column_text(st, 1)) < 0)
			return dbq_oom(err);
	if (rc != SQLITE_DONE)
		return dbq_fail(db, rc, err, "Cannot read the server config");
	*ret = kv;
	kv = (struct kvlist){0};
	return 0;
}

int db_server_config_replace(struct db *db, const struct kvlist *config, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn txn = {0};
	int r;

	r = dbq_txn_begin(db, &txn, true, err);
	if (r < 0)
		return r;
	r = dbq_exec(db, "DELETE FROM server_config", err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < config->n; i++) {
		if (!config->items[i].value || !*config->items[i].value)
			continue;
		r = dbq_change_rows(db, "INSERT INTO server_config (key, value) VALUES (?, ?)", err,
				    "tt", config->items[i].key, config->items[i].value);
		if (r < 0)
			return err_wrap(err, r, "Cannot write the server config");
	}
	return dbq_txn_commit(&txn, err);
}

void db_certificate_done(struct db_certificate *c)
{
	if (!c)
		return;
	free(c->fingerprint);
	free(c->name);
	free(c->type);
	free(c->certificate);
	*c = (struct db_certificate){0};
}

void db_certificates_free(struct db_certificate *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		db_certificate_done(&v[i]);
	free(v);
}

void db_token_done(struct db_token *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->secret);
	*t = (struct db_token){0};
}

void db_tokens_free(struct db_token *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		db_token_done(&v[i]);
	free(v);
}

#define CERT_COLUMNS "fingerprint, name, type, certificate, created_at"

static int read_certificate(sqlite3_stmt *st, struct db_certificate *c)
{
	c->created_at = sqlite3_column_int64(st, 4);
	if (dbq_col_str(st, 0, &c->fingerprint) < 0 || dbq_col_str(st, 1, &c->name) < 0 ||
	    dbq_col_str(st, 2, &c->type) < 0 || dbq_col_str(st, 3, &c->certificate) < 0)
		return -ENOMEM;
	return 0;
}

int db_certificate_list(struct db *db, struct db_certificate **ret, size_t *ret_n, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct db_certificate *v = NULL;
	size_t n = 0;
	int r, rc;

	r = dbq_prepare(db, "SELECT " CERT_COLUMNS " FROM certificates ORDER BY name, fingerprint",
			&st, err);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct db_certificate *nv = realloc(v, (n + 1) * sizeof(*v));

		if (!nv) {
			db_certificates_free(v, n);
			return dbq_oom(err);
		}
		v = nv;
		v[n] = (struct db_certificate){0};
		if (read_certificate(st, &v[n++]) < 0) {
			db_certificates_free(v, n);
			return dbq_oom(err);
		}
	}
	if (rc != SQLITE_DONE) {
		db_certificates_free(v, n);
		return dbq_fail(db, rc, err, "Cannot list the trusted certificates");
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int db_certificate_get(struct db *db, const char *fp, struct db_certificate *ret, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_(db_certificate_done) struct db_certificate c = {0};
	_cleanup_free_ char *pattern = NULL;
	int r, rc;

	/* A prefix: at least 12 hex digits, and no LIKE wildcard can come in through it. */
	if (strlen(fp) < 12 || strlen(fp) > 64 || strspn(fp, "0123456789abcdef") != strlen(fp))
		return err_set(err, -ENOENT, "Certificate \"%s\" not found", fp);
	pattern = str_printf("%s%%", fp);
	if (!pattern)
		return dbq_oom(err);
	r = dbq_prepare(db,
			"SELECT " CERT_COLUMNS " FROM certificates WHERE fingerprint LIKE ?"
			" ORDER BY fingerprint LIMIT 2",
			&st, err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "t", pattern);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return err_set(err, -ENOENT, "Certificate \"%s\" not found", fp);
	if (rc != SQLITE_ROW)
		return dbq_fail(db, rc, err, "Cannot read certificate \"%s\"", fp);
	if (read_certificate(st, &c) < 0)
		return dbq_oom(err);
	if (sqlite3_step(st) == SQLITE_ROW)
		return err_set(err, -EINVAL, "Certificate prefix \"%s\" names several certificates",
			       fp);
	*ret = c;
	c = (struct db_certificate){0};
	return 0;
}

bool db_certificate_trusted(struct db *db, const char *fp)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (dbq_prepare(db, "SELECT 1 FROM certificates WHERE fingerprint = ?", &st, NULL) < 0 ||
	    dbq_bind(db, st, NULL, "t", fp) < 0)
		return false;
	return sqlite3_step(st) == SQLITE_ROW;
}

/* The INSERT of a certificate, under the caller's lock. */
static int insert_certificate(struct db *db, const struct db_certificate *c, const char *name,
			      struct err **err)
{
	int r = dbq_change_rows(db,
				"INSERT INTO certificates (fingerprint, name, type, certificate,"
				" created_at) VALUES (?, ?, ?, ?, ?)",
				err, "tttti", c->fingerprint, name ? name : "",
				c->type ? c->type : "client", c->certificate, time_now());

	if (r == -EEXIST)
		return err_set(err, r, "Certificate \"%s\" is already trusted", c->fingerprint);
	if (r < 0)
		return err_wrap(err, r, "Cannot add certificate \"%s\"", c->fingerprint);
	return 0;
}

int db_certificate_add(struct db *db, const struct db_certificate *c, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);

	return insert_certificate(db, c, c->name, err);
}

int db_certificate_delete(struct db *db, const char *fp, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	int r = dbq_change_rows(db, "DELETE FROM certificates WHERE fingerprint = ?", err, "t", fp);

	if (r == -ENOENT)
		return err_set(err, r, "Certificate \"%s\" not found", fp);
	return r < 0 ? err_wrap(err, r, "Cannot remove certificate \"%s\"", fp) : 0;
}

int db_token_add(struct db *db, const struct db_token *t, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	int r = dbq_change_rows(db,
				"INSERT INTO trust_tokens (secret, name, created_at, expires_at)"
				" VALUES (?, ?, ?, ?)",
				err, "ttii", t->secret, t->name, t->created_at, t->expires_at);

	return r < 0 ? err_wrap(err, r, "Cannot record the trust token") : 0;
}

int db_token_list(struct db *db, struct db_token **ret, size_t *ret_n, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct db_token *v = NULL;
	size_t n = 0;
	int r, rc;

	r = dbq_prepare(db,
			"SELECT name, secret, created_at, expires_at FROM trust_tokens"
			" ORDER BY created_at, name",
			&st, err);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct db_token *nv = realloc(v, (n + 1) * sizeof(*v));

		if (!nv) {
			db_tokens_free(v, n);
			return dbq_oom(err);
		}
		v = nv;
		v[n] = (struct db_token){.created_at = sqlite3_column_int64(st, 2),
					 .expires_at = sqlite3_column_int64(st, 3)};
		if (dbq_col_str(st, 0, &v[n].name) < 0 || dbq_col_str(st, 1, &v[n].secret) < 0) {
			db_tokens_free(v, n + 1);
			return dbq_oom(err);
		}
		n++;
	}
	if (rc != SQLITE_DONE) {
		db_tokens_free(v, n);
		return dbq_fail(db, rc, err, "Cannot list the trust tokens");
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int db_token_delete(struct db *db, const char *name, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	int r = dbq_change_rows(db, "DELETE FROM trust_tokens WHERE name = ? OR secret = ?", err,
				"tt", name, name);

	if (r == -ENOENT)
		return err_set(err, r, "Trust token \"%s\" not found", name);
	return r < 0 ? err_wrap(err, r, "Cannot remove the trust token") : 0;
}

int db_token_redeem(struct db *db, const char *secret, int64_t now, const struct db_certificate *c,
		    struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn txn = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_free_ char *name = NULL;
	int64_t expires;
	int r, rc;

	r = dbq_txn_begin(db, &txn, true, err);
	if (r < 0)
		return r;
	r = dbq_prepare(db, "DELETE FROM trust_tokens WHERE secret = ? RETURNING name, expires_at",
			&st, err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "t", secret);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return err_set(err, -EACCES,
			       "The trust token is not valid (unknown, revoked or already used)");
	if (rc != SQLITE_ROW)
		return dbq_fail(db, rc, err, "Cannot read the trust tokens");
	if (dbq_col_str(st, 0, &name) < 0)
		return dbq_oom(err);
	expires = sqlite3_column_int64(st, 1);
	while (sqlite3_step(st) == SQLITE_ROW)
		;
	dbq_finalizep(&st);
	if (expires <= now) {
		/* The expired token goes for good; the refusal is still an error. */
		r = dbq_txn_commit(&txn, err);
		if (r < 0)
			return r;
		return err_set(err, -EACCES, "The trust token has expired");
	}
	r = insert_certificate(db, c, c->name ? c->name : name, err);
	if (r < 0)
		return r;
	return dbq_txn_commit(&txn, err);
}
