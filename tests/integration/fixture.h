/*
 * fixture.h: an engine on a fresh database and the real SoftHSM token, and
 * small call wrappers shared by the engine integration tests.  Each test
 * program runs its tests as one group over one fixture: fx_run().
 */
#ifndef COFFER_FIXTURE_H
#define COFFER_FIXTURE_H

#include "engine_internal.h"

struct CMUnitTest;

#define KEK "coffer-test-kek"
#define KEK2 "coffer-test-kek-2"
#define TOKEN_A "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaa1"
#define TOKEN_B "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbb2"
#define TOKEN_C "cccccccc-cccc-4ccc-8ccc-ccccccccccc3"
#define TOKEN_D "dddddddd-dddd-4ddd-8ddd-ddddddddddd4"

extern const char *fx_conninfo;
extern struct hsm *fx_hsm;
extern struct engine *fx_engine;
extern struct engine_worker *fx_w;
extern struct engine_call fx_call;

/* cmocka group setup/teardown: database ${prefix}_<pid>, token, engine. */
int fx_setup(const char *prefix);
int fx_teardown(void **);

/*
 * fx_run(prefix, tests, n): run the ${n} ${tests} as one cmocka group named
 * ${prefix}, over one fixture (fx_setup(${prefix}) before, fx_teardown()
 * after); cmocka's result, the program's exit status.
 */
int fx_run(const char *prefix, const struct CMUnitTest *tests, size_t n);

/* A fresh arena for the next step; a name unique in this run. */
void fx_fresh(void);
const char *fx_unique(const char *);

struct engine_value fx_str(const char *);
void fx_create(const char *, const char *, const char *,
    struct engine_create_resp *);
int fx_put(const char *, const char *, const char *, const char *const *,
    size_t, struct engine_put_resp *, struct cf_error *);
int fx_get(const char *, const char *, const char *, struct engine_get_resp *,
    struct cf_error *);
void fx_assert_value(const struct engine_get_resp *, const char *);

/* UpdateSecretVersionStage: move ${label} from version ${rm} to ${mv}. */
int fx_stage(const char *id, const char *label, const char *rm,
    const char *mv, struct cf_error *err);

/* DeleteSecret, with RecoveryWindowInDays ${days} if ${has_days}. */
int fx_delete(const char *id, int has_days, int64_t days, int force,
    struct engine_delete_resp *resp, struct cf_error *err);

/* The labels of ${vid} in DescribeSecret, comma-joined ("" if none). */
const char *fx_labels_of(const char *, const char *);

/* The count(*) of a query. */
long fx_count(const char *sql_fmt, ...) CF_PRINTF(1, 2);

/* The number of versions the secret named ${name} has in the database. */
long fx_versions_of(const char *name);

#endif
