/*
 * hsm_test.c: the envelope scheme against a real SoftHSM token.
 *
 * Round trips at the size limits; every tampered part of an envelope
 * (ciphertext, tag, IV, wrapped key, AAD binding, KEK label) fails with
 * DecryptionFailure; start-up failures (wrong PIN, missing token, missing
 * module, missing KEK) say what is wrong; sessions work from two threads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>

#include <cmocka.h>

#include "hsm.h"
#include "testlib.h"

#define KEK_A "hsm-test-kek-a"
#define KEK_B "hsm-test-kek-b"

static struct cf_secret *pin;
static struct hsm *h;
static struct hsm_session *s;
static const struct hsm_binding bind = {
	"1b4e28ba-2fa1-4d2e-883f-0016d3cca427",
	"aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaa1"
};

static struct hsm_config
config(const char *kek)
{
	struct hsm_config c;

	memset(&c, 0, sizeof(c));	/* the DEK cache on, as by default */
	c.module_path = tl_env("COFFER_TEST_MODULE");
	c.token_label = tl_env("COFFER_TEST_TOKEN");
	c.pin = (const char *)pin->data;
	c.kek_label = kek;
	return (c);
}

static int
setup(void **state)
{
	struct hsm_config c;
	struct cf_error err = { 0 };

	(void)state;
	pin = tl_pin();
	c = config(KEK_A);
	if (hsm_create_kek(&c, KEK_A, &err) == HSM_MADE_ERROR ||
	    hsm_create_kek(&c, KEK_B, &err) == HSM_MADE_ERROR ||
	    (h = hsm_new(&c, &err)) == NULL ||
	    (s = hsm_session_new(h, &err)) == NULL) {
		fprintf(stderr, "%s\n", err.msg);
		return (-1);
	}
	return (0);
}

static int
teardown(void **state)
{

	(void)state;
	hsm_session_free(s);
	hsm_free(h);
	cf_secret_free(pin);
	return (0);
}

static void
seal(const char *kek, const uint8_t *pt, size_t n, struct hsm_envelope *env)
{
	struct cf_error err = { 0 };

	if (hsm_seal(s, kek, &bind, pt, n, env, &err))
		fail_msg("seal: %s", err.msg);
}

/* Open ${env} with ${b}; expect failure with ${code} (CF_OK: success). */
static void
expect_open(const struct hsm_envelope *env, const struct hsm_binding *b,
    enum cf_code code)
{
	struct cf_secret *pt = NULL;
	struct cf_error err = { 0 };
	int rc;

	rc = hsm_open(s, env, b, &pt, &err);
	if (code == CF_OK) {
		assert_int_equal(rc, 0);
		cf_secret_free(pt);
		return;
	}
	assert_int_equal(rc, -1);
	assert_null(pt);
	assert_int_equal(err.code, code);
	assert_non_null(strstr(err.msg, "could not decrypt") != NULL ?
	    err.msg : NULL);
}

static void
test_create_kek_is_idempotent(void **state)
{
	struct hsm_config c = config(KEK_A);
	struct cf_error err;

	(void)state;
	assert_int_equal(hsm_create_kek(&c, KEK_A, &err), HSM_EXISTED);
	assert_int_equal(hsm_kek_exists(s, KEK_A), HSM_FOUND);
	assert_int_equal(hsm_kek_exists(s, "hsm-test-no-such-kek"),
	    HSM_NOT_FOUND);
}

static void
test_round_trips(void **state)
{
	static uint8_t big[65536];
	struct hsm_envelope env;
	struct cf_secret *pt;
	struct cf_error err;
	size_t sizes[] = { 1, 16, 1000, 65536 }, i;

	(void)state;
	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 31 + 7);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		seal(NULL, big, sizes[i], &env);
		assert_int_equal(env.format, HSM_FORMAT_V1);
		assert_string_equal(env.kek_label, KEK_A);
		assert_int_equal(env.ciphertext_len, sizes[i] + HSM_TAG_LEN);
		assert_int_equal(env.wrapped_dek_len, 40);
		/* The ciphertext is not the plaintext. */
		assert_true(sizes[i] < 16 ||
		    memcmp(env.ciphertext, big, sizes[i]) != 0);
		assert_int_equal(hsm_open(s, &env, &bind, &pt, &err), 0);
		assert_int_equal(pt->len, sizes[i]);
		assert_memory_equal(pt->data, big, sizes[i]);
		cf_secret_free(pt);
		hsm_envelope_cleanup(&env);
	}
}

