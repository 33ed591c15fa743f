/*
 * store_scale_test.c: ListSecrets stays cheap with a million secrets.
 *
 * Loads 1,000,000 secrets into a fresh database, then EXPLAINs (ANALYZE,
 * BUFFERS) the store's own page statements — the SQL the server prepares,
 * taken from store_stmt_defs, under a generic plan as prepared statements
 * get — for the first page and for a page near the end.  Each must be an
 * index scan that reads a few dozen buffers, and the deep page may not
 * read more than the first page plus a small constant: keyset paging costs
 * the same at secret 10 and at secret 1,000,000.  A name-prefix filter must
 * use the pattern index.  The plans are printed for the record.
 *
 * The audit trail: 2,000,000 events spread over twelve monthly partitions
 * (a year at 1,000 events/s is 31.5 billion; what must hold is the shape
 * of the plan, which grows with the logarithm of a partition's size).  A
 * ListAuditEvents query by secret and a one-month range must read only
 * that month's partition, through the (secret_arn, event_time) index.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "store_internal.h"
#include "testlib.h"

#define N_SECRETS 1000000

static const char *conninfo;
static PGconn *conn;

static int
setup(void **state)
{
	struct cf_error err;
	char sql[512];

	(void)state;
	conninfo = strdup(tl_fresh_database("store_scale"));
	if (store_migrate(conninfo, NULL, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return (-1);
	}
	snprintf(sql, sizeof(sql), "INSERT INTO secrets (uuid, name, arn, "
	    "created_date, last_changed_date) SELECT gen_random_uuid(), "
	    "'scale-' || i, 'arn:aws:secretsmanager:local-1:000000000000:"
	    "secret:scale-' || i || '-abcdef', t, t FROM generate_series(1, "
	    "%d) i, LATERAL (SELECT timestamptz '2026-01-01' + i * interval "
	    "'1 millisecond' AS t) x", N_SECRETS);
	tl_sql(conninfo, sql);
	tl_sql(conninfo, "VACUUM ANALYZE secrets");
	conn = PQconnectdb(conninfo);
	return (PQstatus(conn) == CONNECTION_OK ? 0 : -1);
}

static int
teardown(void **state)
{

	(void)state;
	PQfinish(conn);
	free((char *)(uintptr_t)conninfo);
	return (0);
}

/* Run ${sql} on the test's connection: tl_conn_value. */
static char *
one(const char *sql)
{

	return (tl_conn_value(conn, sql));
}

/* Sum "Shared Hit Blocks" + "Shared Read Blocks" of a JSON plan's root. */
static long
buffers(json_t *plan)
{

	return (json_integer_value(json_object_get(plan, "Shared Hit Blocks")) +
	    json_integer_value(json_object_get(plan, "Shared Read Blocks")));
}

/* Does any node of ${plan} scan ${index}? */
static int
uses_index(json_t *plan, const char *index)
{
	json_t *kids, *k;
	const char *name;
	size_t i;

	name = json_string_value(json_object_get(plan, "Index Name"));
	if (name != NULL && strcmp(name, index) == 0)
		return (1);
	kids = json_object_get(plan, "Plans");
	json_array_foreach(kids, i, k)
		if (uses_index(k, index))
			return (1);
	return (0);
}

/* EXPLAIN EXECUTE a prepared statement; returns the root plan node. */
static json_t *
explain(const char *what, const char *execute)
{
	char sql[1024], *text;
	json_t *doc, *plan;

	snprintf(sql, sizeof(sql), "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) %s",
	    execute);
	text = one(sql);
	assert_non_null(text);
	doc = json_loads(text, 0, NULL);
	assert_non_null(doc);
	plan = json_object_get(json_array_get(doc, 0), "Plan");
	printf("%s: %s, %ld buffers, %lld rows\n", what,
	    json_string_value(json_object_get(plan, "Node Type")),
	    buffers(plan), (long long)json_integer_value(json_object_get(plan,
	    "Actual Rows")));
	json_incref(plan);
	json_decref(doc);
	free(text);
	return (plan);
}

static void
prepare(const char *name, enum store_stmt st)
{
	char sql[4096];

	snprintf(sql, sizeof(sql), "PREPARE %s AS %s", name,
	    store_stmt_defs[st].sql);
	free(one(sql));
}

static void
test_keyset_paging_is_flat(void **state)
{
	json_t *first, *deep, *desc;
	char sql[512], *uuid, *us;

	(void)state;
	free(one("SET plan_cache_mode = force_generic_plan"));
	prepare("page_first", ST_PAGE_ASC_FIRST);
	prepare("page_after", ST_PAGE_ASC_AFTER);
	prepare("page_desc", ST_PAGE_DESC_AFTER);

	/* A cursor at secret 999,000 of 1,000,000. */
	uuid = one("SELECT uuid FROM secrets WHERE name = 'scale-999000'");
	us = one("SELECT floor(extract(epoch FROM created_date) * 1000000)::int8 "
	    "FROM secrets WHERE name = 'scale-999000'");
	assert_non_null(uuid);

	first = explain("first page", "EXECUTE page_first(false, 101)");
	snprintf(sql, sizeof(sql), "EXECUTE page_after(false, %s, '%s', 101)",
	    us, uuid);
	deep = explain("page at 999,000", sql);
	snprintf(sql, sizeof(sql), "EXECUTE page_desc(false, %s, '%s', 101)",
	    us, uuid);
	desc = explain("descending page at 999,000", sql);

	/* Index scans, a few dozen buffers, the deep page as cheap. */
	assert_true(uses_index(first, "secrets_created_key") ||
	    uses_index(first, "secrets_live_created_key"));
	assert_true(uses_index(deep, "secrets_created_key") ||
	    uses_index(deep, "secrets_live_created_key"));
	assert_true(buffers(first) < 200);
	assert_true(buffers(deep) <= buffers(first) + 20);
	assert_true(buffers(desc) <= buffers(first) + 20);
	assert_int_equal(json_integer_value(json_object_get(deep,
	    "Actual Rows")), 101);
	json_decref(first);
	json_decref(deep);
	json_decref(desc);
	free(uuid);
	free(us);
}

