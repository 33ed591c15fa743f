/*
 * store_rotation.c: rotation configuration and the state of rotations in
 * progress (migrations/0006_rotation.sql).  One-off parameterised
 * statements: rotations are rare next to reads.
 */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AT_MS(n) "('epoch'::timestamptz + $" #n "::int8 * interval '1 millisecond')"

/* ${ms} as a parameter in ${buf}, or NULL (SQL NULL) when it is <= 0. */
static const char *
opt_ms(char buf[24], int64_t ms)
{

	if (ms <= 0)
		return (NULL);
	snprintf(buf, 24, "%lld", (long long)ms);
	return (buf);
}

/* Run a change that must touch exactly one row; 0, or -1 with ${err}. */
static int
one_row(struct store *s, const char *sql, int n, const char *const *v,
    const char *what, int *touched, struct cf_error *err)
{
	int rows;

	if (store_exec_rows(s, sql, n, v, what, &rows, err))
		return (-1);
	if (touched != NULL) {
		*touched = rows;
		return (0);
	}
	if (rows != 1) {
		cf_error_set(err, CF_ERR_INTERNAL, "%s: %d rows changed", what,
		    rows);
		return (-1);
	}
	return (0);
}

int
store_rotation_configure(struct store *s, const char *uuid, int enabled,
    const char *lambda, const char *rules_json, int64_t next_ms,
    struct cf_error *err)
{
	char next[24];
	const char *v[5] = { uuid, enabled ? "true" : "false", lambda,
	    rules_json, opt_ms(next, next_ms) };

	return (one_row(s, "UPDATE secrets SET rotation_enabled = $2::boolean, "
	    "rotation_lambda_arn = coalesce($3, rotation_lambda_arn), "
	    "rotation_rules = coalesce($4::jsonb, rotation_rules), "
	    "next_rotation_date = CASE WHEN $5::int8 IS NULL THEN NULL ELSE "
	    AT_MS(5) " END WHERE uuid = $1::uuid", 5, v,
	    "configuring rotation", NULL, err));
}

int
store_rotation_pin(struct store *s, const char *uuid, const char *principal,
    const char *pins_json, struct cf_error *err)
{
	const char *v[3] = { uuid, principal, pins_json };

	return (one_row(s, "UPDATE secrets SET rotation_principal = $2, "
	    "rotation_pins = $3::jsonb WHERE uuid = $1::uuid", 3, v,
	    "recording who configured rotation", NULL, err));
}

int
store_rotation_begin(struct store *s, const char *uuid, const char *token,
    int step, int test_only, struct cf_error *err)
{
	char st[8];
	const char *v[4] = { uuid, token, st, test_only ? "true" : "false" };

	snprintf(st, sizeof(st), "%d", step);
	return (one_row(s, "UPDATE secrets SET rotation_token = $2, "
	    "rotation_step = $3::smallint, rotation_test_only = $4::boolean, "
	    "rotation_attempts = 0, rotation_retry_at = NULL, "
	    "rotation_error = NULL WHERE uuid = $1::uuid", 4, v,
	    "starting a rotation", NULL, err));
}

int
store_rotation_cancel(struct store *s, const char *uuid, struct cf_error *err)
{
	const char *v[1] = { uuid };

	return (one_row(s, "UPDATE secrets SET rotation_enabled = false, "
	    "rotation_token = NULL, rotation_step = NULL, "
	    "rotation_test_only = false, rotation_attempts = 0, "
	    "rotation_retry_at = NULL, rotation_lease_until = NULL, "
	    "rotation_lease_owner = NULL, rotation_error = NULL, "
	    "next_rotation_date = NULL WHERE uuid = $1::uuid", 1, v,
	    "cancelling a rotation", NULL, err));
}

enum store_lease
store_rotation_claim(struct store *s, const char *owner, int lease_s,
    char uuid[37], struct cf_error *err)
{
	char lease[16];
	const char *v[2] = { owner, lease };
	PGresult *r;
	enum store_lease rc = STORE_LEASE_NONE;

	snprintf(lease, sizeof(lease), "%d", lease_s);
	if ((r = store_exec_params(s, "UPDATE secrets SET rotation_lease_until "
	    "= now() + $2::int * interval '1 second', rotation_lease_owner = $1 "
	    "WHERE uuid = (SELECT uuid FROM secrets WHERE deleted_date IS NULL "
	    "AND coalesce(rotation_lease_until, '-infinity') < now() AND ("
	    "(rotation_token IS NOT NULL AND "
	    "coalesce(rotation_retry_at, '-infinity') <= now()) OR "
	    "(rotation_enabled AND rotation_token IS NULL AND "
	    "next_rotation_date <= now())) "
	    "ORDER BY coalesce(rotation_retry_at, next_rotation_date) "
	    "LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING uuid::text", 2, v,
	    NULL, NULL, 1, PGRES_TUPLES_OK, "claiming a rotation", err)) ==
	    NULL)
		return (STORE_LEASE_ERROR);
	if (PQntuples(r) == 1) {
		snprintf(uuid, 37, "%s", PQgetvalue(r, 0, 0));
		rc = STORE_LEASE_HELD;
	}
	PQclear(r);
	return (rc);
}