static void
test_fresh_key_and_iv_each_time(void **state)
{
	struct hsm_envelope a, b;

	(void)state;
	seal(NULL, (const uint8_t *)"same value", 10, &a);
	seal(NULL, (const uint8_t *)"same value", 10, &b);
	assert_memory_not_equal(a.iv, b.iv, HSM_IV_LEN);
	assert_memory_not_equal(a.wrapped_dek, b.wrapped_dek, a.wrapped_dek_len);
	assert_memory_not_equal(a.ciphertext, b.ciphertext, a.ciphertext_len);
	hsm_envelope_cleanup(&a);
	hsm_envelope_cleanup(&b);
}

/* ${n} envelopes, the j-th sealing the bytes of j (a size_t). */
static struct hsm_envelope *
sealed_n(size_t n)
{
	struct hsm_envelope *envs;
	size_t j;

	assert_non_null(envs = calloc(n, sizeof(*envs)));
	for (j = 0; j < n; j++)
		seal(NULL, (const uint8_t *)&j, sizeof(j), &envs[j]);
	return (envs);
}

static void
sealed_free(struct hsm_envelope *envs, size_t n)
{
	size_t j;

	for (j = 0; j < n; j++)
		hsm_envelope_cleanup(&envs[j]);
	free(envs);
}

/* Open each of ${n} envelopes once in ${sess}. */
static void
open_all(struct hsm_session *sess, struct hsm_envelope *envs, size_t n)
{
	struct cf_secret *pt;
	struct cf_error err;
	size_t i;

	for (i = 0; i < n; i++) {
		if (hsm_open(sess, &envs[i], &bind, &pt, &err))
			fail_msg("open: %s", err.msg);
		cf_secret_free(pt);
	}
}

/*
 * The DEK handle cache: a second open of a version unwraps nothing, many
 * versions (more than the cache holds, so slots are reused) all open to
 * their own value, and a cached key that meets a tampered ciphertext is
 * dropped, not trusted.
 */
static void
test_dek_cache(void **state)
{
	static struct hsm_envelope envs[3000];
	struct cf_secret *pt;
	struct cf_error err;
	uint64_t hits0, misses0, hits, misses;
	uint8_t v[8];
	size_t i, round;

	(void)state;
	for (i = 0; i < 3000; i++) {
		memcpy(v, &i, sizeof(v));
		seal(NULL, v, sizeof(v), &envs[i]);
	}
	hsm_dek_cache_stats(s, &hits0, &misses0);
	for (round = 0; round < 2; round++)
		for (i = 0; i < 3000; i++) {
			assert_int_equal(hsm_open(s, &envs[i], &bind, &pt,
			    &err), 0);
			memcpy(v, &i, sizeof(v));
			assert_memory_equal(pt->data, v, sizeof(v));
			cf_secret_free(pt);
		}
	hsm_dek_cache_stats(s, &hits, &misses);
	/*
	 * Every key unwrapped once at least, every open counted.  Passes in
	 * order over more keys than the cache holds evict each key before
	 * its turn comes again (least recently used goes), but the last
	 * 1,000 opened are still there.
	 */
	assert_true(misses - misses0 >= 3000);
	assert_int_equal((hits - hits0) + (misses - misses0), 6000);
	hsm_dek_cache_stats(s, &hits0, &misses0);
	open_all(s, envs + 2000, 1000);
	hsm_dek_cache_stats(s, &hits, &misses);
	assert_int_equal(hits - hits0, 1000);

	/* Back to back: the second open is a hit. */
	expect_open(&envs[7], &bind, CF_OK);
	hsm_dek_cache_stats(s, &hits0, &misses0);
	expect_open(&envs[7], &bind, CF_OK);
	hsm_dek_cache_stats(s, &hits, &misses);
	assert_int_equal(hits, hits0 + 1);
	assert_int_equal(misses, misses0);

	/* A tampered ciphertext fails with the cached key, which goes. */
	envs[7].ciphertext[0] ^= 1;
	expect_open(&envs[7], &bind, CF_ERR_DECRYPTION_FAILURE);
	envs[7].ciphertext[0] ^= 1;
	hsm_dek_cache_stats(s, &hits0, &misses0);
	expect_open(&envs[7], &bind, CF_OK);
	hsm_dek_cache_stats(s, &hits, &misses);
	assert_int_equal(misses, misses0 + 1);
	for (i = 0; i < 3000; i++)
		hsm_envelope_cleanup(&envs[i]);
}

