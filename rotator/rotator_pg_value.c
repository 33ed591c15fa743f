/*
 * rotator_pg_value.c: the PostgreSQL rotators' values: createSecret's new
 * value, and what a rotation pins when it is configured.
 *
 * A value is AWS's JSON {"engine", "host", "port", "username", "password",
 * "dbname"}; the alternating-users rotator's also has "masterarn", the
 * secret whose credentials may alter roles.  Alternating rotation switches
 * between the base user and its clone (the base name and "_clone"), so
 * the credentials in AWSCURRENT keep working while the other user's
 * password changes.
 *
 * What a rotation may touch is pinned when it is configured
 * (rotator_pg_pins, stored by the engine): the master secret, the base
 * user, host, port and dbname.  Each step checks the values it uses
 * against the pins, so a later PutSecretValue cannot redirect a rotation
 * to another role, server or master.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rotator_internal.h"

#define PG_DEFAULT_PORT "5432"

/* The value ${cur} with "password" (and "username" if not NULL) replaced. */
static int
new_value(struct cf_arena *a, const struct rotator_value *cur,
    const char *password, const char *username, struct rotator_value *out,
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
		return (rotator_oom(err));
	n = strlen(s);
	memset(out, 0, sizeof(*out));
	out->present = 1;
	out->data = cf_arena_memdup(a, s, n);
	out->len = n;
	explicit_bzero(s, n);
	free(s);
	return (out->data != NULL ? 0 : rotator_oom(err));
}

int
rotator_pg_field(struct cf_arena *a, const struct rotator_value *v,
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

const char *
rotator_pg_base_user(struct cf_arena *a, const char *user)
{
	size_t n = strlen(user), k = strlen(ROTATOR_PG_CLONE_SUFFIX);
	char *b;

	if (n <= k || strcmp(user + n - k, ROTATOR_PG_CLONE_SUFFIX) != 0)
		return (user);
	if ((b = cf_arena_memdup(a, user, n - k)) == NULL)
		return (NULL);
	return (b);
}

int
rotator_pg_new_value(struct cf_arena *a, const struct rotator *rot,
    const struct rotator_value *cur, const char *password,
    struct rotator_value *out, struct cf_error *err)
{
	const char *user, *base, *next = NULL;
	char *clone;

	if (!cur->present) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "the secret has no "
		    "AWSCURRENT credentials to rotate");
		return (-1);
	}
	if (rot->kind == ROTATOR_PG_ALTERNATING) {
		/* user -> user_clone -> user ... */
		if (rotator_pg_field(a, cur, "username", &user) ||
		    (base = rotator_pg_base_user(a, user)) == NULL) {
			cf_error_set(err, CF_ERR_INVALID_REQUEST, "the secret's "
			    "value has no \"username\"");
			return (-1);
		}
		if (base != user)
			next = base;
		else {
			if ((clone = cf_arena_alloc(a, strlen(base) +
			    sizeof(ROTATOR_PG_CLONE_SUFFIX))) == NULL)
				return (rotator_oom(err));
			snprintf(clone, strlen(base) +
			    sizeof(ROTATOR_PG_CLONE_SUFFIX), "%s%s", base,
			    ROTATOR_PG_CLONE_SUFFIX);
			next = clone;
		}
	}
	return (new_value(a, cur, password, next, out, err));
}

/* ---- pins ---------------------------------------------------------------- */

/*
 * What of ${v} a rotation pins, as a new JSON object: "username" (without
 * the "_clone" suffix when ${alternating}), "host", "port" ("5432" if
 * absent), "dbname" ("" if absent), and "masterarn" when ${alternating}.
 * NULL with ${err} when a member is missing or of the wrong type.
 */
static json_t *
pins_of(const struct rotator_value *v, int alternating, struct cf_error *err)
{
	json_t *doc = NULL, *o = NULL, *p;
	const char *user, *host, *port, *db, *master = NULL;
	char portbuf[24], *base = NULL;
	size_t n, k = strlen(ROTATOR_PG_CLONE_SUFFIX);

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
	    ROTATOR_PG_CLONE_SUFFIX) == 0) {
		if ((base = strndup(user, n - k)) == NULL) {
			(void)rotator_oom(err);
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
		(void)rotator_oom(err);
	}
done:
	free(base);
	json_decref(doc);
	return (o);
}

int
rotator_pg_pins(struct cf_arena *a, const struct rotator_value *v,
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
		return (rotator_oom(err));
	}
	free(s);
	return (0);
}

int
rotator_pg_check_pins(const struct rotator_value *v, const char *pins,
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
rotator_pg_check_master(const struct rotator_value *master, const char *pins,
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
