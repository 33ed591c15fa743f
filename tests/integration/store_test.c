/*
 * store_test.c: store/ on its own against a real PostgreSQL database, with
 * no engine above it: what a row written through the store reads back as
 * (secrets, updates, pages and searches, versions and labels, tags, the
 * deletion mark), lookups that find nothing (0, not an error), writes that
 * collide with a unique key (CF_ERR_RESOURCE_EXISTS, nothing written), and
 * store_migrate applying every migration once and nothing the second time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store.h"
#include "testlib.h"

/* The migrations in migrations/, in order. */
#define MIGRATIONS "0001_initial,0002_list_indexes,0003_server_keys," \
	"0004_audit,0005_policies,0006_rotation,0007_rotation_principal," \
	"0008_audit_request_params,0009_live_flag,0010_list_words," \
	"0011_tags_present,0012_access_keys,0013_audit_transport," \
	"0014_kek_versions,0015_key_deletion,0016_audit_key_versions," \
	"0017_audit_key_escrow,0018_audit_hmac_per_batch,0019_label_limit," \
	"0020_audit_requested_plpgsql,0021_tag_limit,0022_put_basis"
#define N_MIGRATIONS 22

#define ARN_PREFIX "arn:aws:secretsmanager:local-1:000000000000:secret:"
#define VID_A "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaa1"
#define VID_B "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbb2"

static const char *conninfo;
static struct store *st;
static struct cf_arena *arena;
static int serial;

/* A fresh arena for the next step (what one request would get). */
static void
fresh(void)
{

	cf_arena_free(arena);
	arena = cf_arena_new();
	assert_non_null(arena);
}

/*
 * Insert a secret named ${name} (ARN: the name and a fixed suffix) with
 * ${desc}; its uuid, in the arena.
 */
static const char *
insert(const char *name, const char *desc)
{
	struct store_secret sec = { 0 };
	struct cf_error err;
	char *uuid, *arn;

	uuid = cf_arena_alloc(arena, 37);
	arn = cf_arena_alloc(arena, 600);
	assert_non_null(uuid);
	assert_non_null(arn);
	snprintf(uuid, 37, "00000000-0000-4000-8000-%012d", ++serial);
	snprintf(arn, 600, ARN_PREFIX "%s-AbCdEf", name);
	memcpy(sec.uuid, uuid, 37);
	sec.name = name;
	sec.arn = arn;
	sec.description = desc;
	if (store_secret_insert(st, &sec, &err))
		fail_msg("insert %s: %s", name, err.msg);
	return (uuid);
}