/*
 * One DEK cache for the process: a key unwrapped in one session is a hit
 * in another; a session that closes takes its entries with it and the
 * others still open those versions; and threads that share the same hot
 * versions, with sessions closing and opening under them, read every value
 * right.
 */
static struct hsm_envelope shared_envs[400];

static void *
shared_reader(void *arg)
{
	struct hsm_session *mine;
	struct cf_secret *pt;
	struct cf_error err;
	uint8_t v[8];
	int *failures = arg;
	size_t i, round;

	for (round = 0; round < 6; round++) {
		/* A new session each round: its keys leave with it. */
		if ((mine = hsm_session_new(h, &err)) == NULL) {
			(*failures)++;
			return (NULL);
		}
		for (i = 0; i < 400; i++) {
			if (hsm_open(mine, &shared_envs[(i * 7 + round) % 400],
			    &bind, &pt, &err)) {
				(*failures)++;
				continue;
			}
			memcpy(v, &(size_t){ (i * 7 + round) % 400 }, sizeof(v));
			if (pt->len != sizeof(v) || memcmp(pt->data, v,
			    sizeof(v)) != 0)
				(*failures)++;
			cf_secret_free(pt);
		}
		hsm_session_free(mine);
	}
	return (NULL);
}

static void
test_dek_cache_shared(void **state)
{
	struct hsm_session *other;
	struct hsm_envelope env;
	struct cf_secret *pt;
	struct cf_error err;
	uint64_t hits0, misses0, hits, misses;
	pthread_t t[4];
	int failures[4] = { 0 }, i;
	size_t j;

	(void)state;
	/* Unwrapped in another session, a hit in ours. */
	seal(NULL, (const uint8_t *)"shared", 6, &env);
	assert_non_null(other = hsm_session_new(h, &err));
	hsm_dek_cache_stats(other, &hits0, &misses0);
	assert_int_equal(hsm_open(other, &env, &bind, &pt, &err), 0);
	cf_secret_free(pt);
	hsm_dek_cache_stats(other, &hits, &misses);
	assert_int_equal(misses, misses0 + 1);
	hsm_dek_cache_stats(s, &hits0, &misses0);
	expect_open(&env, &bind, CF_OK);
	hsm_dek_cache_stats(s, &hits, &misses);
	assert_int_equal(hits, hits0 + 1);
	assert_int_equal(misses, misses0);

	/* The owner closes: its entry goes, and ours unwraps anew. */
	hsm_session_free(other);
	hsm_dek_cache_stats(s, &hits0, &misses0);
	expect_open(&env, &bind, CF_OK);
	hsm_dek_cache_stats(s, &hits, &misses);
	assert_int_equal(misses, misses0 + 1);
	expect_open(&env, &bind, CF_OK);
	hsm_dek_cache_stats(s, &hits0, &misses0);
	assert_int_equal(hits0, hits + 1);
	hsm_envelope_cleanup(&env);

	/* Four threads on the same 400 versions, sessions coming and going. */
	for (j = 0; j < 400; j++)
		seal(NULL, (const uint8_t *)&j, sizeof(j), &shared_envs[j]);
	for (i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, shared_reader, &failures[i]);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(failures[0] + failures[1] + failures[2] +
	    failures[3], 0);
	for (j = 0; j < 400; j++)
		hsm_envelope_cleanup(&shared_envs[j]);

	/*
	 * Sessions closing under readers refuse their keys to those readers:
	 * that must not be taken for a token that keeps sessions' objects
	 * apart (the cache would then switch to private entries for good, as
	 * it once did in CI).  A key unwrapped in another session is still a
	 * hit in ours.
	 */
	seal(NULL, (const uint8_t *)"still shared", 12, &env);
	assert_non_null(other = hsm_session_new(h, &err));
	assert_int_equal(hsm_open(other, &env, &bind, &pt, &err), 0);
	cf_secret_free(pt);
	hsm_dek_cache_stats(s, &hits0, &misses0);
	expect_open(&env, &bind, CF_OK);
	hsm_dek_cache_stats(s, &hits, &misses);
	assert_int_equal(hits, hits0 + 1);
	hsm_session_free(other);
	hsm_envelope_cleanup(&env);
}

