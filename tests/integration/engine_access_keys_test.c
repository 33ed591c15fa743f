/*
 * engine_access_keys_test.c: access keys (ops_access_key.c) against a real
 * PostgreSQL database and SoftHSM token (fixture.h): the secret opens to
 * what CreateAccessKey returned and is nowhere in the database in
 * plaintext, an envelope moved to another key does not open, inactive and
 * unknown keys are told apart from active ones, the two-key quota holds
 * when servers race for it, and bad input gets AWS's errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>

#include "fixture.h"
#include "testlib.h"

/* CreateAccessKey for ${principal} on the fixture's worker. */
static struct engine_access_key
create(const char *principal)
{
	struct engine_access_key k;
	struct cf_error err;

	if (engine_create_access_key(fx_w, &fx_call, principal, &k, &err))
		fail_msg("CreateAccessKey: %s: %s", cf_code_name(err.code),
		    err.msg);
	return (k);
}

static void
test_create_and_open(void **state)
{
	char *who = strdup(fx_unique("spiffe://test/app"));
	struct engine_access_key k, open, *list;
	struct cf_error err;
	char *id, *secret;
	size_t n, i;

	(void)state;
	fx_fresh();
	k = create(who);
	assert_int_equal(strlen(k.access_key_id), 20);
	assert_memory_equal(k.access_key_id, "CKIA", 4);
	assert_int_equal(strlen(k.secret), 40);
	assert_string_equal(k.status, "Active");
	assert_true(k.created_ms > 0);
	id = strdup(k.access_key_id);
	secret = strdup(k.secret);
	for (i = 0; i < 40; i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklm"
		    "nopqrstuvwxyz0123456789+/", secret[i]));

	/* The secret opens again, from the database, through the token. */
	fx_fresh();
	assert_int_equal(engine_access_key_open(fx_w, &fx_call, id, &open,
	    &err), ENGINE_KEY_ACTIVE);
	assert_string_equal(open.secret, secret);
	assert_string_equal(open.principal, who);

	/* Never in plaintext in the database: not in any row of any table. */
	assert_int_equal(fx_count("SELECT count(*) FROM access_keys a WHERE "
	    "position(convert_to('%s', 'UTF8') IN a.ciphertext) > 0 OR "
	    "a::text LIKE '%%%s%%'", secret, secret), 0);
	assert_int_equal(fx_count("SELECT count(*) FROM audit_events e WHERE "
	    "e::text LIKE '%%%s%%'", secret), 0);

	/* Listed without its secret. */
	fx_fresh();
	assert_int_equal(engine_list_access_keys(fx_w, &fx_call, who, &list,
	    &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].access_key_id, id);
	assert_null(list[0].secret);
	free(id);
	free(secret);
	free(who);
}

static void
test_inactive_unknown_and_moved(void **state)
{
	char *who = strdup(fx_unique("spiffe://test/mover"));
	struct engine_access_key a, b, open;
	struct cf_error err;
	char *ida, *idb, sql[512];

	(void)state;
	fx_fresh();
	a = create(who);
	ida = strdup(a.access_key_id);
	b = create(who);
	idb = strdup(b.access_key_id);

	/* Inactive: known, but no secret is handed out. */
	fx_fresh();
	assert_int_equal(engine_update_access_key(fx_w, &fx_call, ida,
	    "Inactive", &err), 0);
	assert_int_equal(engine_access_key_open(fx_w, &fx_call, ida, &open,
	    &err), ENGINE_KEY_INACTIVE);
	assert_null(open.secret);
	assert_int_equal(engine_update_access_key(fx_w, &fx_call, ida,
	    "Active", &err), 0);
	assert_int_equal(engine_access_key_open(fx_w, &fx_call, ida, &open,
	    &err), ENGINE_KEY_ACTIVE);

	/* Unknown, and not even a key's form. */
	assert_int_equal(engine_access_key_open(fx_w, &fx_call,
	    "CKIAAAAAAAAAAAAAAAAA", &open, &err), ENGINE_KEY_UNKNOWN);
	assert_int_equal(engine_access_key_open(fx_w, &fx_call, "ckia'--",
	    &open, &err), ENGINE_KEY_UNKNOWN);

	/*
	 * Someone with the database's password copies key A's envelope over
	 * key B's: it is bound to A's id, so B no longer opens.
	 */
	snprintf(sql, sizeof(sql), "UPDATE access_keys b SET iv = a.iv, "
	    "wrapped_dek = a.wrapped_dek, ciphertext = a.ciphertext FROM "
	    "access_keys a WHERE a.access_key_id = '%s' AND b.access_key_id = "
	    "'%s'", ida, idb);
	tl_sql(fx_conninfo, sql);
	fx_fresh();
	assert_int_equal(engine_access_key_open(fx_w, &fx_call, idb, &open,
	    &err), ENGINE_KEY_ERROR);
	assert_int_equal(err.code, CF_ERR_DECRYPTION_FAILURE);

	/* Deleted: unknown. */
	assert_int_equal(engine_delete_access_key(fx_w, &fx_call, idb, &err),
	    0);
	assert_int_equal(engine_access_key_open(fx_w, &fx_call, idb, &open,
	    &err), ENGINE_KEY_UNKNOWN);
	assert_int_equal(engine_delete_access_key(fx_w, &fx_call, idb, &err),
	    -1);
	assert_int_equal(err.code, CF_ERR_RESOURCE_NOT_FOUND);
	free(ida);
	free(idb);
	free(who);
}