/* A version ${vid} of secret ${uuid} with ${ct} as its ciphertext. */
static int
insert_version(const char *uuid, const char *vid, const char *ct,
    struct cf_error *err)
{
	static const uint8_t iv[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
	static const uint8_t dek[40] = { 0xde, 0xc0, 0xde };
	struct store_version v = { 0 };

	v.version_id = vid;
	v.format = 1;
	v.kek_label = "coffer-test-kek";
	v.iv = iv;
	v.iv_len = sizeof(iv);
	v.wrapped_dek = dek;
	v.wrapped_dek_len = sizeof(dek);
	v.ciphertext = (const uint8_t *)ct;
	v.ciphertext_len = strlen(ct);
	return (store_version_insert(st, uuid, &v, err));
}

static long
count(const char *sql)
{
	char *v = tl_sql_value(conninfo, sql);
	long n = v != NULL ? atol(v) : -1;

	free(v);
	return (n);
}

/* The labels of secret ${uuid}, "stage=version ..." in label order. */
static char *
labels_of(const char *uuid)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SELECT coalesce(string_agg(stage || '=' || "
	    "left(version_id, 1), ' ' ORDER BY stage), '') FROM version_stages "
	    "WHERE secret_uuid = '%s'", uuid);
	return (tl_sql_value(conninfo, sql));
}

static void
assert_labels(const char *uuid, const char *want)
{
	char *got = labels_of(uuid);

	assert_non_null(got);
	if (strcmp(got, want) != 0)
		fail_msg("labels: got \"%s\", want \"%s\"", got, want);
	free(got);
}

static void
test_migrate_idempotent(void **state)
{
	struct cf_error err;
	const char *db;
	char *applied;
	int n = -1;

	(void)state;
	/* An empty database gets every migration, each recorded once. */
	db = tl_fresh_database("store_migrate");
	assert_int_equal(store_migrate(db, &n, &err), 0);
	assert_int_equal(n, N_MIGRATIONS);
	applied = tl_sql_value(db, "SELECT string_agg(version, ',' ORDER BY "
	    "version) FROM schema_migrations");
	assert_string_equal(applied, MIGRATIONS);
	free(applied);

	/* Again, and again: nothing applied, nothing recorded twice. */
	assert_int_equal(store_migrate(db, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_migrate(db, &n, &err), 0);
	assert_int_equal(n, 0);
	applied = tl_sql_value(db, "SELECT string_agg(version, ',' ORDER BY "
	    "version) FROM schema_migrations");
	assert_string_equal(applied, MIGRATIONS);
	free(applied);

	/* The fixture's database, migrated in setup, is left as it was. */
	assert_int_equal(store_migrate(conninfo, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(count("SELECT count(*) FROM schema_migrations"),
	    N_MIGRATIONS);
}

/*
 * The audit index's function (migrations 0008, 0020): the SecretId a call
 * gave, else the Name of a CreateSecret, else NULL, the same as the SQL
 * expression it was first written as, whatever the caller's search_path.
 */
static void
test_audit_requested_secret(void **state)
{
	char *v;

	(void)state;
	assert_int_equal(count("SELECT count(*) FROM (VALUES "
	    "('{\"SecretId\":\"a\"}'), ('{\"Name\":\"n\"}'), "
	    "('{\"SecretId\":\"a\",\"Name\":\"n\"}'), ('{}'), ('[]'), "
	    "('\"s\"'), ('{\"SecretId\":1}'), "
	    "('{\"SecretId\":null,\"Name\":\"n\"}'), "
	    "('{\"SecretId\":{\"x\":1}}'), (NULL)) AS t(p) WHERE "
	    "coffer_audit_requested_secret(p) IS DISTINCT FROM "
	    "coalesce((p::jsonb) ->> 'SecretId', (p::jsonb) ->> 'Name')"), 0);
	v = tl_sql_value(conninfo, "SELECT coffer_audit_requested_secret("
	    "'{\"Name\":\"n\",\"SecretId\":\"app/db\"}')");
	assert_string_equal(v, "app/db");
	free(v);
	v = tl_sql_value(conninfo, "SELECT coalesce(coffer_audit_requested_"
	    "secret('{\"SecretId\":null,\"Name\":\"app/new\"}'), 'x') || "
	    "coalesce(coffer_audit_requested_secret(NULL), 'null')");
	assert_string_equal(v, "app/newnull");
	free(v);

	/*
	 * A ->> of its own first on the search_path, in a session that has
	 * not run the function yet: the index still stores the SecretId.
	 */
	v = tl_sql_value(conninfo, "CREATE SCHEMA shadow; "
	    "CREATE FUNCTION shadow.get(jsonb, text) RETURNS text "
	    "LANGUAGE sql IMMUTABLE AS 'SELECT ''shadowed''::text'; "
	    "CREATE OPERATOR shadow.->> (LEFTARG = jsonb, RIGHTARG = text, "
	    "FUNCTION = shadow.get); "
	    "SET search_path = shadow, pg_catalog, public; "
	    "SELECT '{\"SecretId\":\"a\"}'::jsonb ->> 'SecretId' || ' ' || "
	    "coffer_audit_requested_secret('{\"SecretId\":\"a\"}')");
	tl_sql(conninfo, "DROP SCHEMA shadow CASCADE");
	assert_string_equal(v, "shadowed a");
	free(v);
}

static void
test_secret_round_trip(void **state)
{
	struct store_secret s, s2;
	struct cf_error err;
	const char *uuid;

	(void)state;
	fresh();
	uuid = insert("round/trip", "the description");

	/* By name: every column written comes back, dates set to now. */
	assert_int_equal(store_secret_by_name(st, arena, "round/trip", 0, &s,
	    &err), STORE_FOUND);
	assert_string_equal(s.uuid, uuid);
	assert_string_equal(s.name, "round/trip");
	assert_string_equal(s.arn, ARN_PREFIX "round/trip-AbCdEf");
	assert_string_equal(s.description, "the description");
	assert_null(s.kms_key_id);
	assert_true(s.created_ms > 0);
	assert_true(cf_now_ms() - s.created_ms < 60000);
	assert_int_equal(s.created_us / 1000, s.created_ms);
	assert_true(s.last_changed_ms >= s.created_ms);
	assert_int_equal(s.deleted_ms, 0);
	assert_int_equal(s.rotation_enabled, -1);
	assert_null(s.resource_policy);

	/* By ARN, and locked for update inside a transaction: the same row. */
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(store_secret_by_arn(st, arena,
	    ARN_PREFIX "round/trip-AbCdEf", 1, &s2, &err), STORE_FOUND);
	assert_int_equal(store_commit(st, &err), 0);
	assert_string_equal(s2.uuid, s.uuid);
	assert_string_equal(s2.name, s.name);
	assert_int_equal(s2.created_us, s.created_us);

	/* A secret without a description reads back without one. */
	insert("round/bare", NULL);
	assert_int_equal(store_secret_by_name(st, arena, "round/bare", 0, &s,
	    &err), STORE_FOUND);
	assert_null(s.description);
}

/*
 * store_begin sends nothing: BEGIN goes with the transaction's first
 * statement, in one pipeline (with a deadline, as cofferd runs the store).
 * The transaction is real (the session is idle in one after the first
 * statement), an empty one costs nothing, a failing first statement
 * leaves a connection that works, and a connection lost between
 * transactions is reopened and the BEGIN sent again with the statement.
 */
static long
idle_in_tx(void)
{

	return (count("SELECT count(*) FROM pg_stat_activity WHERE "
	    "datname = current_database() AND state = 'idle in transaction'"));
}

static void
test_transactions(void **state)
{
	struct store_secret sec, dup = { 0 };
	struct cf_error err;

	(void)state;
	fresh();
	store_set_deadline(st, 10000);
	insert("tx/one", NULL);

	/* Empty: nothing sent. */
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(idle_in_tx(), 0);
	assert_int_equal(store_commit(st, &err), 0);

	/* The first statement opens it, and the row stays locked. */
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(store_secret_by_name(st, arena, "tx/one", 1, &sec,
	    &err), STORE_FOUND);
	assert_int_equal(idle_in_tx(), 1);
	assert_int_equal(store_commit(st, &err), 0);
	assert_int_equal(idle_in_tx(), 0);

	/* A first statement that fails; then the connection still works. */
	memcpy(dup.uuid, sec.uuid, sizeof(dup.uuid));
	dup.name = "tx/dup";
	dup.arn = ARN_PREFIX "tx/dup-AbCdEf";
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_not_equal(store_secret_insert(st, &dup, &err), 0);
	store_rollback(st);
	assert_int_equal(idle_in_tx(), 0);
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(store_secret_by_name(st, arena, "tx/one", 1, &sec,
	    &err), STORE_FOUND);
	store_rollback(st);

	/* Lost between transactions: reopened, BEGIN sent again. */
	tl_sql(conninfo, "SELECT pg_terminate_backend(pid) FROM "
	    "pg_stat_activity WHERE pid <> pg_backend_pid() AND "
	    "datname = current_database() AND backend_type = 'client backend'");
	assert_int_equal(store_begin(st, &err), 0);
	if (store_secret_by_name(st, arena, "tx/one", 1, &sec, &err) !=
	    STORE_FOUND)
		fail_msg("after a lost connection: %s", err.msg);
	assert_int_equal(idle_in_tx(), 1);
	assert_int_equal(store_commit(st, &err), 0);
	store_set_deadline(st, 0);
}

static void
test_update_round_trip(void **state)
{
	struct store_secret s;
	struct cf_error err;
	const char *uuid;

	(void)state;
	fresh();
	uuid = insert("update", "before");

	/* The description only: the key id is kept. */
	assert_int_equal(store_secret_update_meta(st, uuid, 1, "after", 0, NULL,
	    &err), 0);
	assert_int_equal(store_secret_by_name(st, arena, "update", 0, &s, &err),
	    STORE_FOUND);
	assert_string_equal(s.description, "after");
	assert_null(s.kms_key_id);

	/* The key id only: the description is kept. */
	assert_int_equal(store_secret_update_meta(st, uuid, 0, NULL, 1,
	    "alias/other", &err), 0);
	assert_int_equal(store_secret_by_name(st, arena, "update", 0, &s, &err),
	    STORE_FOUND);
	assert_string_equal(s.description, "after");
	assert_string_equal(s.kms_key_id, "alias/other");

	/* NULL stores SQL NULL. */
	assert_int_equal(store_secret_update_meta(st, uuid, 1, NULL, 1, NULL,
	    &err), 0);
	assert_int_equal(store_secret_by_name(st, arena, "update", 0, &s, &err),
	    STORE_FOUND);
	assert_null(s.description);
	assert_null(s.kms_key_id);

	/* LastChangedDate moves forward, never back. */
	{
		int64_t before = s.last_changed_ms;

		assert_int_equal(store_secret_touch_changed(st, uuid, &err), 0);
		assert_int_equal(store_secret_by_name(st, arena, "update", 0,
		    &s, &err), STORE_FOUND);
		assert_true(s.last_changed_ms >= before);
	}
}

static void
test_list_round_trip(void **state)
{
	struct store_secret *page;
	struct store_filter f;
	const char *vals[2];
	struct cf_error err;
	char got[512];
	int64_t after_us = 0;
	const char *after_uuid = NULL;
	size_t n, i, pages = 0;
	int64_t purge;
	const char *gone;

	(void)state;
	fresh();
	insert("list/a", NULL);
	insert("list/b", NULL);
	insert("list/c", NULL);
	gone = insert("list/d", NULL);
	insert("other/e", NULL);

	/* Pages of two, oldest first, strictly after the cursor. */
	got[0] = '\0';
	do {
		assert_int_equal(store_secret_page(st, arena, 0, 0, after_us,
		    after_uuid, 2, &page, &n, &err), 0);
		assert_true(n <= 2);
		for (i = 0; i < n; i++) {
			if (strncmp(page[i].name, "list/", 5) == 0 ||
			    strncmp(page[i].name, "other/", 6) == 0) {
				strcat(got, page[i].name);
				strcat(got, " ");
			}
		}
		if (n > 0) {
			after_us = page[n - 1].created_us;
			after_uuid = page[n - 1].uuid;
		}
		pages++;
	} while (n == 2 && pages < 100);
	assert_string_equal(got, "list/a list/b list/c list/d other/e ");

	/* Newest first. */
	assert_int_equal(store_secret_page(st, arena, 0, 1, 0, NULL, 1, &page,
	    &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(page[0].name, "other/e");

	/* A name prefix; a negated one; the deleted only when asked for. */
	vals[0] = "list/";
	f.key = SF_NAME;
	f.values = vals;
	f.n_values = 1;
	assert_int_equal(store_secret_search(st, arena, &f, 1, 0, 0, 0, NULL,
	    100, &page, &n, &err), 0);
	assert_int_equal(n, 4);
	vals[1] = "!list/b";
	f.n_values = 2;
	assert_int_equal(store_secret_search(st, arena, &f, 1, 0, 0, 0, NULL,
	    100, &page, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(store_secret_schedule_delete(st, gone, 7, &purge,
	    &err), 0);
	assert_true(purge > cf_now_ms() + 6LL * 86400000);
	assert_int_equal(store_secret_search(st, arena, &f, 1, 0, 0, 0, NULL,
	    100, &page, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(store_secret_search(st, arena, &f, 1, 1, 0, 0, NULL,
	    100, &page, &n, &err), 0);
	assert_int_equal(n, 3);
}

static void
test_versions_and_stages(void **state)
{
	struct store_version v;
	struct store_version_info *vi;
	struct store_stage *stages;
	struct store_tag *tags;
	size_t *towner, nt;
	struct cf_error err;
	const char *uuid, *prev, *holder;
	size_t *owner, n;

	(void)state;
	fresh();
	uuid = insert("versions", NULL);
	assert_int_equal(insert_version(uuid, VID_A, "ciphertext A", &err), 0);
	assert_int_equal(insert_version(uuid, VID_B, "ciphertext B", &err), 0);

	/* AWSCURRENT onto A (no one had it), then onto B (A had it). */
	assert_int_equal(store_stage_move(st, arena, uuid, "AWSCURRENT", VID_A,
	    &prev, &err), 0);
	assert_null(prev);
	assert_int_equal(store_stage_move(st, arena, uuid, "AWSCURRENT", VID_B,
	    &prev, &err), 0);
	assert_string_equal(prev, VID_A);
	assert_int_equal(store_stage_move(st, arena, uuid, "AWSPREVIOUS", VID_A,
	    &prev, &err), 0);

	/* By label and by id: the envelope's bytes and the labels. */
	assert_int_equal(store_version_get(st, arena, uuid, NULL, "AWSCURRENT",
	    &v, &err), STORE_FOUND);
	assert_string_equal(v.version_id, VID_B);
	assert_int_equal(v.binary, 0);
	assert_int_equal(v.format, 1);
	assert_string_equal(v.kek_label, "coffer-test-kek");
	assert_int_equal(v.iv_len, 12);
	assert_int_equal(v.iv[11], 12);
	assert_int_equal(v.wrapped_dek_len, 40);
	assert_int_equal(v.wrapped_dek[0], 0xde);
	assert_int_equal(v.ciphertext_len, strlen("ciphertext B"));
	assert_memory_equal(v.ciphertext, "ciphertext B", v.ciphertext_len);
	assert_int_equal(v.n_stages, 1);
	assert_string_equal(v.stages[0], "AWSCURRENT");
	assert_int_equal(store_version_get(st, arena, uuid, VID_A, NULL, &v,
	    &err), STORE_FOUND);
	assert_memory_equal(v.ciphertext, "ciphertext A", v.ciphertext_len);
	assert_string_equal(v.stages[0], "AWSPREVIOUS");
	assert_int_equal(store_stage_holder(st, arena, uuid, "AWSPREVIOUS",
	    &holder, &err), STORE_FOUND);
	assert_string_equal(holder, VID_A);
	assert_int_equal(store_version_exists(st, uuid, VID_B, &err),
	    STORE_FOUND);

	/* Every (version, label) pair, oldest version first. */
	assert_int_equal(store_page_meta(st, arena, &uuid, 1, &tags, &towner,
	    &nt, &stages, &owner, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(stages[0].version_id, VID_A);
	assert_string_equal(stages[0].stage, "AWSPREVIOUS");
	assert_string_equal(stages[1].version_id, VID_B);
	assert_int_equal(owner[1], 0);
	assert_labels(uuid, "AWSCURRENT=b AWSPREVIOUS=a");

	/* Without deprecated versions, after removing A's label: B only. */
	assert_int_equal(store_stage_remove(st, uuid, "AWSPREVIOUS", &err), 0);
	assert_int_equal(store_version_page(st, arena, uuid, 0, 0, NULL, 10,
	    &vi, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(vi[0].version_id, VID_B);
	assert_int_equal(store_version_page(st, arena, uuid, 1, 0, NULL, 10,
	    &vi, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(vi[0].version_id, VID_A);
	assert_int_equal(vi[0].n_stages, 0);
}

static void
test_tags_round_trip(void **state)
{
	struct store_tag t1[2] = { { "b", "2" }, { "a", "1" } };
	struct store_tag t2[1] = { { "b", "changed" } };
	struct store_tag t3[1] = { { "c", "3" } };
	const char *gone[2] = { "a", "absent" };
	struct store_tag *tags;
	struct cf_error err;
	const char *uuid;
	size_t *owner, n;

	(void)state;
	fresh();
	uuid = insert("tags", NULL);

	/* Insertion order kept; a key written again is overwritten in place. */
	assert_int_equal(store_tags_put(st, uuid, t1, 2, &err), 0);
	assert_int_equal(store_tags_put(st, uuid, t2, 1, &err), 0);
	assert_int_equal(store_tags(st, arena, &uuid, 1, &tags, &owner, &n,
	    &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(tags[0].key, "b");
	assert_string_equal(tags[0].value, "changed");
	assert_string_equal(tags[1].key, "a");
	assert_int_equal(owner[1], 0);

	/* Removing a missing key is fine. */
	assert_int_equal(store_tags_remove(st, uuid, gone, 2, &err), 0);
	assert_int_equal(count("SELECT count(*) FROM tags t JOIN secrets s ON "
	    "s.uuid = t.secret_uuid WHERE s.name = 'tags'"), 1);

	/*
	 * The quota, checked by a statement held with the tags: within it,
	 * nothing; past it, the commit fails with the count in the message
	 * and keeps none of the transaction's tags.
	 */
	assert_int_equal(store_begin(st, &err), 0);
	store_defer_writes(st);
	assert_int_equal(store_tags_put(st, uuid, t1, 2, &err), 0);
	assert_int_equal(store_tags_within(st, uuid, 2, &err), 0);
	assert_int_equal(store_commit(st, &err), 0);
	assert_int_equal(store_begin(st, &err), 0);
	store_defer_writes(st);
	assert_int_equal(store_tags_put(st, uuid, t3, 1, &err), 0);
	assert_int_equal(store_tags_within(st, uuid, 2, &err), 0);
	assert_int_equal(store_commit(st, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	assert_string_equal(err.msg, "A secret can have at most 2 tags; this "
	    "request would leave it with 3.");
	assert_int_equal(count("SELECT count(*) FROM tags t JOIN secrets s ON "
	    "s.uuid = t.secret_uuid WHERE s.name = 'tags'"), 2);
}

static void
test_delete_restore(void **state)
{
	struct store_secret s;
	struct cf_error err;
	const char *uuid;
	int64_t purge;

	(void)state;
	fresh();
	uuid = insert("delete", NULL);
	assert_int_equal(insert_version(uuid, VID_A, "ct", &err), 0);

	/* Scheduled: the row stays, marked. */
	assert_int_equal(store_secret_schedule_delete(st, uuid, 30, &purge,
	    &err), 0);
	assert_int_equal(store_secret_by_name(st, arena, "delete", 0, &s, &err),
	    STORE_FOUND);
	assert_true(s.deleted_ms > 0);
	assert_int_equal(s.purge_after_ms, purge);

	/* Restored: unmarked. */
	assert_int_equal(store_secret_restore(st, uuid, &err), 0);
	assert_int_equal(store_secret_by_name(st, arena, "delete", 0, &s, &err),
	    STORE_FOUND);
	assert_int_equal(s.deleted_ms, 0);
	assert_int_equal(s.purge_after_ms, 0);

	/*
	 * Held: nothing is sent before the COMMIT's pipeline, and the date
	 * comes back with it, the one stored (a rolled-back one never).
	 */
	assert_int_equal(store_begin(st, &err), 0);
	store_defer_writes(st);
	purge = -1;
	assert_int_equal(store_secret_schedule_delete(st, uuid, 7, &purge,
	    &err), 0);
	assert_int_equal(purge, -1);
	store_rollback(st);
	assert_int_equal(purge, -1);
	assert_int_equal(store_begin(st, &err), 0);
	store_defer_writes(st);
	assert_int_equal(store_secret_schedule_delete(st, uuid, 7, &purge,
	    &err), 0);
	assert_int_equal(store_commit(st, &err), 0);
	assert_int_equal(store_secret_by_name(st, arena, "delete", 0, &s, &err),
	    STORE_FOUND);
	assert_true(purge > 0);
	assert_int_equal(s.purge_after_ms, purge);
	assert_int_equal(count("SELECT count(*) FROM secrets WHERE name = "
	    "'delete' AND purge_after - deleted_date = interval '7 days'"), 1);
	assert_int_equal(store_secret_restore(st, uuid, &err), 0);

	/* Deleted now: the row and its versions gone. */
	assert_int_equal(store_secret_delete(st, uuid, &err), 0);
	assert_int_equal(store_secret_by_name(st, arena, "delete", 0, &s, &err),
	    STORE_NOT_FOUND);
	assert_int_equal(count("SELECT count(*) FROM secret_versions WHERE "
	    "secret_uuid NOT IN (SELECT uuid FROM secrets)"), 0);
}

static void
test_not_found(void **state)
{
	struct store_identity_policy p;
	struct store_secret s;
	struct store_version v;
	struct cf_error err;
	const char *uuid, *holder;

	(void)state;
	fresh();
	uuid = insert("found", NULL);

	/* Lookups of what is not there answer 0, not an error. */
	assert_int_equal(store_secret_by_name(st, arena, "not-there", 0, &s,
	    &err), STORE_NOT_FOUND);
	assert_int_equal(store_secret_by_name(st, arena, "FOUND", 0, &s, &err),
	    STORE_NOT_FOUND);
	assert_int_equal(store_secret_by_arn(st, arena,
	    ARN_PREFIX "found-zzzzzz", 0, &s, &err), STORE_NOT_FOUND);
	assert_int_equal(store_version_get(st, arena, uuid, VID_A, NULL, &v,
	    &err), STORE_NOT_FOUND);
	assert_int_equal(store_version_get(st, arena, uuid, NULL, "AWSCURRENT",
	    &v, &err), STORE_NOT_FOUND);
	assert_int_equal(store_version_exists(st, uuid, VID_A, &err),
	    STORE_NOT_FOUND);
	assert_int_equal(store_stage_holder(st, arena, uuid, "AWSCURRENT",
	    &holder, &err), STORE_NOT_FOUND);
	assert_int_equal(store_identity_policy_get(st, arena, "nobody", "none",
	    &p, &err), STORE_NOT_FOUND);
	assert_int_equal(store_identity_policy_delete(st, "nobody", "none",
	    &err), STORE_NOT_FOUND);

	/* And the connection is still good afterwards. */
	assert_int_equal(store_ping(st), 0);
}

static void
test_conflicts(void **state)
{
	struct store_secret sec = { 0 };
	struct cf_error err;
	const char *uuid;

	(void)state;
	fresh();
	uuid = insert("taken", NULL);
	assert_int_equal(insert_version(uuid, VID_A, "first", &err), 0);

	/* The same name under another uuid and ARN. */
	snprintf(sec.uuid, sizeof(sec.uuid), "%s",
	    "ffffffff-ffff-4fff-8fff-fffffffffff1");
	sec.name = "taken";
	sec.arn = ARN_PREFIX "taken-ZyXwVu";
	assert_int_equal(store_secret_insert(st, &sec, &err), -1);
	assert_int_equal(err.code, CF_ERR_RESOURCE_EXISTS);

	/* The same ARN under another name. */
	sec.name = "taken-too";
	sec.arn = ARN_PREFIX "taken-AbCdEf";
	assert_int_equal(store_secret_insert(st, &sec, &err), -1);
	assert_int_equal(err.code, CF_ERR_RESOURCE_EXISTS);

	/* The same uuid. */
	snprintf(sec.uuid, sizeof(sec.uuid), "%s", uuid);
	sec.arn = ARN_PREFIX "taken-too-AbCdEf";
	assert_int_equal(store_secret_insert(st, &sec, &err), -1);
	assert_int_equal(err.code, CF_ERR_RESOURCE_EXISTS);

	/* The same version id on the same secret. */
	assert_int_equal(insert_version(uuid, VID_A, "second", &err), -1);
	assert_int_equal(err.code, CF_ERR_RESOURCE_EXISTS);

	/* None of it was written; the first ones are untouched. */
	assert_int_equal(count("SELECT count(*) FROM secrets WHERE name LIKE "
	    "'taken%'"), 1);
	assert_int_equal(count("SELECT count(*) FROM secret_versions WHERE "
	    "version_id = '" VID_A "' AND ciphertext = 'second'"), 0);
	assert_int_equal(store_ping(st), 0);
}

static int
setup(void **state)
{
	struct cf_error err;

	(void)state;
	conninfo = strdup(tl_fresh_database("store_test"));
	if (store_migrate(conninfo, NULL, &err) ||
	    (st = store_connect(conninfo, &err)) == NULL) {
		fprintf(stderr, "store: %s\n", err.msg);
		return (-1);
	}
	return (0);
}

static int
teardown(void **state)
{

	(void)state;
	cf_arena_free(arena);
	store_free(st);
	free((char *)(uintptr_t)conninfo);
	return (0);
}

/* A secret row for ${name}, not inserted: a fresh uuid and an ARN. */
static void
new_secret(struct store_secret *sec, const char *name)
{
	char *arn = cf_arena_alloc(arena, 600);

	assert_non_null(arn);
	memset(sec, 0, sizeof(*sec));
	snprintf(sec->uuid, sizeof(sec->uuid), "00000000-0000-4000-8000-%012d",
	    ++serial);
	snprintf(arn, 600, ARN_PREFIX "%s-AbCdEf", name);
	sec->name = name;
	sec->arn = arn;
}

/*
 * store_defer_writes: held writes run before anything sent after them,
 * and one refused at the COMMIT fails it with its own error and keeps
 * nothing of the transaction.
 */
static void
test_held_writes(void **state)
{
	struct store_secret sec, a, b, dup;
	struct cf_error err;

	(void)state;
	fresh();
	store_set_deadline(st, 10000);
	insert("held/taken", NULL);

	/* Held, then a lookup that needs an answer: it sees the row. */
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(store_secret_by_name(st, arena, "held/taken", 1, &sec,
	    &err), STORE_FOUND);
	store_defer_writes(st);
	new_secret(&a, "held/new");
	assert_int_equal(store_secret_insert(st, &a, &err), 0);
	assert_int_equal(store_secret_by_name(st, arena, "held/new", 0, &sec,
	    &err), STORE_FOUND);
	assert_int_equal(store_commit(st, &err), 0);
	assert_int_equal(count("SELECT count(*) FROM secrets WHERE name = "
	    "'held/new'"), 1);

	/* Two held, the second refused at the COMMIT: neither is kept. */
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(store_secret_by_name(st, arena, "held/taken", 1, &sec,
	    &err), STORE_FOUND);
	store_defer_writes(st);
	new_secret(&b, "held/other");
	new_secret(&dup, "held/taken");
	assert_int_equal(store_secret_insert(st, &b, &err), 0);
	assert_int_equal(store_secret_insert(st, &dup, &err), 0);
	assert_int_equal(store_commit(st, &err), -1);
	assert_int_equal(err.code, CF_ERR_RESOURCE_EXISTS);
	assert_int_equal(strncmp(err.msg, "duplicate row", 13), 0);
	assert_int_equal(count("SELECT count(*) FROM secrets WHERE name = "
	    "'held/other'"), 0);
	assert_int_equal(idle_in_tx(), 0);

	/* The next transaction holds nothing from that one. */
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(store_secret_by_name(st, arena, "held/taken", 1, &sec,
	    &err), STORE_FOUND);
	assert_int_equal(store_commit(st, &err), 0);
	assert_int_equal(count("SELECT count(*) FROM secrets WHERE name LIKE "
	    "'held/%'"), 2);
	store_set_deadline(st, 0);
}

/*
 * store_secret_lock_with_version: the secret, one of its versions and
 * whether it has AWSCURRENT, in one round trip; sent again on a new
 * connection when the old one died between transactions.
 */
static void
test_lock_with_version(void **state)
{
	struct store_secret sec;
	struct store_version ver;
	struct cf_error err;
	const char *uuid;
	int has, cur;

	(void)state;
	fresh();
	store_set_deadline(st, 10000);
	uuid = insert("lwv/one", NULL);
	assert_int_equal(insert_version(uuid, VID_A, "ciphertext A", &err), 0);

	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(store_secret_lock_with_version(st, arena, "lwv/one", 0,
	    VID_A, &sec, &ver, &has, &cur, &err), STORE_FOUND);
	assert_true(has);
	assert_false(cur);		/* no label yet */
	assert_string_equal(sec.uuid, uuid);
	assert_string_equal(ver.version_id, VID_A);
	assert_memory_equal(ver.ciphertext, "ciphertext A", 12);
	assert_int_equal(ver.n_stages, 0);
	assert_int_equal(idle_in_tx(), 1);	/* the row stays locked */
	assert_int_equal(store_commit(st, &err), 0);

	/* By ARN, a version that does not exist, once A is current. */
	tl_sql(conninfo, "INSERT INTO version_stages (secret_uuid, stage, "
	    "version_id) SELECT uuid, 'AWSCURRENT', '" VID_A "' FROM secrets "
	    "WHERE name = 'lwv/one'");
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(store_secret_lock_with_version(st, arena,
	    ARN_PREFIX "lwv/one-AbCdEf", 1, VID_B, &sec, &ver, &has, &cur,
	    &err), STORE_FOUND);
	assert_false(has);
	assert_true(cur);
	store_rollback(st);

	/* Another label is not AWSCURRENT. */
	tl_sql(conninfo, "UPDATE version_stages SET stage = 'AWSPENDING' "
	    "WHERE stage = 'AWSCURRENT' AND secret_uuid = (SELECT uuid FROM "
	    "secrets WHERE name = 'lwv/one')");
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(store_secret_lock_with_version(st, arena, "lwv/one", 0,
	    VID_A, &sec, &ver, &has, &cur, &err), STORE_FOUND);
	assert_true(has);
	assert_false(cur);
	assert_int_equal(ver.n_stages, 1);
	assert_string_equal(ver.stages[0], "AWSPENDING");
	store_rollback(st);

	/* No such secret. */
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(store_secret_lock_with_version(st, arena, "lwv/none",
	    0, VID_A, &sec, &ver, &has, &cur, &err), STORE_NOT_FOUND);
	store_rollback(st);

	/* Lost between transactions: reopened, the three sent again. */
	tl_sql(conninfo, "SELECT pg_terminate_backend(pid) FROM "
	    "pg_stat_activity WHERE pid <> pg_backend_pid() AND "
	    "datname = current_database() AND backend_type = 'client backend'");
	assert_int_equal(store_begin(st, &err), 0);
	if (store_secret_lock_with_version(st, arena, "lwv/one", 0, VID_A,
	    &sec, &ver, &has, &cur, &err) != STORE_FOUND)
		fail_msg("after a lost connection: %s", err.msg);
	assert_true(has);
	assert_int_equal(store_commit(st, &err), 0);
	store_set_deadline(st, 0);
}

/*
 * store_secret_with_stages: DescribeSecret's secret (tags included) and
 * its labels in one statement, oldest version first, then by label; a
 * secret without labels has none, by name or ARN alike.
 */
static void
test_secret_with_stages(void **state)
{
	struct store_tag tag[1] = { { "team", "pay" } };
	struct store_stage *stages;
	struct store_secret sec;
	struct cf_error err;
	const char *uuid;
	size_t n;

	(void)state;
	fresh();
	uuid = insert("ws/one", "described");
	assert_int_equal(store_secret_with_stages(st, arena, "ws/one", 0, &sec,
	    &stages, &n, &err), STORE_FOUND);
	assert_string_equal(sec.uuid, uuid);
	assert_string_equal(sec.description, "described");
	assert_int_equal(n, 0);

	assert_int_equal(store_tags_put(st, uuid, tag, 1, &err), 0);
	assert_int_equal(insert_version(uuid, VID_B, "ct", &err), 0);
	assert_int_equal(insert_version(uuid, VID_A, "ct", &err), 0);
	tl_sql(conninfo, "UPDATE secret_versions SET created_date = "
	    "created_date - interval '1 hour' WHERE version_id = '" VID_B "'");
	assert_int_equal(store_stage_set(st, uuid, "AWSCURRENT", VID_B, 20,
	    &err), 0);
	assert_int_equal(store_stage_set(st, uuid, "AWSCURRENT", VID_A, 20,
	    &err), 0);
	assert_int_equal(store_stage_set(st, uuid, "mine", VID_A, 20, &err),
	    0);
	assert_int_equal(store_secret_with_stages(st, arena,
	    ARN_PREFIX "ws/one-AbCdEf", 1, &sec, &stages, &n, &err),
	    STORE_FOUND);
	assert_true(sec.tags_loaded);
	assert_int_equal(sec.n_tags, 1);
	assert_string_equal(sec.tags[0].value, "pay");
	assert_int_equal(n, 3);
	assert_string_equal(stages[0].version_id, VID_B);
	assert_string_equal(stages[0].stage, "AWSPREVIOUS");
	assert_string_equal(stages[1].version_id, VID_A);
	assert_string_equal(stages[1].stage, "AWSCURRENT");
	assert_string_equal(stages[2].stage, "mine");

	assert_int_equal(store_secret_with_stages(st, arena, "ws/none", 0, &sec,
	    &stages, &n, &err), STORE_NOT_FOUND);
}

/*
 * store_secret_lock_stage and store_stage_set: UpdateSecretVersionStage's
 * lookup (the label's holder and the target's state, after the lock) and
 * its change, held until the COMMIT: AWSCURRENT brings AWSPREVIOUS along,
 * a removal takes the label off, and a move past the quota fails the
 * COMMIT and keeps nothing.
 */
static void
test_lock_stage_and_set(void **state)
{
	struct store_stage_state ss;
	struct store_secret sec;
	struct cf_error err;
	const char *uuid;
	char vid[3][33];
	int i;

	(void)state;
	fresh();
	store_set_deadline(st, 10000);
	uuid = insert("stage/one", NULL);
	for (i = 0; i < 3; i++) {
		snprintf(vid[i], sizeof(vid[i]), "%c%031d", 'a' + i, 0);
		assert_int_equal(insert_version(uuid, vid[i], "ct", &err), 0);
	}
	tl_sql(conninfo, "UPDATE secret_versions SET value_type = 0 WHERE "
	    "version_id LIKE 'c%'");

	/* A secret without the label; by ARN; a version it has not. */
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(store_secret_lock_stage(st, arena,
	    ARN_PREFIX "stage/one-AbCdEf", 1, "AWSCURRENT", VID_A,
	    &sec, &ss, &err), STORE_FOUND);
	assert_string_equal(sec.uuid, uuid);
	assert_null(ss.holder);
	assert_false(ss.version_exists);
	assert_int_equal(idle_in_tx(), 1);	/* the row stays locked */

	/* AWSCURRENT onto a, held: nothing until the COMMIT. */
	store_defer_writes(st);
	assert_int_equal(store_stage_set(st, uuid, "AWSCURRENT", vid[0], 20,
	    &err), 0);
	assert_labels(uuid, "");
	assert_int_equal(store_commit(st, &err), 0);
	assert_labels(uuid, "AWSCURRENT=a");

	/* Then onto b: a gets AWSPREVIOUS. */
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(store_secret_lock_stage(st, arena, "stage/one", 0,
	    "AWSCURRENT", vid[1], &sec, &ss, &err), STORE_FOUND);
	assert_string_equal(ss.holder, vid[0]);
	assert_true(ss.version_exists);
	assert_false(ss.version_empty);
	store_defer_writes(st);
	assert_int_equal(store_stage_set(st, uuid, "AWSCURRENT", vid[1], 20,
	    &err), 0);
	assert_int_equal(store_commit(st, &err), 0);
	assert_labels(uuid, "AWSCURRENT=b AWSPREVIOUS=a");

	/* The empty version is seen as such; a custom label moves alone. */
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(store_secret_lock_stage(st, arena, "stage/one", 0,
	    "mine", vid[2], &sec, &ss, &err), STORE_FOUND);
	assert_null(ss.holder);
	assert_true(ss.version_exists);
	assert_true(ss.version_empty);
	assert_int_equal(store_stage_set(st, uuid, "mine", vid[2], 20, &err),
	    0);
	assert_int_equal(store_commit(st, &err), 0);
	assert_labels(uuid, "AWSCURRENT=b AWSPREVIOUS=a mine=c");

	/* Removed: no other label moves. */
	assert_int_equal(store_begin(st, &err), 0);
	store_defer_writes(st);
	assert_int_equal(store_stage_set(st, uuid, "AWSPREVIOUS", NULL, 20,
	    &err), 0);
	assert_int_equal(store_commit(st, &err), 0);
	assert_labels(uuid, "AWSCURRENT=b mine=c");

	/*
	 * A move that makes the labels 3 with a quota of 2 fails the COMMIT
	 * with AWS's error, and keeps nothing; a removal is never refused,
	 * and a move that only takes a label along stays within it.
	 */
	assert_int_equal(store_begin(st, &err), 0);
	store_defer_writes(st);
	assert_int_equal(store_stage_set(st, uuid, "other", vid[0], 2, &err),
	    0);
	assert_int_equal(store_commit(st, &err), -1);
	assert_int_equal(err.code, CF_ERR_LIMIT_EXCEEDED);
	assert_labels(uuid, "AWSCURRENT=b mine=c");
	assert_int_equal(idle_in_tx(), 0);
	assert_int_equal(store_begin(st, &err), 0);
	store_defer_writes(st);
	assert_int_equal(store_stage_set(st, uuid, "mine", vid[0], 2, &err), 0);
	assert_int_equal(store_commit(st, &err), 0);
	assert_labels(uuid, "AWSCURRENT=b mine=a");
	assert_int_equal(store_begin(st, &err), 0);
	store_defer_writes(st);
	assert_int_equal(store_stage_set(st, uuid, "mine", NULL, 1, &err), 0);
	assert_int_equal(store_commit(st, &err), 0);
	assert_labels(uuid, "AWSCURRENT=b");

	/* No such secret: not found, nothing locked past the rollback. */
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(store_secret_lock_stage(st, arena, "stage/none", 0,
	    "AWSCURRENT", NULL, &sec, &ss, &err), STORE_NOT_FOUND);
	store_rollback(st);
	store_set_deadline(st, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrate_idempotent),
		cmocka_unit_test(test_audit_requested_secret),
		cmocka_unit_test(test_secret_round_trip),
		cmocka_unit_test(test_update_round_trip),
		cmocka_unit_test(test_list_round_trip),
		cmocka_unit_test(test_versions_and_stages),
		cmocka_unit_test(test_tags_round_trip),
		cmocka_unit_test(test_delete_restore),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_conflicts),
		cmocka_unit_test(test_transactions),
		cmocka_unit_test(test_held_writes),
		cmocka_unit_test(test_lock_stage_and_set),
		cmocka_unit_test(test_secret_with_stages),
		cmocka_unit_test(test_lock_with_version),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