/*
 * A session that filled the cache and then sits idle (a long-call worker
 * after a BatchGetSecretValue run) must not keep the others' keys out: the
 * session that evicts its entries destroys them.  When eviction was left
 * to the owner, its doomed list filled after 64 evictions and every later
 * key was refused: a second pass over 500 versions found only some 64 of
 * them, and cofferd unwrapped on every read (bench/run --soak 10 grew
 * from 55 to 263 MiB, SoftHSM keeping memory for every object it made).
 */
static void
test_dek_cache_idle_owner(void **state)
{
	enum { FILL = 4096, MINE = 500 };
	struct hsm_envelope *envs;
	struct hsm_session *reader;
	struct cf_error err;
	uint64_t hits0, misses0, hits, misses;

	(void)state;
	envs = sealed_n(FILL + MINE);
	/*
	 * Twice the cache's 2,048 entries through the fixture's session: every
	 * way ends up its own (other sessions of earlier tests are closed, and
	 * their entries went with them).  Then it sits idle.
	 */
	open_all(s, envs, FILL);

	/* Another session evicts its entries, then finds its own again. */
	assert_non_null(reader = hsm_session_new(h, &err));
	open_all(reader, envs + FILL, MINE);
	hsm_dek_cache_stats(reader, &hits0, &misses0);
	open_all(reader, envs + FILL, MINE);
	hsm_dek_cache_stats(reader, &hits, &misses);
	assert_in_range(hits - hits0, MINE - 10, MINE);

	hsm_session_free(reader);
	sealed_free(envs, FILL + MINE);
}

/*
 * A working set three quarters the size of the cache is held whole: after
 * a pass over colder keys that fills every way, the hot keys' first pass
 * unwraps each once and their second unwraps none.  Each unwrap is a
 * session object SoftHSM never frees: with one set per key (256 sets of 8)
 * the second pass over 1,536 keys missed for good, and 1,000 hot versions
 * grew cofferd by 0.5-1.3 MiB a minute (hsm_dek.c, "Placement").
 */
static void
test_dek_cache_working_set(void **state)
{
	enum { COLD = 2048, HOT = 1536 };
	struct hsm_envelope *envs;
	uint64_t hits0, misses0, hits, misses;

	(void)state;
	envs = sealed_n(COLD + HOT);
	open_all(s, envs, COLD);
	hsm_dek_cache_stats(s, &hits0, &misses0);
	open_all(s, envs + COLD, HOT);
	hsm_dek_cache_stats(s, &hits, &misses);
	assert_int_equal(misses - misses0, HOT);
	hsm_dek_cache_stats(s, &hits0, &misses0);
	open_all(s, envs + COLD, HOT);
	hsm_dek_cache_stats(s, &hits, &misses);
	assert_int_equal(misses - misses0, 0);
	assert_int_equal(hits - hits0, HOT);
	sealed_free(envs, COLD + HOT);
}

