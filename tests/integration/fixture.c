/*
 * fixture.c: the engine fixture shared by the engine integration tests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "testlib.h"

const char *fx_conninfo;
struct hsm *fx_hsm;
struct engine *fx_engine;
struct engine_worker *fx_w;
struct engine_call fx_call;
static int serial;
static const char *group_prefix;

void
fx_fresh(void)
{

	cf_arena_free(fx_call.arena);
	fx_call.arena = cf_arena_new();
	assert_non_null(fx_call.arena);
}

const char *
fx_unique(const char *base)
{
	char *s = cf_arena_alloc(fx_call.arena, 128);

	assert_non_null(s);
	snprintf(s, 128, "%s-%d-%d", base, (int)getpid(), ++serial);
	return (s);
}

int
fx_setup(const char *prefix)
{
	struct hsm_config hc = { 0 };
	struct engine_config ec = { 0 };
	struct cf_secret *pin = tl_pin();
	struct cf_error err = { 0 };

	fx_conninfo = strdup(tl_fresh_database(prefix));
	hc.module_path = tl_env("COFFER_TEST_MODULE");
	hc.token_label = tl_env("COFFER_TEST_TOKEN");
	hc.pin = (const char *)pin->data;
	hc.kek_label = KEK;
	if (hsm_create_kek(&hc, KEK, &err) == HSM_MADE_ERROR ||
	    hsm_create_kek(&hc, KEK2, &err) == HSM_MADE_ERROR ||
	    (fx_hsm = hsm_new(&hc, &err)) == NULL) {
		fprintf(stderr, "hsm: %s\n", err.msg);
		cf_secret_free(pin);
		return (-1);
	}
	cf_secret_free(pin);
	ec.pg_conninfo = fx_conninfo;
	ec.hsm = fx_hsm;
	ec.default_kek_label = KEK;
	ec.admin_principal = "test";	/* authorized as the bootstrap admin */
	if ((fx_engine = engine_new(&ec, &err)) == NULL ||
	    (fx_w = engine_worker_new(fx_engine, &err)) == NULL) {
		fprintf(stderr, "engine: %s\n", err.msg);
		return (-1);
	}
	fx_call.principal = "test";
	fx_call.action = "coffer:EngineTest";	/* the admin may do anything */
	fx_call.peer = "local";
	fx_call.request_id = "r";
	fx_call.arena = cf_arena_new();
	return (0);
}

int
fx_teardown(void **state)
{

	(void)state;
	cf_arena_free(fx_call.arena);
	engine_worker_free(fx_w);
	engine_free(fx_engine);
	hsm_free(fx_hsm);
	free((char *)(uintptr_t)fx_conninfo);
	return (0);
}

static int
group_setup(void **state)
{

	(void)state;
	return (fx_setup(group_prefix));
}

int
fx_run(const char *prefix, const struct CMUnitTest *tests, size_t n)
{

	group_prefix = prefix;
	return (_cmocka_run_group_tests(prefix, tests, n, group_setup,
	    fx_teardown));
}

struct engine_value
fx_str(const char *s)
{
	struct engine_value v = { 1, 0, (const uint8_t *)s, strlen(s), 0 };

	return (v);
}

void
fx_create(const char *name, const char *token, const char *value,
    struct engine_create_resp *resp)
{
	struct engine_create_req req = { 0 };
	struct cf_error err = { 0 };

	req.name = name;
	req.client_request_token = token;
	if (value)
		req.value = fx_str(value);
	if (engine_create_secret(fx_w, &fx_call, &req, resp, &err))
		fail_msg("create %s: %s", name, err.msg);
}

int
fx_put(const char *id, const char *token, const char *value,
    const char *const *stages, size_t n, struct engine_put_resp *resp,
    struct cf_error *err)
{
	struct engine_put_req req = { 0 };

	req.secret_id = id;
	req.client_request_token = token;
	req.value = fx_str(value);
	req.version_stages = stages;
	req.n_version_stages = n;
	return (engine_put_secret_value(fx_w, &fx_call, &req, resp, err));
}

int
fx_get(const char *id, const char *vid, const char *stage,
    struct engine_get_resp *resp, struct cf_error *err)
{
	struct engine_get_req req = { id, vid, stage };

	return (engine_get_secret_value(fx_w, &fx_call, &req, resp, err));
}

void
fx_assert_value(const struct engine_get_resp *r, const char *want)
{

	assert_int_equal(r->value.len, strlen(want));
	assert_memory_equal(r->value.data, want, strlen(want));
}

int
fx_stage(const char *id, const char *label, const char *rm, const char *mv,
    struct cf_error *err)
{
	struct engine_stage_req req = { id, label, rm, mv };
	const char *arn, *name;

	return (engine_update_secret_version_stage(fx_w, &fx_call, &req, &arn,
	    &name, err));
}

int
fx_delete(const char *id, int has_days, int64_t days, int force,
    struct engine_delete_resp *resp, struct cf_error *err)
{
	struct engine_delete_req req = { id, has_days, days, force };

	return (engine_delete_secret(fx_w, &fx_call, &req, resp, err));
}

const char *
fx_labels_of(const char *id, const char *vid)
{
	struct engine_secret_meta m;
	struct cf_error err;
	static char buf[512];
	size_t i, j;

	assert_int_equal(engine_describe_secret(fx_w, &fx_call, id, &m, &err),
	    0);
	buf[0] = '\0';
	for (i = 0; i < m.n_versions; i++) {
		if (strcmp(m.versions[i].version_id, vid) != 0)
			continue;
		for (j = 0; j < m.versions[i].n_stages; j++) {
			strcat(buf, j ? "," : "");
			strcat(buf, m.versions[i].stages[j]);
		}
	}
	return (buf);
}

long
fx_count(const char *fmt, ...)
{
	char sql[2048], *v;
	va_list ap;
	long n;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	v = tl_sql_value(fx_conninfo, sql);
	n = v ? atol(v) : -1;
	free(v);
	return (n);
}

long
fx_versions_of(const char *name)
{

	return (fx_count("SELECT count(*) FROM secret_versions v JOIN "
	    "secrets s ON s.uuid = v.secret_uuid WHERE s.name = '%s'", name));
}
