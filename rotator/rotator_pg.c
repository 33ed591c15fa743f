/*
 * rotator_pg.c: builtin:postgresql-single-user and
 * builtin:postgresql-alternating-users on the database whose credentials a
 * secret holds: logging in, setting a password (setSecret) and trying it
 * (testSecret).  Their values and pins are rotator_pg_value.c's.
 *
 * A secret value is JSON {"engine": "postgres", "host", "port", "username",
 * "password", "dbname"} (AWS's format; "engine" may be absent).  Logins use
 * PQconnectdbParams, so no value is ever pasted into a connection string.
 * A new password goes to the server only as the verifier that
 * PQencryptPasswordConn computes here (SCRAM-SHA-256 on a server that uses
 * it): the plaintext never crosses the wire nor lands in the server's logs.
 * Passwords and every buffer that held one are wiped.
 *
 * Nothing of cofferd's own may log in for a caller (issue 11): a login
 * needs a non-empty password, reads no password file (passfile=/dev/null),
 * offers no client certificate or key, uses no GSSAPI encryption, reaches
 * a Unix socket only when the operator allows that directory, and is
 * dropped unless the server did ask for the password (so trust, peer, GSS
 * or certificate logins are never used).  The sslmode is the configured
 * one, or a stronger one the value names ("sslmode").
 *
 * Both steps are idempotent, since a step that died half-way runs again:
 * setSecret of a single user first tries the pending password, and the
 * alternating rotator sets the clone's password whether or not it exists.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "cf_log.h"
#include "rotator_internal.h"

#define PG_CONNECT_TIMEOUT "10"
#define PG_DEFAULT_SSLMODE "prefer"
/* A path under /dev/null: no file can ever be there. */
#define PG_NO_FILE "/dev/null/coffer-none"

/* libpq's sslmodes, weakest first. */
static const char *const sslmodes[] = { "disable", "allow", "prefer",
    "require", "verify-ca", "verify-full" };

/* The login parameters of a JSON value; NULL members are left out. */
struct pg_login {
	const char *host, *port, *user, *password, *dbname, *sslmode;
	char portbuf[16];
	json_t *doc;
};

/* The rank of sslmode ${m} in sslmodes[], or -1. */
static int
sslmode_rank(const char *m)
{
	size_t i;

	for (i = 0; m != NULL && i < sizeof(sslmodes) / sizeof(sslmodes[0]);
	    i++)
		if (strcmp(m, sslmodes[i]) == 0)
			return ((int)i);
	return (-1);
}

int
rotator_pg_config_check(const struct rotator_pg_config *cfg,
    struct cf_error *err)
{

	if (cfg->sslmode != NULL && sslmode_rank(cfg->sslmode) < 0) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "rotator_pg_sslmode "
		    "\"%.32s\" is not one of disable, allow, prefer, require, "
		    "verify-ca, verify-full", cfg->sslmode);
		return (-1);
	}
	return (0);
}

/* Is ${host} a Unix socket path to libpq (a directory, or Linux's '@')? */
static int
is_socket(const char *host)
{

	return (host[0] == '/' || host[0] == '@');
}

/* Does the list ${allow} name ${host} (or "*" for any TCP host)? */
static int
allowed_by(const char *allow, const char *host)
{
	const char *p, *end;
	size_t n, hn = strlen(host);

	for (p = allow; p != NULL && *p != '\0'; p = *end ? end + 1 : end) {
		while (*p == ' ' || *p == '\t')
			p++;
		end = p + strcspn(p, ",");
		n = (size_t)(end - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 1 && p[0] == '*' && !is_socket(host))
			return (1);
		if (n == hn && (is_socket(host) ? strncmp(p, host, n) == 0 :
		    strncasecmp(p, host, n) == 0))
			return (1);
	}
	return (0);
}

/*
 * May the rotators log in to ${l}'s host and port under ${cfg}?  -1 with
 * InvalidRequestException saying why not.
 */
static int
login_allowed(const struct rotator_pg_config *cfg, const struct pg_login *l,
    struct cf_error *err)
{
	const char *allow = cfg->allow_hosts;
	size_t i;
	long port;
	char *end;