static void
test_errors(void **state)
{
	struct engine_access_key k;
	struct cf_error err;
	char *who = strdup(fx_unique("spiffe://test/limit"));

	(void)state;
	fx_fresh();
	(void)create(who);
	(void)create(who);
	assert_int_equal(engine_create_access_key(fx_w, &fx_call, who, &k,
	    &err), -1);
	assert_int_equal(err.code, CF_ERR_LIMIT_EXCEEDED);
	assert_string_equal(err.msg, "Cannot exceed quota for "
	    "AccessKeysPerUser: 2");
	assert_int_equal(fx_count("SELECT count(*) FROM access_keys WHERE principal "
	    "= '%s'", who), 2);

	assert_int_equal(engine_create_access_key(fx_w, &fx_call, "", &k,
	    &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);
	assert_int_equal(engine_create_access_key(fx_w, &fx_call, "a\nb", &k,
	    &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);
	assert_int_equal(engine_update_access_key(fx_w, &fx_call,
	    "CKIAAAAAAAAAAAAAAAAA", "Sleeping", &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);
	assert_int_equal(engine_update_access_key(fx_w, &fx_call,
	    "CKIAAAAAAAAAAAAAAAAA", "Inactive", &err), -1);
	assert_int_equal(err.code, CF_ERR_RESOURCE_NOT_FOUND);
	assert_int_equal(engine_update_access_key(fx_w, &fx_call, NULL,
	    "Inactive", &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);
	assert_string_equal(err.msg, "1 validation error detected: Value null "
	    "at 'accessKeyId' failed to satisfy constraint: Member must not be "
	    "null");
	assert_int_equal(engine_delete_access_key(fx_w, &fx_call, "ckia0000"
	    "00000000000000", &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);

	/* Without a principal: the caller's own keys. */
	fx_fresh();
	k = create(NULL);
	assert_string_equal(k.principal, fx_call.principal);
	free(who);
}

/* Eight workers (eight connections) race to create keys for one principal. */
struct racer {
	struct engine_worker *w;
	const char *who;
	int ok;
};

static void *
race(void *arg)
{
	struct racer *r = arg;
	struct engine_call call = fx_call;
	struct engine_access_key k;
	struct cf_error err;

	call.arena = cf_arena_new();
	r->ok = engine_create_access_key(r->w, &call, r->who, &k, &err) == 0;
	if (!r->ok && err.code != CF_ERR_LIMIT_EXCEEDED)
		fprintf(stderr, "race: %s\n", err.msg);
	cf_arena_free(call.arena);
	return (NULL);
}

static void
test_quota_race(void **state)
{
	struct racer r[8];
	pthread_t t[8];
	struct cf_error err;
	char *who = strdup(fx_unique("spiffe://test/race"));
	int i, ok = 0;

	(void)state;
	for (i = 0; i < 8; i++) {
		r[i].who = who;
		assert_non_null(r[i].w = engine_worker_new(fx_engine, &err));
	}
	for (i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	for (i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		ok += r[i].ok;
		engine_worker_free(r[i].w);
	}
	assert_int_equal(ok, 2);
	assert_int_equal(fx_count("SELECT count(*) FROM access_keys WHERE principal "
	    "= '%s'", who), 2);
	free(who);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_and_open),
		cmocka_unit_test(test_inactive_unknown_and_moved),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_quota_race),
	};

	return (fx_run("access_keys", tests, sizeof(tests) /
	    sizeof(tests[0])));
}