enum store_lease
store_rotation_step(struct store *s, const char *uuid, const char *token,
    const char *owner, int next_step, int lease_s, struct cf_error *err)
{
	char st[8], lease[16];
	const char *v[5] = { uuid, token, owner, st, lease };
	int n;

	snprintf(st, sizeof(st), "%d", next_step);
	snprintf(lease, sizeof(lease), "%d", lease_s);
	if (one_row(s, "UPDATE secrets SET rotation_step = $4::smallint, "
	    "rotation_lease_until = now() + $5::int * interval '1 second' "
	    "WHERE uuid = $1::uuid AND rotation_token = $2 AND "
	    "rotation_lease_owner = $3", 5, v, "recording a rotation step", &n,
	    err))
		return (STORE_LEASE_ERROR);
	return (n > 0 ? STORE_LEASE_HELD : STORE_LEASE_NONE);
}

enum store_lease
store_rotation_done(struct store *s, const char *uuid, const char *token,
    const char *owner, int rotated, int64_t next_ms, struct cf_error *err)
{
	char next[24];
	const char *v[5] = { uuid, token, owner, rotated ? "true" : "false",
	    opt_ms(next, next_ms) };
	int n;

	if (one_row(s, "UPDATE secrets SET rotation_token = NULL, "
	    "rotation_step = NULL, rotation_test_only = false, "
	    "rotation_attempts = 0, rotation_retry_at = NULL, "
	    "rotation_lease_until = NULL, rotation_lease_owner = NULL, "
	    "rotation_error = NULL, last_rotated_date = CASE WHEN "
	    "$4::boolean THEN now() ELSE last_rotated_date END, "
	    "next_rotation_date = CASE WHEN $5::int8 IS NULL THEN "
	    "next_rotation_date ELSE " AT_MS(5) " END "
	    "WHERE uuid = $1::uuid AND rotation_token = $2 AND "
	    "rotation_lease_owner = $3", 5, v, "finishing a rotation", &n, err))
		return (STORE_LEASE_ERROR);
	return (n > 0 ? STORE_LEASE_HELD : STORE_LEASE_NONE);
}

int
store_rotation_failed(struct store *s, const char *uuid, const char *token,
    const char *owner, int retry_s, const char *why, struct cf_error *err)
{
	char retry[16];
	const char *v[5] = { uuid, token, owner, retry, why };

	snprintf(retry, sizeof(retry), "%d", retry_s);
	return (one_row(s, "UPDATE secrets SET rotation_attempts = "
	    "rotation_attempts + 1, rotation_retry_at = now() + $4::int * "
	    "interval '1 second', rotation_error = $5, rotation_lease_until = "
	    "NULL, rotation_lease_owner = NULL WHERE uuid = $1::uuid AND "
	    "rotation_token = $2 AND rotation_lease_owner = $3", 5, v,
	    "recording a failed rotation", NULL, err));
}

int
store_rotation_release(struct store *s, const char *uuid, const char *owner,
    int64_t next_ms, struct cf_error *err)
{
	char next[24];
	const char *v[3] = { uuid, owner, opt_ms(next, next_ms) };

	return (one_row(s, "UPDATE secrets SET rotation_lease_until = NULL, "
	    "rotation_lease_owner = NULL, next_rotation_date = CASE WHEN "
	    "$3::int8 IS NULL THEN next_rotation_date ELSE " AT_MS(3) " END "
	    "WHERE uuid = $1::uuid AND rotation_lease_owner = $2", 3, v,
	    "releasing a rotation", NULL, err));
}

int
store_rotation_touched(struct store *s, const char *uuid, int64_t next_ms,
    struct cf_error *err)
{
	char next[24];
	const char *v[2] = { uuid, opt_ms(next, next_ms) };

	return (one_row(s, "UPDATE secrets SET last_rotated_date = now(), "
	    "next_rotation_date = CASE WHEN $2::int8 IS NULL THEN "
	    "next_rotation_date ELSE " AT_MS(2) " END WHERE uuid = $1::uuid",
	    2, v, "recording a manual rotation", NULL, err));
}

int
store_version_drop_empty(struct store *s, const char *uuid,
    const char *version_id, struct cf_error *err)
{
	const char *v[2] = { uuid, version_id };
	int n;

	return (one_row(s, "DELETE FROM secret_versions WHERE secret_uuid = "
	    "$1::uuid AND version_id = $2 AND value_type = 0", 2, v,
	    "removing a pending version", &n, err));
}

