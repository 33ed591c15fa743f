/*
 * rotator_pg.c: what the PostgreSQL rotators do to the database whose
 * credentials a secret holds (engine/rotation.c drives the steps).
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
 * What a rotation may touch is pinned when it is configured
 * (engine_pg_pins): the master secret, the base user, host, port and
 * dbname.  Each step checks the values it uses against the pins.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "engine_internal.h"

#define PG_CONNECT_TIMEOUT "10"
#define PG_DEFAULT_PORT "5432"
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
engine_pg_config_check(const struct engine_pg_config *cfg,
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
login_allowed(const struct engine_pg_config *cfg, const struct pg_login *l,
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
 * Log in as ${l} under ${cfg}, with nothing of cofferd's own (see the top
 * of this file); the connection, or NULL with ${err} (no password in it).
 */
static PGconn *
login(const struct engine_pg_config *cfg, const struct pg_login *l,
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

int
engine_pg_login_ok(const struct engine_pg_config *cfg,
    const struct engine_value *v, struct cf_error *err)
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
		(void)engine_oom(err);
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

int
engine_pg_set_own_password(const struct engine_pg_config *cfg,
    const struct engine_value *current,
    const struct engine_value *pending, struct cf_error *err)
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

int
engine_pg_set_as_master(const struct engine_pg_config *cfg,
    const struct engine_value *master,
    const struct engine_value *pending, const char *member_of,
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

/* The value ${cur} with "password" (and "username" if not NULL) replaced. */
int
engine_pg_new_value(struct cf_arena *a, const struct engine_value *cur,
    const char *password, const char *username, struct engine_value *out,
    struct cf_error *err)
{
	json_t *o;
	char *s;
	size_t n;

	if ((o = json_loadb((const char *)cur->data, cur->len, 0, NULL)) ==
	    NULL || !json_is_object(o)) {
		json_decref(o);
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "the secret's value is "
		    "not a JSON object of PostgreSQL credentials");
		return (-1);
	}
	json_object_set_new(o, "password", json_string(password));
	if (username != NULL)
		json_object_set_new(o, "username", json_string(username));
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (s == NULL)
		return (engine_oom(err));
	n = strlen(s);
	memset(out, 0, sizeof(*out));
	out->present = 1;
	out->data = cf_arena_memdup(a, s, n);
	out->len = n;
	explicit_bzero(s, n);
	free(s);
	return (out->data != NULL ? 0 : engine_oom(err));
}

int
engine_pg_field(struct cf_arena *a, const struct engine_value *v,
    const char *field, const char **out)
{
	json_t *o;
	const char *s;

	*out = NULL;
	if ((o = json_loadb((const char *)v->data, v->len, 0, NULL)) == NULL)
		return (-1);
	if ((s = json_string_value(json_object_get(o, field))) != NULL)
		*out = cf_arena_strdup(a, s);
	json_decref(o);
	return (*out != NULL ? 0 : -1);
}

/* ---- pins ------------------------------------------------------------------ */

/*
 * What of ${v} a rotation pins, as a new JSON object: "username" (without
 * the "_clone" suffix when ${alternating}), "host", "port" ("5432" if
 * absent), "dbname" ("" if absent), and "masterarn" when ${alternating}.
 * NULL with ${err} when a member is missing or of the wrong type.
 */
static json_t *
pins_of(const struct engine_value *v, int alternating, struct cf_error *err)
{
	json_t *doc = NULL, *o = NULL, *p;
	const char *user, *host, *port, *db, *master = NULL;
	char portbuf[24], *base = NULL;
	size_t n, k = strlen(ENGINE_PG_CLONE_SUFFIX);

	if (v->binary || (doc = json_loadb((const char *)v->data, v->len, 0,
	    NULL)) == NULL || !json_is_object(doc)) {
		json_decref(doc);
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "the secret's value is "
		    "not a JSON object of PostgreSQL credentials");
		return (NULL);
	}
	user = json_string_value(json_object_get(doc, "username"));
	host = json_string_value(json_object_get(doc, "host"));
	db = json_string_value(json_object_get(doc, "dbname"));
	p = json_object_get(doc, "port");
	if (json_is_integer(p)) {
		snprintf(portbuf, sizeof(portbuf), "%lld",
		    (long long)json_integer_value(p));
		port = portbuf;
	} else
		port = p == NULL ? PG_DEFAULT_PORT : json_string_value(p);
	if (alternating)
		master = json_string_value(json_object_get(doc, "masterarn"));
	if (user == NULL || host == NULL || port == NULL ||
	    (json_object_get(doc, "dbname") != NULL && db == NULL) ||
	    (alternating && master == NULL)) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "the secret's value "
		    "needs string members \"username\" and \"host\"%s, and "
		    "\"port\" and \"dbname\" if any, of the right types",
		    alternating ? " and \"masterarn\"" : "");
		goto done;
	}
	n = strlen(user);
	if (alternating && n > k && strcmp(user + n - k,
	    ENGINE_PG_CLONE_SUFFIX) == 0) {
		if ((base = strndup(user, n - k)) == NULL) {
			(void)engine_oom(err);
			goto done;
		}
		user = base;
	}
	if ((o = json_object()) == NULL ||
	    json_object_set_new(o, "username", json_string(user)) ||
	    json_object_set_new(o, "host", json_string(host)) ||
	    json_object_set_new(o, "port", json_string(port)) ||
	    json_object_set_new(o, "dbname", json_string(db != NULL ? db :
	    "")) || (master != NULL && json_object_set_new(o, "masterarn",
	    json_string(master)))) {
		json_decref(o);
		o = NULL;
		(void)engine_oom(err);
	}