static void
test_tampering_fails(void **state)
{
	struct hsm_envelope env;
	struct hsm_binding other;
	size_t i;

	(void)state;
	seal(NULL, (const uint8_t *)"tamper with me", 14, &env);
	expect_open(&env, &bind, CF_OK);

	/* One flipped bit anywhere in the ciphertext or the tag. */
	for (i = 0; i < env.ciphertext_len; i++) {
		env.ciphertext[i] ^= 0x01;
		expect_open(&env, &bind, CF_ERR_DECRYPTION_FAILURE);
		env.ciphertext[i] ^= 0x01;
	}
	/* ...in the IV... */
	for (i = 0; i < HSM_IV_LEN; i++) {
		env.iv[i] ^= 0x80;
		expect_open(&env, &bind, CF_ERR_DECRYPTION_FAILURE);
		env.iv[i] ^= 0x80;
	}
	/* ...in the wrapped data key... */
	for (i = 0; i < env.wrapped_dek_len; i++) {
		env.wrapped_dek[i] ^= 0x10;
		expect_open(&env, &bind, CF_ERR_DECRYPTION_FAILURE);
		env.wrapped_dek[i] ^= 0x10;
	}
	/* ...or in the AAD: another version, another secret. */
	other = bind;
	other.version_id = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaa0";
	expect_open(&env, &other, CF_ERR_DECRYPTION_FAILURE);
	other = bind;
	other.secret_uuid = "1b4e28ba-2fa1-4d2e-883f-0016d3cca428";
	expect_open(&env, &other, CF_ERR_DECRYPTION_FAILURE);
	/* A truncated ciphertext, a wrong format. */
	env.ciphertext_len--;
	expect_open(&env, &bind, CF_ERR_DECRYPTION_FAILURE);
	env.ciphertext_len = 3;
	expect_open(&env, &bind, CF_ERR_DECRYPTION_FAILURE);
	env.ciphertext_len = 14 + HSM_TAG_LEN;
	env.format = 2;
	expect_open(&env, &bind, CF_ERR_DECRYPTION_FAILURE);
	env.format = HSM_FORMAT_V1;
	expect_open(&env, &bind, CF_OK);
	hsm_envelope_cleanup(&env);
}

static void
test_kek_binding(void **state)
{
	struct hsm_envelope env;
	struct cf_error err;

	(void)state;
	/* Sealed under B, it opens; relabelled as A it does not. */
	seal(KEK_B, (const uint8_t *)"under b", 7, &env);
	assert_string_equal(env.kek_label, KEK_B);
	expect_open(&env, &bind, CF_OK);
	snprintf(env.kek_label, sizeof(env.kek_label), "%s", KEK_A);
	expect_open(&env, &bind, CF_ERR_DECRYPTION_FAILURE);
	snprintf(env.kek_label, sizeof(env.kek_label), "hsm-test-no-such-kek");
	expect_open(&env, &bind, CF_ERR_DECRYPTION_FAILURE);
	hsm_envelope_cleanup(&env);

	/* Sealing under an unknown KEK: ResourceNotFound, nothing made. */
	assert_int_equal(hsm_seal(s, "hsm-test-no-such-kek", &bind,
	    (const uint8_t *)"x", 1, &env, &err), -1);
	assert_int_equal(err.code, CF_ERR_RESOURCE_NOT_FOUND);
	assert_null(env.ciphertext);
}

/*
 * Login state belongs to the process (PKCS#11), so a wrong PIN can only be
 * seen before any successful login: this group runs first, on its own.
 */