/* Count the nodes of ${plan} that scan a relation named ${prefix}*. */
static int
scans_of(json_t *plan, const char *prefix)
{
	json_t *kids, *k;
	const char *rel;
	size_t i;
	int n = 0;

	rel = json_string_value(json_object_get(plan, "Relation Name"));
	if (rel != NULL && strncmp(rel, prefix, strlen(prefix)) == 0)
		n++;
	kids = json_object_get(plan, "Plans");
	json_array_foreach(kids, i, k)
		n += scans_of(k, prefix);
	return (n);
}

static void
test_audit_year_by_secret_and_month(void **state)
{
	json_t *plan;
	int m;
	char sql[1024];

	(void)state;
	/* Twelve months of 2025 (the migration made only months near now). */
	for (m = 0; m < 12; m++) {
		snprintf(sql, sizeof(sql), "CREATE TABLE audit_events_y%d "
		    "PARTITION OF audit_events FOR VALUES FROM ('2025-%02d-01 "
		    "00:00+00') TO ('2025-%02d-01 00:00+00'::timestamptz + "
		    "interval '1 month')", m, m + 1, m + 1);
		free(one(sql));
	}
	free(one("INSERT INTO audit_events SELECT "
	    "CASE WHEN i % 2 = 0 THEN '00000000-0000-4000-8000-000000000001' "
	    "ELSE '00000000-0000-4000-8000-000000000002' END::uuid, i, "
	    "timestamptz '2025-01-01 00:00+00' + (i * interval '15 seconds'), "
	    "'r' || i, 'spiffe://corp/sa/' || (i % 100), 'ipv4:10.0.0.1:1', "
	    "'GetSecretValue', 'arn:aws:secretsmanager:local-1:000000000000:"
	    "secret:app-' || (i % 10000) || '-abcdef', NULL, 'OK', "
	    "decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'), "
	    "decode(repeat('00', 32), 'hex') FROM generate_series(1, 2000000) "
	    "i"));
	free(one("ANALYZE audit_events"));

	/*
	 * The shape store_audit_list() builds, by secret (its ARN, or calls
	 * that asked for it by that SecretId) and a month.
	 */
	free(one("SET plan_cache_mode = force_custom_plan"));
	free(one("PREPARE audit_by_secret AS SELECT chain_id, seq, event_time "
	    "FROM audit_events WHERE true AND (false OR secret_arn = $1 OR "
	    "coffer_audit_requested_secret(request_params) = $1) AND event_time "
	    ">= to_timestamp($2::double precision / 1000) AND event_time < "
	    "to_timestamp($3::double precision / 1000) ORDER BY event_time, "
	    "chain_id, seq LIMIT $4::int"));
	plan = explain("audit: one secret, June 2025 of 2,000,000 events",
	    "EXECUTE audit_by_secret('arn:aws:secretsmanager:local-1:"
	    "000000000000:secret:app-42-abcdef', 1748736000000, 1751328000000, "
	    "101)");
	assert_int_equal(scans_of(plan, "audit_events_"), 1);
	assert_true(buffers(plan) < 200);
	json_decref(plan);

	/* By principal and a day. */
	free(one("PREPARE audit_by_principal AS SELECT chain_id, seq FROM "
	    "audit_events WHERE true AND principal = $1 AND event_time >= "
	    "to_timestamp($2::double precision / 1000) AND event_time < "
	    "to_timestamp($3::double precision / 1000) ORDER BY event_time, "
	    "chain_id, seq LIMIT $4::int"));
	plan = explain("audit: one principal, one day",
	    "EXECUTE audit_by_principal('spiffe://corp/sa/7', 1750000000000, "
	    "1750086400000, 101)");
	assert_int_equal(scans_of(plan, "audit_events_"), 1);
	assert_true(buffers(plan) < 200);
	json_decref(plan);
}

static void
test_name_prefix_uses_index(void **state)
{
	json_t *plan;

	(void)state;
	/*
	 * The shape store_search.c builds for a name filter.  It runs as an
	 * unnamed statement (PQexecParams), which PostgreSQL plans with the
	 * values known: a custom plan, which can turn LIKE 'p%' into an index
	 * range.
	 */
	free(one("SET plan_cache_mode = force_custom_plan"));
	free(one("PREPARE by_name AS SELECT uuid FROM secrets s WHERE "
	    "s.live AND ((false OR s.name LIKE $1)) "
	    "ORDER BY s.created_date, s.uuid LIMIT $2"));
	plan = explain("name prefix 'scale-99999'",
	    "EXECUTE by_name('scale-99999%', 101)");
	assert_true(uses_index(plan, "secrets_name_pattern_key"));
	assert_true(buffers(plan) < 200);
	json_decref(plan);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keyset_paging_is_flat),
		cmocka_unit_test(test_name_prefix_uses_index),
		cmocka_unit_test(test_audit_year_by_secret_and_month),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
