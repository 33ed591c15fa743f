/*
 * engine_migrations_test.c: the migrations on a fresh database: applied
 * again, nothing changes; two servers migrating one empty database at once
 * apply each exactly once.  Against a real PostgreSQL database and SoftHSM
 * token (fixture.h).
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

/* The migrations in migrations/, in order, and how many. */
#define MIGRATIONS "0001_initial,0002_list_indexes,0003_server_keys," \
	"0004_audit,0005_policies,0006_rotation,0007_rotation_principal," \
	"0008_audit_request_params,0009_live_flag,0010_list_words," \
	"0011_tags_present,0012_access_keys,0013_audit_transport," \
	"0014_kek_versions,0015_key_deletion,0016_audit_key_versions," \
	"0017_audit_key_escrow,0018_audit_hmac_per_batch,0019_label_limit," \
	"0020_audit_requested_plpgsql,0021_tag_limit,0022_put_basis"
#define N_MIGRATIONS 22

struct migrate_arg {
	const char *conninfo;
	int rc;
	int applied;
};

static void *
migrate_thread(void *p)
{
	struct migrate_arg *a = p;
	struct cf_error err;

	a->rc = store_migrate(a->conninfo, &a->applied, &err);
	return (NULL);
}

static void
test_migrations_idempotent(void **state)
{
	struct cf_error err;
	char *n;
	int applied = -1;

	(void)state;
	/* engine_new applied them all; again applies nothing. */
	assert_int_equal(store_migrate(fx_conninfo, &applied, &err), 0);
	assert_int_equal(applied, 0);
	n = tl_sql_value(fx_conninfo, "SELECT string_agg(version, ',' ORDER BY "
	    "version) FROM schema_migrations");
	assert_string_equal(n, MIGRATIONS);
	free(n);
}

static void
test_migrations_concurrent(void **state)
{
	struct migrate_arg a[2];
	pthread_t t[2];
	char *applied;
	const char *db;
	int i;

	(void)state;
	/* Two "servers" migrate one empty database at the same moment. */
	db = tl_fresh_database("migrate_race");
	for (i = 0; i < 2; i++) {
		a[i].conninfo = db;
		pthread_create(&t[i], NULL, migrate_thread, &a[i]);
	}
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	/* Between them they applied each migration exactly once. */
	assert_int_equal(a[0].rc, 0);
	assert_int_equal(a[1].rc, 0);
	applied = tl_sql_value(db, "SELECT count(*) FROM schema_migrations");
	assert_int_equal(a[0].applied + a[1].applied, atoi(applied));
	assert_int_equal(atoi(applied), N_MIGRATIONS);
	free(applied);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrations_idempotent),
		cmocka_unit_test(test_migrations_concurrent),
	};

	return (fx_run("engine_migrations", tests,
	    sizeof(tests) / sizeof(tests[0])));
}
