/*
 * engine_delete_test.c: DeleteSecret, RestoreSecret and the purge: recovery
 * windows, what a scheduled deletion refuses, force, and two servers purging
 * at once.  Against a real PostgreSQL database and SoftHSM token
 * (fixture.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>

#include <cmocka.h>

#include "fixture.h"
#include "testlib.h"

struct purger {
	int purged;
	int failed;
};

static void *
purge_thread(void *arg)
{
	struct purger *p = arg;
	struct engine_worker *w;
	struct cf_error err;
	int n;

	if ((w = engine_worker_new(fx_engine, &err)) == NULL) {
		p->failed = 1;
		return (NULL);
	}
	do {
		if (engine_purge_due(w, NULL, 3, &n, &err)) {
			p->failed = 1;
			break;
		}
		p->purged += n;
	} while (n > 0);
	engine_worker_free(w);
	return (NULL);
}

static void
test_delete_restore_purge(void **state)
{
	struct engine_create_resp c;
	struct engine_delete_resp d;
	struct engine_secret_meta m;
	struct engine_get_resp g;
	struct engine_put_resp p;
	struct engine_list_req lr = { 0 };
	struct engine_list_resp l;
	struct cf_error err;
	const char *name, *arn, *nm;
	int64_t before = cf_now_ms();
	size_t i;
	int found, purged;

	(void)state;
	fx_fresh();
	name = fx_unique("delete");
	fx_create(name, TOKEN_A, "v", &c);

	/* Parameter rules. */
	assert_int_equal(fx_delete(name, 1, 7, 1, &d, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	assert_int_equal(fx_delete(name, 1, 6, 0, &d, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	assert_int_equal(fx_delete(name, 1, 31, 0, &d, &err), -1);

	/* Scheduled (default 30 days): describe works, values do not. */
	assert_int_equal(fx_delete(name, 0, 0, 0, &d, &err), 0);
	assert_string_equal(d.arn, c.arn);
	assert_true(d.deletion_date >= before + 30LL * 86400000 - 1000);
	assert_true(d.deletion_date <= cf_now_ms() + 30LL * 86400000 + 1000);
	assert_int_equal(engine_describe_secret(fx_w, &fx_call, name, &m,
	    &err), 0);
	assert_true(m.deleted_date == d.deletion_date);
	assert_int_equal(fx_get(name, NULL, NULL, &g, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_REQUEST);
	assert_int_equal(fx_put(name, TOKEN_B, "v2", NULL, 0, &p, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_REQUEST);
	assert_int_equal(fx_delete(name, 1, 7, 0, &d, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_REQUEST);
	/* Creating the name again is refused as AWS refuses it. */
	{
		struct engine_create_req req = { 0 };

		req.name = name;
		req.client_request_token = TOKEN_D;
		assert_int_equal(engine_create_secret(fx_w, &fx_call, &req, &c,
		    &err), -1);
		assert_int_equal(err.code, CF_ERR_INVALID_REQUEST);
		assert_non_null(strstr(err.msg, "scheduled for deletion"));
	}
	/* Listed only with IncludePlannedDeletion. */
	for (lr.include_planned_deletion = 0; lr.include_planned_deletion < 2;
	    lr.include_planned_deletion++) {
		const char *vals[1] = { name };
		struct engine_filter f = { "name", vals, 1 };

		lr.filters = &f;
		lr.n_filters = 1;
		assert_int_equal(engine_list_secrets(fx_w, &fx_call, &lr, &l,
		    &err), 0);
		for (i = 0, found = 0; i < l.n_secrets; i++)
			found |= strcmp(l.secrets[i].name, name) == 0;
		assert_int_equal(found, lr.include_planned_deletion);
	}

	/* Restore: usable again. */
	assert_int_equal(engine_restore_secret(fx_w, &fx_call, name, &arn, &nm,
	    &err), 0);
	assert_int_equal(fx_get(name, NULL, NULL, &g, &err), 0);
	assert_int_equal(engine_describe_secret(fx_w, &fx_call, name, &m,
	    &err), 0);
	assert_int_equal(m.deleted_date, 0);

	/* The purge removes what is due, wrapped keys and all. */
	assert_int_equal(fx_delete(name, 1, 7, 0, &d, &err), 0);
	assert_int_equal(engine_purge_due(fx_w, NULL, 100, &purged, &err), 0);
	assert_int_equal(fx_count("SELECT count(*) FROM secrets WHERE name = "
	    "'%s'", name), 1);
	tl_sql(fx_conninfo, "UPDATE secrets SET purge_after = now() - "
	    "interval '1 second' WHERE deleted_date IS NOT NULL");
	assert_int_equal(engine_purge_due(fx_w, NULL, 100, &purged, &err), 0);
	assert_true(purged >= 1);
	assert_int_equal(fx_count("SELECT count(*) FROM secrets WHERE name = "
	    "'%s'", name), 0);
	assert_int_equal(fx_count("SELECT count(*) FROM secret_versions WHERE "
	    "secret_uuid NOT IN (SELECT uuid FROM secrets)"), 0);
	assert_int_equal(engine_restore_secret(fx_w, &fx_call, name, &arn, &nm,
	    &err), -1);
	assert_int_equal(err.code, CF_ERR_RESOURCE_NOT_FOUND);

	/* Force: gone at once; force on a missing secret succeeds. */
	fx_fresh();
	name = fx_unique("force");
	fx_create(name, TOKEN_A, "v", &c);
	assert_int_equal(fx_delete(name, 0, 0, 1, &d, &err), 0);
	assert_int_equal(fx_count("SELECT count(*) FROM secrets WHERE name = "
	    "'%s'", name), 0);
	assert_int_equal(fx_delete(name, 0, 0, 1, &d, &err), 0);
	assert_string_equal(d.name, name);
	assert_int_equal(fx_delete(name, 0, 0, 0, &d, &err), -1);
	assert_int_equal(err.code, CF_ERR_RESOURCE_NOT_FOUND);
	/* The name is free again, with a new ARN suffix. */
	{
		struct engine_create_resp c2;

		fx_create(name, TOKEN_A, "again", &c2);
		assert_string_not_equal(c2.arn, c.arn);
	}
}

/* Two "servers" purge at once: every due secret goes exactly once. */
static void
test_concurrent_purge(void **state)
{
	struct engine_create_resp c;
	struct engine_delete_resp d;
	struct purger p[2] = { { 0, 0 }, { 0, 0 } };
	struct cf_error err;
	pthread_t t[2];
	char name[64];
	int i;

	(void)state;
	fx_fresh();
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "purge-race-%d-%d", (int)getpid(), i);
		fx_create(name, TOKEN_A, "v", &c);
		assert_int_equal(fx_delete(name, 1, 7, 0, &d, &err), 0);
	}
	tl_sql(fx_conninfo, "UPDATE secrets SET purge_after = now() - "
	    "interval '1 s' WHERE name LIKE 'purge-race-%'");
	for (i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, purge_thread, &p[i]);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(p[0].failed + p[1].failed, 0);
	assert_int_equal(p[0].purged + p[1].purged, 40);
	assert_int_equal(fx_count("SELECT count(*) FROM secrets WHERE name "
	    "LIKE 'purge-race-%%'"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delete_restore_purge),
		cmocka_unit_test(test_concurrent_purge),
	};

	return (fx_run("engine_delete", tests,
	    sizeof(tests) / sizeof(tests[0])));
}