done:
	free(base);
	json_decref(doc);
	return (o);
}

int
engine_pg_pins(struct cf_arena *a, const struct engine_value *v,
    int alternating, const char **out, struct cf_error *err)
{
	json_t *o;
	char *s;

	*out = NULL;
	if ((o = pins_of(v, alternating, err)) == NULL)
		return (-1);
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (s == NULL || (*out = cf_arena_strdup(a, s)) == NULL) {
		free(s);
		return (engine_oom(err));
	}
	free(s);
	return (0);
}

int
engine_pg_check_pins(const struct engine_value *v, const char *pins,
    int alternating, const char *what, struct cf_error *err)
{
	static const char *const keys[] = { "masterarn", "username", "host",
	    "port", "dbname" };
	json_t *now, *want;
	const char *a, *b;
	size_t i;
	int rc = -1;

	if (pins == NULL || (want = json_loads(pins, 0, NULL)) == NULL) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "this rotation was "
		    "configured before its database was pinned: call "
		    "RotateSecret with RotationLambdaARN to configure it again");
		return (-1);
	}
	if ((now = pins_of(v, alternating, err)) == NULL)
		goto done;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		a = json_string_value(json_object_get(want, keys[i]));
		b = json_string_value(json_object_get(now, keys[i]));
		if ((a == NULL) != (b == NULL) || (a != NULL &&
		    strcmp(a, b) != 0)) {
			cf_error_set(err, CF_ERR_INVALID_REQUEST, "the %s has "
			    "another \"%s\" than when rotation was configured: "
			    "only RotateSecret with RotationLambdaARN or "
			    "RotationRules may change it", what, keys[i]);
			goto done;
		}
	}
	rc = 0;
done:
	json_decref(now);
	json_decref(want);
	return (rc);
}

int
engine_pg_check_master(const struct engine_value *master, const char *pins,
    struct cf_error *err)
{
	json_t *m = NULL, *want;
	const char *a, *b;
	int rc = -1;

	if (pins == NULL || (want = json_loads(pins, 0, NULL)) == NULL) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "this rotation has "
		    "no pinned database");
		return (-1);
	}
	if ((m = pins_of(master, 0, err)) == NULL)
		goto done;
	if ((a = json_string_value(json_object_get(want, "host"))) == NULL ||
	    (b = json_string_value(json_object_get(m, "host"))) == NULL ||
	    strcmp(a, b) != 0 || (a = json_string_value(json_object_get(want,
	    "port"))) == NULL || (b = json_string_value(json_object_get(m,
	    "port"))) == NULL || strcmp(a, b) != 0) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "the master secret's "
		    "\"host\" and \"port\" must be those of the rotated user");
		goto done;
	}
	rc = 0;
done:
	json_decref(m);
	json_decref(want);
	return (rc);
}