static void
test_startup_failures(void **state)
{
	struct hsm_config c;
	struct cf_error err;

	(void)state;
	pin = tl_pin();
	c = config(KEK_A);
	c.pin = "wrong-pin";
	assert_null(hsm_new(&c, &err));
	assert_int_equal(err.code, CF_ERR_UNAVAILABLE);
	assert_non_null(strstr(err.msg, "wrong PIN"));
	assert_null(strstr(err.msg, "wrong-pin"));	/* never echoed */

	c = config(KEK_A);
	c.token_label = "no-such-token";
	assert_null(hsm_new(&c, &err));
	assert_non_null(strstr(err.msg, "token \"no-such-token\" not found"));

	c = config(KEK_A);
	c.module_path = "/nonexistent/libpkcs11.so";
	assert_null(hsm_new(&c, &err));
	assert_non_null(strstr(err.msg, "/nonexistent/libpkcs11.so"));

	c = config("hsm-test-missing-kek");
	assert_null(hsm_new(&c, &err));
	assert_non_null(strstr(err.msg, "init-token"));
	cf_secret_free(pin);
	pin = NULL;
}

/*
 * KEK versions: version 1 is the key init-token made (no CKA_ID); a new
 * version wraps new data keys; a rewrap moves a data key to it inside the
 * token without touching the ciphertext; a destroyed version opens
 * nothing more, not even what this process had cached (its session copies
 * in every session, and the data keys it unwrapped).
 */
#define KEK_V "hsm-test-kek-versions"

static void
open_is(struct hsm_session *in, const struct hsm_envelope *env,
    const char *want, enum cf_code code)
{
	struct cf_secret *pt = NULL;
	struct cf_error err = { 0 };

	if (code == CF_OK) {
		if (hsm_open(in, env, &bind, &pt, &err))
			fail_msg("open: %s", err.msg);
		assert_int_equal(pt->len, strlen(want));
		assert_memory_equal(pt->data, want, pt->len);
		cf_secret_free(pt);
		return;
	}
	assert_int_equal(hsm_open(in, env, &bind, &pt, &err), -1);
	assert_int_equal(err.code, code);
}

static void
test_kek_versions(void **state)
{
	struct hsm_envelope e1, e2, moved, stale;
	struct hsm_session *other;
	struct cf_error err = { 0 };
	uint8_t old_wrap[64];
	uint32_t v;

	(void)state;
	/* A clean family (the token may hold one from an earlier run). */
	for (v = 1; v <= 3; v++)
		assert_int_equal(hsm_kek_version_destroy(s, KEK_V, v, &err), 0);
	assert_int_equal(hsm_kek_version_create(s, KEK_V, 1, &err),
	    HSM_CREATED);
	assert_int_equal(hsm_kek_version_create(s, KEK_V, 1, &err),
	    HSM_EXISTED);
	assert_int_equal(hsm_kek_exists(s, KEK_V), HSM_FOUND);

	/* The legacy KEK (hsm_create_kek: no CKA_ID) is version 1. */
	seal(KEK_A, (const uint8_t *)"legacy", 6, &e1);
	assert_int_equal(e1.kek_version, 1);
	assert_int_equal(hsm_kek_version_exists(s, KEK_A, 1), HSM_FOUND);
	assert_int_equal(hsm_kek_version_exists(s, KEK_A, 2), HSM_NOT_FOUND);
	open_is(s, &e1, "legacy", CF_OK);
	hsm_envelope_cleanup(&e1);

	/* Version 2, and a seal under it. */
	seal(KEK_V, (const uint8_t *)"one", 3, &e1);
	assert_int_equal(e1.kek_version, 1);
	assert_int_equal(hsm_seal_v(s, KEK_V, 2, &bind, (const uint8_t *)"x",
	    1, &e2, &err), -1);
	assert_int_equal(err.code, CF_ERR_RESOURCE_NOT_FOUND);
	assert_int_equal(hsm_kek_version_create(s, KEK_V, 2, &err),
	    HSM_CREATED);
	assert_int_equal(hsm_kek_version_exists(s, KEK_V, 2), HSM_FOUND);
	if (hsm_seal_v(s, KEK_V, 2, &bind, (const uint8_t *)"two", 3, &e2,
	    &err))
		fail_msg("seal v2: %s", err.msg);
	assert_int_equal(e2.kek_version, 2);
	open_is(s, &e2, "two", CF_OK);

	/* Rewrap: new wrapping, same ciphertext, opens as version 2 only. */
	open_is(s, &e1, "one", CF_OK);		/* its data key cached */
	memcpy(old_wrap, e1.wrapped_dek, e1.wrapped_dek_len);
	assert_int_equal(hsm_rewrap(s, &e1, 2, &err), 0);
	assert_int_equal(e1.kek_version, 2);
	assert_int_equal(e1.wrapped_dek_len, 40);
	assert_memory_not_equal(e1.wrapped_dek, old_wrap, 40);
	open_is(s, &e1, "one", CF_OK);
	moved = e1;
	moved.kek_version = 1;			/* the new wrapping, old KEK */
	open_is(s, &moved, NULL, CF_ERR_DECRYPTION_FAILURE);

	/* Another session holds a copy of version 1 and a cached key. */
	stale = e1;
	stale.kek_version = 1;
	stale.wrapped_dek = old_wrap;
	if ((other = hsm_session_new(h, &err)) == NULL)
		fail_msg("session: %s", err.msg);
	open_is(other, &stale, "one", CF_OK);
	open_is(s, &stale, "one", CF_OK);

	/* Destroyed: nothing under version 1 opens, in either session. */
	assert_int_equal(hsm_kek_version_destroy(s, KEK_V, 1, &err), 0);
	assert_int_equal(hsm_kek_version_exists(s, KEK_V, 1), HSM_NOT_FOUND);
	open_is(s, &stale, NULL, CF_ERR_DECRYPTION_FAILURE);
	open_is(other, &stale, NULL, CF_ERR_DECRYPTION_FAILURE);
	assert_int_equal(hsm_rewrap(other, &stale, 2, &err), -1);
	/* Version 2 still serves both. */
	open_is(other, &e1, "one", CF_OK);
	open_is(s, &e2, "two", CF_OK);
	hsm_session_free(other);
	hsm_envelope_cleanup(&e1);
	hsm_envelope_cleanup(&e2);
	assert_int_equal(hsm_kek_version_destroy(s, KEK_V, 2, &err), 0);
}