	if (l->host[0] == '\0' || strchr(l->host, ',') != NULL) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "the secret's \"host\" "
		    "must name one server");
		return (-1);
	}
	if (l->port != NULL) {
		for (i = 0; l->port[i] != '\0'; i++)
			if (l->port[i] < '0' || l->port[i] > '9')
				break;
		port = strtol(l->port, &end, 10);
		if (i == 0 || l->port[i] != '\0' || port < 1 || port > 65535) {
			cf_error_set(err, CF_ERR_INVALID_REQUEST, "the secret's "
			    "\"port\" must be one port number, 1 to 65535");
			return (-1);
		}
	}
	if (is_socket(l->host)) {
		if (allow == NULL || !allowed_by(allow, l->host)) {
			cf_error_set(err, CF_ERR_INVALID_REQUEST, "the secret's "
			    "\"host\" %.128s is a Unix socket, which the "
			    "PostgreSQL rotators may not use unless "
			    "rotator_pg_allow_hosts names it", l->host);
			return (-1);
		}
		return (0);
	}
	if (allow != NULL && *allow != '\0' && !allowed_by(allow, l->host)) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "the secret's \"host\" "
		    "%.128s is not in rotator_pg_allow_hosts", l->host);
		return (-1);
	}
	return (0);
}

static void
login_free(struct pg_login *l)
{

	json_decref(l->doc);
	memset(l, 0, sizeof(*l));
}

/* Parse ${json} (${len} bytes); -1 with ${err} naming what is wrong. */
static int
login_parse(const uint8_t *json, size_t len, struct pg_login *l,
    struct cf_error *err)
{
	json_t *v;
	const char *engine;

	memset(l, 0, sizeof(*l));
	if ((l->doc = json_loadb((const char *)json, len, 0, NULL)) == NULL ||
	    !json_is_object(l->doc)) {
		json_decref(l->doc);
		l->doc = NULL;
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "the secret's value is "
		    "not a JSON object of PostgreSQL credentials");
		return (-1);
	}
	engine = json_string_value(json_object_get(l->doc, "engine"));
	l->host = json_string_value(json_object_get(l->doc, "host"));
	l->user = json_string_value(json_object_get(l->doc, "username"));
	l->password = json_string_value(json_object_get(l->doc, "password"));
	l->dbname = json_string_value(json_object_get(l->doc, "dbname"));
	l->sslmode = json_string_value(json_object_get(l->doc, "sslmode"));
	v = json_object_get(l->doc, "port");
	if (json_is_integer(v)) {
		snprintf(l->portbuf, sizeof(l->portbuf), "%lld",
		    (long long)json_integer_value(v));
		l->port = l->portbuf;
	} else
		l->port = json_string_value(v);
	if ((engine != NULL && strcmp(engine, "postgres") != 0 &&
	    strcmp(engine, "postgresql") != 0) || l->host == NULL ||
	    l->user == NULL || l->password == NULL || l->password[0] == '\0' ||
	    l->user[0] == '\0' || (json_object_get(l->doc, "port") != NULL &&
	    l->port == NULL)) {
		login_free(l);
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "the secret's value "
		    "needs \"host\", \"username\" and a non-empty "
		    "\"password\" (and \"engine\": \"postgres\" if any)");
		return (-1);
	}
	return (0);
}

/*
 * The target database's notices, for the operator at debug level, in the
 * log's own format (libpq's default prints them raw on stderr).
 */
static void
target_notice(void *arg, const char *message)
{

	(void)arg;
	cf_log(CF_LOG_DEBUG, "rotator: the target database says: %s",
	    message);
}

/*
 * Log in as ${l} under ${cfg}, with nothing of cofferd's own (see the top
 * of this file); the connection, or NULL with ${err} (no password in it).
 */
static PGconn *
login(const struct rotator_pg_config *cfg, const struct pg_login *l,
    struct cf_error *err)
{
	const char *keys[16], *vals[16], *mode;
	PGconn *c;
	int n = 0, floor;

