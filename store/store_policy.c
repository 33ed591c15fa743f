/*
 * store_policy.c: identity policies and resource policies
 * (migrations/0005_policies.sql).  The connection that tells a server when
 * identity policies changed is store_listen.c's.
 *
 * None of this is on the hot path: identity policies are read when a
 * server's cache misses, written by administrators.  One-off parameterised
 * statements, no prepared ones, but for a secret's resource policy, which
 * is written inside the secret's change (ST_SECRET_SET_POLICY).
 */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Decode rows of (principal, policy_name, document, created, updated). */
static int
decode_policies(struct cf_arena *a, PGresult *r,
    struct store_identity_policy **out, size_t *n, struct cf_error *err)
{
	struct store_identity_policy *p;
	int i, rows = PQntuples(r);

	*out = NULL;
	*n = 0;
	if (rows == 0)
		return (0);
	if ((p = cf_arena_alloc(a, (size_t)rows * sizeof(*p))) == NULL)
		goto oom;
	for (i = 0; i < rows; i++) {
		p[i].principal = cf_arena_strdup(a, PQgetvalue(r, i, 0));
		p[i].policy_name = cf_arena_strdup(a, PQgetvalue(r, i, 1));
		p[i].document = PQgetisnull(r, i, 2) ? NULL :
		    cf_arena_strdup(a, PQgetvalue(r, i, 2));
		p[i].created_ms = strtoll(PQgetvalue(r, i, 3), NULL, 10);
		p[i].updated_ms = strtoll(PQgetvalue(r, i, 4), NULL, 10);
		if (p[i].principal == NULL || p[i].policy_name == NULL ||
		    (!PQgetisnull(r, i, 2) && p[i].document == NULL))
			goto oom;
	}
	*out = p;
	*n = (size_t)rows;
	return (0);

oom:
	cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
	return (-1);
}

static int
select_policies(struct store *s, struct cf_arena *a, const char *sql, int n,
    const char *const *v, struct store_identity_policy **out, size_t *nout,
    struct cf_error *err)
{
	PGresult *r;
	int rc;

	if ((r = store_exec_params(s, sql, n, v, NULL, NULL, 1,
	    PGRES_TUPLES_OK, "reading identity policies", err)) == NULL)
		return (-1);
	rc = decode_policies(a, r, out, nout, err);
	PQclear(r);
	return (rc);
}

#define POLICY_COLS(doc) "principal, policy_name, " doc ", " \
	MS("created_date") ", " MS("updated_date")

int
store_identity_policies(struct store *s, struct cf_arena *a,
    const char *principal, struct store_identity_policy **out, size_t *n,
    struct cf_error *err)
{
	const char *v[1] = { principal };

	return (select_policies(s, a, "SELECT " POLICY_COLS("document")
	    " FROM identity_policies WHERE principal = $1 ORDER BY policy_name",
	    1, v, out, n, err));
}

int
store_identity_policy_list(struct store *s, struct cf_arena *a,
    const char *principal, const char *after_principal, const char *after_name,
    int limit, struct store_identity_policy **out, size_t *n,
    struct cf_error *err)
{
	char lim[16];
	const char *v[4] = { principal, after_principal, after_name, lim };

	/* Keyset paging on the primary key, so a page is an index range. */
	snprintf(lim, sizeof(lim), "%d", limit);
	return (select_policies(s, a, "SELECT " POLICY_COLS("NULL::text")
	    " FROM identity_policies WHERE ($1::text IS NULL OR principal = $1)"
	    " AND ($2::text IS NULL OR (principal, policy_name) > ($2, $3))"
	    " ORDER BY principal, policy_name LIMIT $4::int", 4, v, out, n,
	    err));
}

enum store_lookup
store_identity_policy_get(struct store *s, struct cf_arena *a,
    const char *principal, const char *name, struct store_identity_policy *out,
    struct cf_error *err)
{
	const char *v[2] = { principal, name };
	struct store_identity_policy *p;
	size_t n;

	if (select_policies(s, a, "SELECT " POLICY_COLS("document")
	    " FROM identity_policies WHERE principal = $1 AND policy_name = $2",
	    2, v, &p, &n, err))
		return (STORE_ERROR);
	if (n == 0)
		return (STORE_NOT_FOUND);
	*out = p[0];
	return (STORE_FOUND);
}

int
store_identity_policy_put(struct store *s, const char *principal,
    const char *name, const char *doc, struct cf_error *err)
{
	const char *v[3] = { principal, name, doc };

	return (store_exec_rows(s, "INSERT INTO identity_policies (principal, "
	    "policy_name, document) VALUES ($1, $2, $3) ON CONFLICT "
	    "(principal, policy_name) DO UPDATE SET document = excluded.document, "
	    "updated_date = now()", 3, v, "writing an identity policy", NULL,
	    err));
}

enum store_lookup
store_identity_policy_delete(struct store *s, const char *principal,
    const char *name, struct cf_error *err)
{
	const char *v[2] = { principal, name };
	int rows = 0;

	if (store_exec_rows(s, "DELETE FROM identity_policies WHERE principal = $1 "
	    "AND policy_name = $2", 2, v, "deleting an identity policy", &rows,
	    err))
		return (STORE_ERROR);
	return (rows > 0 ? STORE_FOUND : STORE_NOT_FOUND);
}

int
store_secret_set_policy(struct store *s, const char *uuid, const char *doc,
    struct cf_error *err)
{
	const char *v[2] = { uuid, doc };

	/*
	 * A change of the secret's own row, under its lock: prepared, and
	 * held with the event and the COMMIT when the engine defers writes.
	 */
	return (store_command(s, ST_SECRET_SET_POLICY, 2, v, NULL, NULL, err));
}