static void
test_random(void **state)
{
	uint8_t a[32], b[32];
	struct cf_error err;

	(void)state;
	assert_int_equal(hsm_random(s, a, sizeof(a), &err), 0);
	assert_int_equal(hsm_random(s, b, sizeof(b), &err), 0);
	assert_memory_not_equal(a, b, sizeof(a));
}

static void *
worker(void *arg)
{
	struct hsm_session *mine;
	struct hsm_envelope env;
	struct cf_secret *pt;
	struct cf_error err;
	char value[32];
	int i, *failures = arg;

	if ((mine = hsm_session_new(h, &err)) == NULL) {
		(*failures)++;
		return (NULL);
	}
	for (i = 0; i < 200; i++) {
		snprintf(value, sizeof(value), "value %d", i);
		if (hsm_seal(mine, NULL, &bind, (const uint8_t *)value,
		    strlen(value), &env, &err) ||
		    hsm_open(mine, &env, &bind, &pt, &err)) {
			(*failures)++;
			continue;
		}
		if (pt->len != strlen(value) || memcmp(pt->data, value,
		    pt->len) != 0)
			(*failures)++;
		cf_secret_free(pt);
		hsm_envelope_cleanup(&env);
	}
	hsm_session_free(mine);
	return (NULL);
}

static void
test_two_threads(void **state)
{
	pthread_t t[2];
	int failures[2] = { 0, 0 }, i;

	(void)state;
	for (i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, worker, &failures[i]);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(failures[0] + failures[1], 0);
}

/*
 * Audit chain heads (hsm_audit.c) read while another session replaces
 * them: hsm_audit_heads finds the objects, then reads each, and a head
 * destroyed in between (a starting server's tidy, a settle dropping a
 * fork) must not fail the reading (VerifyAuditLog) nor hide the chain.
 */
#define HEAD_DEPLOYMENT "head-race"
#define HEAD_CHAIN "00000000-0000-4000-8000-0000000000c1"

static volatile int heads_done;