	if (login_allowed(cfg, l, err))
		return (NULL);
	/* The value's sslmode may only be stronger than the configured one. */
	mode = cfg->sslmode != NULL ? cfg->sslmode : PG_DEFAULT_SSLMODE;
	floor = sslmode_rank(mode);
	if (l->sslmode != NULL) {
		if (sslmode_rank(l->sslmode) < floor) {
			cf_error_set(err, CF_ERR_INVALID_REQUEST, "the secret's "
			    "\"sslmode\" must be one of disable, allow, prefer, "
			    "require, verify-ca, verify-full, and at least %s",
			    mode);
			return (NULL);
		}
		mode = l->sslmode;
	}
	keys[n] = "host"; vals[n++] = l->host;
	if (l->port != NULL) {
		keys[n] = "port"; vals[n++] = l->port;
	}
	keys[n] = "user"; vals[n++] = l->user;
	keys[n] = "password"; vals[n++] = l->password;
	if (l->dbname != NULL) {
		keys[n] = "dbname"; vals[n++] = l->dbname;
	}
	keys[n] = "passfile"; vals[n++] = "/dev/null";
	keys[n] = "sslmode"; vals[n++] = mode;
	keys[n] = "sslcert"; vals[n++] = PG_NO_FILE;
	keys[n] = "sslkey"; vals[n++] = PG_NO_FILE;
	if (cfg->sslrootcert != NULL) {
		keys[n] = "sslrootcert"; vals[n++] = cfg->sslrootcert;
	}
	keys[n] = "gssencmode"; vals[n++] = "disable";
	keys[n] = "connect_timeout"; vals[n++] = PG_CONNECT_TIMEOUT;
	keys[n] = NULL; vals[n] = NULL;
	c = PQconnectdbParams(keys, vals, 0);
	if (c != NULL)
		PQsetNoticeProcessor(c, target_notice, NULL);
	if (PQstatus(c) != CONNECTION_OK) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "could not log in to "
		    "%.128s as %.128s: %.200s", l->host, l->user,
		    PQerrorMessage(c));
		PQfinish(c);
		return (NULL);
	}
	/* A server that did not ask for the password let someone else in. */
	if (!PQconnectionUsedPassword(c)) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "%.128s let %.128s in "
		    "without asking for the password: the PostgreSQL rotators "
		    "log in only with the secret's password", l->host, l->user);
		PQfinish(c);
		return (NULL);
	}
	return (c);
}

/* Log in with ${v} and run SELECT 1. */
static int
login_ok(const struct rotator_pg_config *cfg,
    const struct rotator_value *v, struct cf_error *err)
{
	struct pg_login l;
	PGconn *c;
	PGresult *r;
	int ok;

	if (login_parse(v->data, v->len, &l, err))
		return (-1);
	c = login(cfg, &l, err);
	login_free(&l);
	if (c == NULL)
		return (-1);
	r = PQexec(c, "SELECT 1");
	ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "logged in but could "
		    "not query: %.200s", PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return (ok ? 0 : -1);
}

/* Run ${sql} on ${c}; -1 with ${err} ("while ${what}"). */
static int
run(PGconn *c, const char *sql, const char *what, struct cf_error *err)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
	    PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "%s: %.200s", what,
		    PQresultErrorMessage(r));
	PQclear(r);
	return (ok ? 0 : -1);
}

/*
 * On ${c}, give role ${user} the password ${password} (creating the role,
 * member of ${member_of}, when ${create} and it does not exist).
 */
