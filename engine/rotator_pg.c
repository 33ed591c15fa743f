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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "engine_internal.h"

#define PG_CONNECT_TIMEOUT "10"

/* The login parameters of a JSON value; NULL members are left out. */
struct pg_login {
	const char *host, *port, *user, *password, *dbname;
	char portbuf[16];
	json_t *doc;
};

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
	v = json_object_get(l->doc, "port");
	if (json_is_integer(v)) {
		snprintf(l->portbuf, sizeof(l->portbuf), "%lld",
		    (long long)json_integer_value(v));
		l->port = l->portbuf;
	} else
		l->port = json_string_value(v);
	if ((engine != NULL && strcmp(engine, "postgres") != 0 &&
	    strcmp(engine, "postgresql") != 0) || l->host == NULL ||
	    l->user == NULL || l->password == NULL) {
		login_free(l);
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "the secret's value "
		    "needs \"host\", \"username\" and \"password\" (and "
		    "\"engine\": \"postgres\" if any)");
		return (-1);
	}
	return (0);
}

/* Log in as ${l}; the connection, or NULL with ${err} (no password in it). */
static PGconn *
login(const struct pg_login *l, struct cf_error *err)
{
	const char *keys[8], *vals[8];
	PGconn *c;
	int n = 0;

	keys[n] = "host"; vals[n++] = l->host;
	if (l->port != NULL) {
		keys[n] = "port"; vals[n++] = l->port;
	}
	keys[n] = "user"; vals[n++] = l->user;
	keys[n] = "password"; vals[n++] = l->password;
	if (l->dbname != NULL) {
		keys[n] = "dbname"; vals[n++] = l->dbname;
	}
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
	return (c);
}

int
engine_pg_login_ok(const struct engine_value *v, struct cf_error *err)
{
	struct pg_login l;
	PGconn *c;
	PGresult *r;
	int ok;

	if (login_parse(v->data, v->len, &l, err))
		return (-1);
	c = login(&l, err);
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
engine_pg_set_own_password(const struct engine_value *current,
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
	if ((c = login(&pen, err)) != NULL) {
		PQfinish(c);
		rc = 0;
	} else if ((c = login(&cur, err)) == NULL)
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
engine_pg_set_as_master(const struct engine_value *master,
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
	if ((c = login(&m, err)) == NULL)
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
