/*
 * store_escrow.c: audit key versions wrapped for auditors
 * (migrations/0017_audit_key_escrow.sql; audit/DESIGN.md, "The auditor's
 * bundle").  Rows go in with the rotation that made the version, in its
 * transaction, and never change; parameterised statements only.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

int
store_audit_escrow_add(struct store *s, uint32_t version,
    const char *recipient, const char *mechanism, const uint8_t *wrapped,
    size_t wrapped_len, struct cf_error *err)
{
	char v[16];
	const char *vals[4] = { v, recipient, mechanism,
	    (const char *)wrapped };
	int lens[4] = { 0, 0, 0, (int)wrapped_len };
	int fmts[4] = { 0, 0, 0, 1 };
	PGresult *res;

	snprintf(v, sizeof(v), "%" PRIu32, version);
	res = store_exec_params(s, "INSERT INTO audit_key_escrow "
	    "(mac_key_version, recipient, mechanism, wrapped) "
	    "VALUES ($1::integer, $2, $3, $4::bytea)", 4, vals, lens, fmts, 0,
	    PGRES_COMMAND_OK, "storing an escrowed audit key version", err);
	if (res == NULL)
		return (-1);
	PQclear(res);
	return (0);
}

int
store_audit_escrow_list(struct store *s, struct cf_arena *a, uint32_t below,
    struct store_audit_escrow **out, size_t *out_n, struct cf_error *err)
{
	struct store_audit_escrow *e;
	const char *hex;
	char v[16];
	const char *vals[1] = { v };
	PGresult *res;
	size_t len;
	int n, i;

	/* Every version older than ${below}, oldest first. */
	snprintf(v, sizeof(v), "%" PRIu32, below);
	res = store_exec_params(s, "SELECT mac_key_version, recipient, "
	    "mechanism, encode(wrapped, 'hex'), " MS("created") " "
	    "FROM audit_key_escrow WHERE mac_key_version < $1::integer "
	    "ORDER BY mac_key_version, recipient", 1, vals, NULL, NULL, 1,
	    PGRES_TUPLES_OK, "reading escrowed audit key versions", err);
	if (res == NULL)
		return (-1);
	n = PQntuples(res);
	if ((e = cf_arena_alloc(a, (size_t)(n ? n : 1) * sizeof(*e))) == NULL)
		goto oom;
	for (i = 0; i < n; i++) {
		e[i].version = (uint32_t)strtoul(PQgetvalue(res, i, 0), NULL,
		    10);
		hex = PQgetvalue(res, i, 3);
		len = strlen(hex) / 2;
		if ((e[i].recipient = cf_arena_strdup(a, PQgetvalue(res, i,
		    1))) == NULL || (e[i].mechanism = cf_arena_strdup(a,
		    PQgetvalue(res, i, 2))) == NULL ||
		    (e[i].wrapped = cf_arena_alloc(a, len ? len : 1)) == NULL)
			goto oom;
		if (cf_hex_decode(hex, 2 * len, CF_HEX_ANY_CASE, e[i].wrapped,
		    len) != CF_HEX_OK) {
			PQclear(res);
			cf_error_set(err, CF_ERR_INTERNAL, "an escrowed audit "
			    "key version is not hex");
			return (-1);
		}
		e[i].wrapped_len = len;
		e[i].created_ms = strtoll(PQgetvalue(res, i, 4), NULL, 10);
	}
	PQclear(res);
	*out = e;
	*out_n = (size_t)n;
	return (0);
oom:
	PQclear(res);
	cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
	return (-1);
}

int
store_audit_escrow_count(struct store *s, uint32_t version, int64_t *out,
    struct cf_error *err)
{
	char v[16];
	const char *vals[1] = { v };
	PGresult *res;

	snprintf(v, sizeof(v), "%" PRIu32, version);
	res = store_exec_params(s, "SELECT count(*) FROM audit_key_escrow "
	    "WHERE mac_key_version = $1::integer", 1, vals, NULL, NULL, 1,
	    PGRES_TUPLES_OK, "counting escrowed audit key versions", err);
	if (res == NULL)
		return (-1);
	*out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return (0);
}