static int
set_password(PGconn *c, const char *user, const char *password, int create,
    const char *member_of, struct cf_error *err)
{
	char *verifier = NULL, *lit = NULL, *id = NULL, *of = NULL, *sql = NULL;
	const char *param[1] = { user };
	PGresult *r;
	size_t n;
	int rc = -1, exists;

	/* The verifier, computed here: the server never sees the password. */
	if ((verifier = PQencryptPasswordConn(c, password, user, NULL)) ==
	    NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "could not compute the "
		    "password verifier: %.200s", PQerrorMessage(c));
		goto done;
	}
	if ((lit = PQescapeLiteral(c, verifier, strlen(verifier))) == NULL ||
	    (id = PQescapeIdentifier(c, user, strlen(user))) == NULL ||
	    (member_of != NULL && (of = PQescapeIdentifier(c, member_of,
	    strlen(member_of))) == NULL)) {
		cf_error_set(err, CF_ERR_INTERNAL, "could not quote: %.200s",
		    PQerrorMessage(c));
		goto done;
	}
	r = PQexecParams(c, "SELECT 1 FROM pg_roles WHERE rolname = $1", 1,
	    NULL, param, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "could not look up "
		    "role %.128s: %.200s", user, PQresultErrorMessage(r));
		PQclear(r);
		goto done;
	}
	exists = PQntuples(r) == 1;
	PQclear(r);
	n = strlen(id) + strlen(lit) + (of != NULL ? strlen(of) : 0) + 64;
	if ((sql = malloc(n)) == NULL) {
		(void)rotator_oom(err);
		goto done;
	}
	if (!exists && create) {
		snprintf(sql, n, "CREATE ROLE %s WITH LOGIN PASSWORD %s", id,
		    lit);
		if (run(c, sql, "creating the role", err))
			goto done;
		if (of != NULL) {
			snprintf(sql, n, "GRANT %s TO %s", of, id);
			if (run(c, sql, "granting the role", err))
				goto done;
		}
	} else {
		snprintf(sql, n, "ALTER ROLE %s WITH PASSWORD %s", id, lit);
		if (run(c, sql, "setting the password", err))
			goto done;
	}
	rc = 0;
done:
	if (sql != NULL) {
		explicit_bzero(sql, strlen(sql));
		free(sql);
	}
	if (verifier != NULL) {
		explicit_bzero(verifier, strlen(verifier));
		PQfreemem(verifier);
	}
	if (lit != NULL) {
		explicit_bzero(lit, strlen(lit));
		PQfreemem(lit);
	}
	PQfreemem(id);
	PQfreemem(of);
	return (rc);
}

/*
 * As the current credentials, set the pending password (nothing to do if
 * it works already).
 */
static int
set_own_password(const struct rotator_pg_config *cfg,
    const struct rotator_value *current,
    const struct rotator_value *pending, struct cf_error *err)
{
	struct pg_login cur, pen;
	PGconn *c;
	int rc;

	if (login_parse(current->data, current->len, &cur, err))
		return (-1);
	if (login_parse(pending->data, pending->len, &pen, err)) {
		login_free(&cur);
		return (-1);
	}
	/* Resumed after the change: the pending password works already. */
	if ((c = login(cfg, &pen, err)) != NULL) {
		PQfinish(c);
		rc = 0;
	} else if ((c = login(cfg, &cur, err)) == NULL)
		rc = -1;
	else {
		rc = set_password(c, pen.user, pen.password, 0, NULL, err);
		PQfinish(c);
	}
	login_free(&cur);
	login_free(&pen);
	return (rc);
}

/*
 * As the master credentials, set the pending user's password, creating the
 * role (member of ${member_of}) if it does not exist and ${member_of} is
 * given.
 */
static int
set_as_master(const struct rotator_pg_config *cfg,
    const struct rotator_value *master,
    const struct rotator_value *pending, const char *member_of,
    struct cf_error *err)
{
	struct pg_login m, pen;
	PGconn *c;
	int rc;

	if (login_parse(master->data, master->len, &m, err))
		return (-1);
	if (login_parse(pending->data, pending->len, &pen, err)) {
		login_free(&m);
		return (-1);
	}
	if ((c = login(cfg, &m, err)) == NULL)
		rc = -1;
	else {
		rc = set_password(c, pen.user, pen.password, 1, member_of, err);
		PQfinish(c);
	}
	login_free(&m);
	login_free(&pen);
	return (rc);
}


int
rotator_pg_step(const struct rotator_pg_config *cfg, struct cf_arena *a,
    const struct rotator *rot, enum rotator_step step,
    const struct rotator_value *cur, const struct rotator_value *pending,
    const struct rotator_value *master, struct cf_error *err)
{
	const char *user, *base;

	if (step == ROTATOR_TEST)
		return (login_ok(cfg, pending->present ? pending : cur, err));
	if (rot->kind == ROTATOR_PG_SINGLE)
		return (set_own_password(cfg, cur, pending, err));
	if (rotator_pg_field(a, pending, "username", &user) ||
	    (base = rotator_pg_base_user(a, user)) == NULL) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "the pending value has "
		    "no \"username\"");
		return (-1);
	}
	return (set_as_master(cfg, master, pending, base != user ? base : NULL,
	    err));
}