/*
 * Make a fork of the chain one seq ahead, then tidy the older away; count
 * the forks tidied.  (SoftHSM's C_CreateObject sometimes answers
 * CKR_GENERAL_ERROR while another session reads its objects: such a round
 * is skipped, it is not what is tested here.)
 */
static void *
head_churn(void *arg)
{
	struct hsm_audit_head hd;
	struct hsm_session *fork;
	struct cf_error err;
	int *tidied = arg, n;
	int64_t seq;

	memset(&hd, 0, sizeof(hd));
	snprintf(hd.chain_id, sizeof(hd.chain_id), "%s", HEAD_CHAIN);
	for (seq = 2; !heads_done; seq++) {
		hd.seq = seq;
		/* A new session knows no object: it makes one, a fork. */
		if ((fork = hsm_session_new(h, &err)) == NULL)
			break;
		if (hsm_audit_head_put(fork, HEAD_DEPLOYMENT, &hd, &err) == 0 &&
		    hsm_audit_heads_tidy(fork, HEAD_DEPLOYMENT, &n, &err) == 0)
			*tidied += n;
		hsm_session_free(fork);
		/* Not flat out: SoftHSM rereads its files on every change. */
		(void)nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
	}
	return (NULL);
}

static void
test_heads_read_while_replaced(void **state)
{
	struct hsm_audit_head hd, *heads;
	struct hsm_session *reader;
	struct cf_error err;
	int tidied = 0, failures = 0, missing = 0, i;
	int64_t start;
	size_t n;
	pthread_t t;

	(void)state;
	memset(&hd, 0, sizeof(hd));
	snprintf(hd.chain_id, sizeof(hd.chain_id), "%s", HEAD_CHAIN);
	hd.seq = 1;
	assert_non_null(reader = hsm_session_new(h, &err));
	assert_int_equal(hsm_audit_head_put(reader, HEAD_DEPLOYMENT, &hd,
	    &err), 0);
	heads_done = 0;
	pthread_create(&t, NULL, head_churn, &tidied);
	/* 1,000 reads, or 3 s under a slow build (a sanitizer, valgrind). */
	start = cf_mono_ms();
	for (i = 0; i < 1000 && (i < 20 || cf_mono_ms() - start < 3000);
	    i++) {
		if (hsm_audit_heads(reader, HEAD_DEPLOYMENT, &heads, &n,
		    &err)) {
			if (failures++ == 0)
				printf("heads: %s\n", err.msg);
			continue;
		}
		missing += n != 1;
		free(heads);
	}
	heads_done = 1;
	pthread_join(t, NULL);
	hsm_session_free(reader);
	printf("heads read %d times while %d forks were tidied away: %d "
	    "failed, %d without the chain\n", i, tidied, failures, missing);
	/*
	 * No read fails.  One may still find no head while SoftHSM shows
	 * neither the old object nor its replacement (it reads other
	 * sessions' objects from its files lazily, and a sanitizer build is
	 * slow enough for 16 searches to miss); VerifyAuditLog reads the
	 * heads again when a chain has none.  So the misses are printed,
	 * not held to zero.
	 */
	assert_true(tidied > 5);
	assert_int_equal(failures, 0);
}

int
main(void)
{
	const struct CMUnitTest startup[] = {
		cmocka_unit_test(test_startup_failures),
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_kek_is_idempotent),
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_fresh_key_and_iv_each_time),
		cmocka_unit_test(test_tampering_fails),
		cmocka_unit_test(test_dek_cache),
		cmocka_unit_test(test_dek_cache_shared),
		cmocka_unit_test(test_dek_cache_idle_owner),
		cmocka_unit_test(test_dek_cache_working_set),
		cmocka_unit_test(test_kek_binding),
		cmocka_unit_test(test_kek_versions),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_two_threads),
		cmocka_unit_test(test_heads_read_while_replaced),
	};

	if (cmocka_run_group_tests_name("startup", startup, NULL, NULL))
		return (1);
	return (cmocka_run_group_tests(tests, setup, teardown));
}
