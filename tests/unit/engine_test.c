/*
 * engine_test.c: the engine's pure logic — input validation with AWS's
 * exception names, partial-ARN detection, the labels a new version gets,
 * and the ListSecrets cursor.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "engine_internal.h"

static char *
repeat(char c, size_t n)
{
	static char buf[70000];

	memset(buf, c, n);
	buf[n] = '\0';
	return (buf);
}

static void
test_names(void **state)
{
	struct cf_error err;
	static const struct {
		const char *name;
		enum cf_code want;
	} cases[] = {
		{ "a", CF_OK },
		{ "prod/db/password", CF_OK },
		{ "Valid/_+=.@-Name", CF_OK },
		{ "bang!", CF_OK },
		{ "", CF_ERR_VALIDATION },
		{ "has space", CF_ERR_VALIDATION },
		{ "star*", CF_ERR_VALIDATION },
		{ "question?", CF_ERR_VALIDATION },
		{ "bracket]", CF_ERR_VALIDATION },
		{ "back\\slash", CF_ERR_VALIDATION },
		{ "caf\xc3\xa9", CF_ERR_VALIDATION },
		{ "bad\xff", CF_ERR_VALIDATION },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cf_error_clear(&err);
		assert_int_equal(engine_check_name(cases[i].name, &err),
		    cases[i].want == CF_OK ? 0 : -1);
		assert_int_equal(err.code, cases[i].want);
	}
	cf_error_clear(&err);
	assert_int_equal(engine_check_name("has space", &err), -1);
	assert_string_equal(err.msg, "Invalid name. Must be a valid name "
	    "containing alphanumeric characters, or any of the following: "
	    "-/_+=.@!");

	/* Length bounds: 512 is fine, 513 is not. */
	assert_int_equal(engine_check_name(repeat('n', 512), &err), 0);
	assert_int_equal(engine_check_name(repeat('n', 513), &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);
	assert_non_null(strstr(err.msg, "less than or equal to 512"));
}

static void
test_secret_ids(void **state)
{
	struct cf_error err;

	(void)state;
	assert_int_equal(engine_check_secret_id("name", &err), 0);
	/* ARNs are not held to the name alphabet. */
	assert_int_equal(engine_check_secret_id(
	    "arn:aws:secretsmanager:local-1:000000000000:secret:x-abcdef",
	    &err), 0);
	assert_int_equal(engine_check_secret_id("a b", &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);
	assert_int_equal(engine_check_secret_id("", &err), -1);
	assert_int_equal(engine_check_secret_id(repeat('x', 2048), &err), 0);
	assert_int_equal(engine_check_secret_id(repeat('x', 2049), &err), -1);
	assert_int_equal(engine_check_secret_id(NULL, &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);
}

static void
test_tokens_and_versions(void **state)
{
	struct cf_error err;

	(void)state;
	assert_int_equal(engine_check_token(repeat('t', 31), &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);
	/* A token is sensitive: its value is not echoed. */
	assert_null(strstr(err.msg, "tttt"));
	assert_int_equal(engine_check_token(repeat('t', 32), &err), 0);
	assert_int_equal(engine_check_token(repeat('t', 64), &err), 0);
	assert_int_equal(engine_check_token(repeat('t', 65), &err), -1);
	assert_int_equal(engine_check_version_id(repeat('v', 31), "versionId",
	    &err), -1);
	assert_non_null(strstr(err.msg, "'versionId'"));
	assert_int_equal(engine_check_stage("", "versionStage", &err), -1);
	assert_int_equal(engine_check_stage(repeat('s', 256), "versionStage",
	    &err), 0);
	assert_int_equal(engine_check_stage(repeat('s', 257), "versionStage",
	    &err), -1);
	assert_int_equal(engine_check_description(repeat('d', 2048), &err), 0);
	assert_int_equal(engine_check_description(repeat('d', 2049), &err), -1);
}

static void
test_values(void **state)
{
	struct cf_error err;
	struct engine_value v = { 1, 0, (const uint8_t *)"x", 1, 0 };
	static uint8_t big[65537];

	(void)state;
	assert_int_equal(engine_check_value(&v, &err), 0);
	v.len = 0;
	assert_int_equal(engine_check_value(&v, &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);
	v.data = big;
	memset(big, 'a', sizeof(big));
	v.len = 65536;
	assert_int_equal(engine_check_value(&v, &err), 0);
	v.len = 65537;
	assert_int_equal(engine_check_value(&v, &err), -1);
	assert_non_null(strstr(err.msg, "65536"));
	/* Invalid UTF-8 and NUL are refused in a string, fine in binary. */
	big[10] = 0xff;
	v.len = 100;
	assert_int_equal(engine_check_value(&v, &err), -1);
	big[10] = 0;
	assert_int_equal(engine_check_value(&v, &err), -1);
	v.binary = 1;
	assert_int_equal(engine_check_value(&v, &err), 0);
	v.present = 0;
	v.len = 0;
	assert_int_equal(engine_check_value(&v, &err), 0);
}

static void
test_tags(void **state)
{
	struct engine_tag t[52];
	struct cf_error err;
	char keys[52][8];
	size_t i;

	(void)state;
	for (i = 0; i < 52; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
		t[i].key = keys[i];
		t[i].value = "";
	}
	assert_int_equal(engine_check_tags(t, 50, &err), 0);
	assert_int_equal(engine_check_tags(t, 51, &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);
	t[1].key = "aws:reserved";
	assert_int_equal(engine_check_tags(t, 2, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	t[1].key = "k0";
	assert_int_equal(engine_check_tags(t, 2, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	t[1].key = "";
	assert_int_equal(engine_check_tags(t, 2, &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);
	t[1].key = repeat('k', 129);
	assert_int_equal(engine_check_tags(t, 2, &err), -1);
	t[1].key = "k1";
	t[1].value = repeat('v', 257);
	assert_int_equal(engine_check_tags(t, 2, &err), -1);
}

/*
 * Every ValidationException in AWS's words (issue 15): the value quoted
 * when it may be shown, the word "Value" kept when it is withheld, and
 * "Value null ... Member must not be null" for a missing member.
 */
static void
test_validation_wording(void **state)
{
#define PRE "1 validation error detected: "
	struct engine_tag t[1] = { { NULL, "v" } };
	struct engine_value v = { 0 };
	struct cf_error err;
	size_t i;
	static const struct {
		int (*check)(const char *, struct cf_error *);
		const char *in;
		const char *want;
	} cases[] = {
		{ engine_check_token, "short", PRE "Value at "
		    "'clientRequestToken' failed to satisfy constraint: Member "
		    "must have length greater than or equal to 32" },
		{ engine_check_name, NULL, PRE "Value null at 'name' failed to "
		    "satisfy constraint: Member must not be null" },
		{ engine_check_name, "", PRE "Value '' at 'name' failed to "
		    "satisfy constraint: Member must have length greater than or "
		    "equal to 1" },
		{ engine_check_secret_id, NULL, PRE "Value null at 'secretId' "
		    "failed to satisfy constraint: Member must not be null" },
		{ engine_check_description, "bad\xff", PRE "Value at "
		    "'description' failed to satisfy constraint: Member must be "
		    "valid UTF-8" },
	};

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cf_error_clear(&err);
		assert_int_equal(cases[i].check(cases[i].in, &err), -1);
		assert_int_equal(err.code, CF_ERR_VALIDATION);
		assert_string_equal(err.msg, cases[i].want);
	}
	assert_int_equal(engine_check_tags(t, 1, &err), -1);
	assert_string_equal(err.msg, PRE "Value null at 'tags.1.member.key' "
	    "failed to satisfy constraint: Member must not be null");
	v.present = 1;
	assert_int_equal(engine_check_value(&v, &err), -1);
	assert_string_equal(err.msg, PRE "Value at 'secretString' failed to "
	    "satisfy constraint: Member must have length greater than or equal "
	    "to 1");
	assert_int_equal(engine_check_max_results(1, 101, 100, &err), -1);
	assert_string_equal(err.msg, PRE "Value '101' at 'maxResults' failed to "
	    "satisfy constraint: Member must have value less than or equal to "
	    "100");
	engine_missing(&err, "versionStage");
	assert_string_equal(err.msg, PRE "Value null at 'versionStage' failed "
	    "to satisfy constraint: Member must not be null");
#undef PRE
}

static void
test_arn_suffix(void **state)
{

	(void)state;
	assert_true(engine_arn_suffix_like("name-a1b2c3"));
	assert_true(engine_arn_suffix_like("Invalid/_+=.@-Name-a1b2c3"));
	assert_false(engine_arn_suffix_like("s-c64bdc03"));
	assert_false(engine_arn_suffix_like("Valid/_+=.@-Name-a1b2"));
	assert_false(engine_arn_suffix_like("Valid/_+=.@-Name-a1b2c3-"));
	assert_false(engine_arn_suffix_like("name-a1b2c_"));
	assert_false(engine_arn_suffix_like("abcdef"));
}

static void
test_put_labels(void **state)
{
	const char *out[ENGINE_MAX_LABELS + 1], *many[21];
	const char *req[] = { "one", "two", "one", "four" };
	struct cf_error err;
	size_t n, i;

	(void)state;
	/* No labels: AWSCURRENT. */
	assert_int_equal(engine_put_labels(NULL, 0, 0, out, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(out[0], "AWSCURRENT");

	/* Given labels move alone, without repeats. */
	assert_int_equal(engine_put_labels(req, 4, 0, out, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(out[0], "one");
	assert_string_equal(out[1], "two");
	assert_string_equal(out[2], "four");

	/* The first version of a secret is always AWSCURRENT. */
	assert_int_equal(engine_put_labels(req, 2, 1, out, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(out[2], "AWSCURRENT");

	/* Twenty labels at most; an empty label is invalid. */
	for (i = 0; i < 21; i++)
		many[i] = "L";
	assert_int_equal(engine_put_labels(many, 20, 1, out, &n, &err), 0);
	assert_int_equal(engine_put_labels(many, 21, 0, out, &n, &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);
	many[0] = "";
	assert_int_equal(engine_put_labels(many, 1, 0, out, &n, &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);
}

static void
test_next_token(void **state)
{
	static const uint8_t key[ENGINE_TOKEN_KEY_LEN] = { 1, 2, 3 };
	static const uint8_t other[ENGINE_TOKEN_KEY_LEN] = { 9 };
	struct cf_arena *a = cf_arena_new();
	const char *uuid = "0b9f9a4e-8c1d-4f2a-9e3b-5d6c7e8f9a0b";
	struct cf_error err;
	char got[65], *tok, bad[400];
	int64_t us;
	size_t i;

	(void)state;
	assert_non_null(a);
	tok = engine_next_token_encode(a, key, 'd', 1700000000123456LL, uuid);
	assert_non_null(tok);
	assert_int_equal(engine_next_token_decode(tok, key, 'd', &us, got,
	    &err), 0);
	assert_true(us == 1700000000123456LL);
	assert_string_equal(got, uuid);
	/* A token is only good for the list (and order) it came from... */
	assert_int_equal(engine_next_token_decode(tok, key, 'a', &us, got,
	    &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_NEXT_TOKEN);
	assert_int_equal(engine_next_token_decode(tok, key, 'v', &us, got,
	    &err), -1);
	/* ...and under the deployment's key. */
	assert_int_equal(engine_next_token_decode(tok, other, 'd', &us, got,
	    &err), -1);
	tok = engine_next_token_encode(a, key, 'v', 5,
	    "version-id-of-some-length-32chars");
	assert_int_equal(engine_next_token_decode(tok, key, 'v', &us, got,
	    &err), 0);
	assert_string_equal(got, "version-id-of-some-length-32chars");

	/*
	 * Every single-character edit is refused — including a cursor that
	 * is still well-formed, such as another uuid or another time.
	 */
	tok = engine_next_token_encode(a, key, 'a', 1700000000123456LL, uuid);
	for (i = 0; i < strlen(tok); i++) {
		snprintf(bad, sizeof(bad), "%s", tok);
		bad[i] = bad[i] == '0' ? '1' : '0';
		assert_int_equal(engine_next_token_decode(bad, key, 'a', &us,
		    got, &err), -1);
		assert_int_equal(err.code, CF_ERR_INVALID_NEXT_TOKEN);
	}
	/* A forged, well-formed cursor under another key. */
	{
		struct cf_arena *b = cf_arena_new();
		char *forged = engine_next_token_encode(b, other, 'a', 1, uuid);

		assert_int_equal(engine_next_token_decode(forged, key, 'a', &us,
		    got, &err), -1);
		cf_arena_free(b);
	}
	/* Truncated, not hex, empty. */
	snprintf(bad, sizeof(bad), "%s", tok);
	bad[strlen(bad) - 2] = '\0';
	assert_int_equal(engine_next_token_decode(bad, key, 'a', &us, got,
	    &err), -1);
	assert_int_equal(engine_next_token_decode("xyz!", key, 'a', &us, got,
	    &err), -1);
	assert_int_equal(engine_next_token_decode("", key, 'a', &us, got, &err),
	    -1);
	cf_arena_free(a);
}

/* Does ${hay} (${n} bytes) contain ${needle}? */
static int
contains(const uint8_t *hay, size_t n, const char *needle)
{
	size_t m = strlen(needle), i;

	for (i = 0; i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return (1);
	return (0);
}

/*
 * The cursor is encrypted, not only authenticated: its hex decodes to
 * nothing of the row it names; it is bound to its context; and the same
 * cursor in the same context is the same token.
 */
static void
test_next_token_sealed(void **state)
{
	static const uint8_t key[ENGINE_TOKEN_KEY_LEN] = { 1, 2, 3 };
	struct cf_arena *a = cf_arena_new();
	const char *uuid = "0b9f9a4e-8c1d-4f2a-9e3b-5d6c7e8f9a0b";
	const char *ctx_a = "principal-a|filters", *ctx_b = "principal-b|filters";
	struct cf_error err;
	uint8_t raw[200];
	char got[65], *tok, *again, num[32];
	unsigned int byte;
	int64_t us;
	size_t i, n;

	(void)state;
	assert_non_null(a);
	tok = engine_next_token_seal(a, key, 'a', ctx_a, strlen(ctx_a),
	    1700000000123456LL, uuid);
	assert_non_null(tok);

	/* Nothing of the uuid or the time shows in the decoded bytes. */
	n = strlen(tok) / 2;
	assert_true(n <= sizeof(raw));
	for (i = 0; i < n; i++) {
		assert_int_equal(sscanf(tok + 2 * i, "%2x", &byte), 1);
		raw[i] = (uint8_t)byte;
	}
	assert_false(contains(raw, n, "0b9f9a4e"));
	assert_false(contains(raw, n, "1700000000"));
	assert_null(strstr(tok, "0b9f9a4e"));
	snprintf(num, sizeof(num), "%lld", 1700000000123456LL);
	assert_false(contains(raw, n, num + 4));

	/* Deterministic: the same cursor and context, the same token. */
	again = engine_next_token_seal(a, key, 'a', ctx_a, strlen(ctx_a),
	    1700000000123456LL, uuid);
	assert_string_equal(again, tok);

	/* It opens in its own context only. */
	assert_int_equal(engine_next_token_open(tok, key, 'a', ctx_a,
	    strlen(ctx_a), &us, got, &err), 0);
	assert_true(us == 1700000000123456LL);
	assert_string_equal(got, uuid);
	assert_int_equal(engine_next_token_open(tok, key, 'a', ctx_b,
	    strlen(ctx_b), &us, got, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_NEXT_TOKEN);
	assert_int_equal(engine_next_token_open(tok, key, 'a', NULL, 0, &us,
	    got, &err), -1);
	assert_int_equal(engine_next_token_decode(tok, key, 'a', &us, got,
	    &err), -1);
	assert_int_equal(engine_next_token_open(tok, key, 'd', ctx_a,
	    strlen(ctx_a), &us, got, &err), -1);

	/* Another context gives another token for the same row. */
	again = engine_next_token_seal(a, key, 'a', ctx_b, strlen(ctx_b),
	    1700000000123456LL, uuid);
	assert_string_not_equal(again, tok);
	cf_arena_free(a);
}

static void
test_utf8(void **state)
{
	static const struct {
		const char *s;
		int ok;
	} cases[] = {
		{ "plain", 1 }, { "caf\xc3\xa9", 1 }, { "\xe2\x82\xac", 1 },
		{ "\xf0\x9f\x94\x91", 1 }, { "\xc0\xaf", 0 }, { "\xed\xa0\x80", 0 },
		{ "\xf4\x90\x80\x80", 0 }, { "\xe2\x82", 0 }, { "\x80", 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(cf_utf8_valid((const uint8_t *)cases[i].s,
		    strlen(cases[i].s)), cases[i].ok);
	assert_int_equal(cf_utf8_length((const uint8_t *)"caf\xc3\xa9", 5), 4);
}

static void
test_secret_memory(void **state)
{
	size_t sizes[] = { 0, 1, 4096, 20000, 65552, 70000 }, i, k;
	struct cf_secret *a, *b;
	void *first;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		/* Fill a block, free it; the next block of that size (the
		 * same one, from the pool) comes back all zeros. */
		a = cf_secret_new(sizes[i]);
		assert_non_null(a);
		assert_true(a->cap >= sizes[i]);
		memset(a->data, 0xA5, a->cap);
		first = a->data;
		cf_secret_free(a);
		b = cf_secret_new(sizes[i]);
		assert_non_null(b);
		if (sizes[i] <= 65552)
			assert_ptr_equal(b->data, first);
		for (k = 0; k < b->cap; k++)
			if (b->data[k] != 0)
				fail_msg("byte %zu of a reused block is not wiped", k);
		cf_secret_free(b);
	}
	cf_secret_free(NULL);
}

/* A random source that cycles through every byte value in order. */
static int
cycle_rng(void *ctx, uint8_t *buf, size_t n, struct cf_error *err)
{
	unsigned *next = ctx;
	size_t i;

	(void)err;
	for (i = 0; i < n; i++)
		buf[i] = (uint8_t)((*next)++);
	return (0);
}

/* xorshift64*: a fixed-seed source for rule checks. */
static int
xorshift(void *ctx, uint8_t *buf, size_t n, struct cf_error *err)
{
	uint64_t *x = ctx;
	size_t i;

	(void)err;
	for (i = 0; i < n; i++) {
		*x ^= *x >> 12;
		*x ^= *x << 25;
		*x ^= *x >> 27;
		buf[i] = (uint8_t)((*x * 0x2545F4914F6CDD1DULL) >> 56);
	}
	return (0);
}

static void
test_password_unbiased(void **state)
{
	struct cf_password_rules req = { 0 };
	static char pw[4097];
	struct cf_error err;
	unsigned counts[256] = { 0 }, next = 0;
	size_t i, j, n = 0;
	int c;

	(void)state;
	/*
	 * Every byte value in turn: rejection sampling keeps bytes 0..187
	 * (2 * 94) and must map them onto the 94 characters exactly evenly;
	 * a modulo mapping would give 68 of them a third hit per 256 bytes.
	 * 3948 = 21 * 188 characters is a whole number of such periods.
	 */
	req.has_password_length = 1;
	req.password_length = 3948;
	req.has_require_each_included_type = 1;
	req.require_each_included_type = 0;
	for (j = 0; j < 10; j++) {
		next = 0;
		assert_int_equal(engine_password_generate(&req, cycle_rng, &next,
		    pw, &err), 0);
		for (i = 0; pw[i] != '\0'; i++)
			counts[(unsigned char)pw[i]]++;
	}
	for (c = 0; c < 256; c++)
		if (counts[c] != 0) {
			n++;
			assert_int_equal(counts[c], 10 * 3948 / 94);
		}
	assert_int_equal(n, 94);
}

static void
test_password_rules(void **state)
{
	struct cf_password_rules req = { 0 };
	static char pw[4097];
	struct cf_error err;
	uint64_t seed = 88172645463325252ULL;
	int i, k, lower, upper, digit, punct;
	char alphabet[128];
	uint8_t cls[128];
	size_t n;
	int required;

	(void)state;
	/* Defaults: 32 characters, every type present, no space. */
	for (k = 0; k < 200; k++) {
		assert_int_equal(engine_password_generate(&req, xorshift, &seed,
		    pw, &err), 0);
		assert_int_equal(strlen(pw), 32);
		lower = upper = digit = punct = 0;
		for (i = 0; pw[i]; i++) {
			lower |= pw[i] >= 'a' && pw[i] <= 'z';
			upper |= pw[i] >= 'A' && pw[i] <= 'Z';
			digit |= pw[i] >= '0' && pw[i] <= '9';
			punct |= strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
			    pw[i]) != NULL;
			assert_true(pw[i] != ' ');
		}
		assert_true(lower && upper && digit && punct);
	}
	/* The alphabet: 94 printable characters, 95 with a space. */
	assert_int_equal(engine_password_alphabet(&req, alphabet, cls, &n,
	    &required, &err), 0);
	assert_int_equal(n, 94);
	assert_int_equal(required, 0xf);
	req.include_space = 1;
	assert_int_equal(engine_password_alphabet(&req, alphabet, cls, &n,
	    &required, &err), 0);
	assert_int_equal(n, 95);

	/* Exclusions are honoured; length 4 with four types works. */
	memset(&req, 0, sizeof(req));
	req.exclude_characters = "abcdefghijklmnopqrstuvwxy0123456789";
	req.exclude_uppercase = 1;
	req.exclude_punctuation = 1;
	req.has_password_length = 1;
	req.password_length = 50;
	assert_int_equal(engine_password_generate(&req, xorshift, &seed, pw,
	    &err), 0);
	for (i = 0; pw[i]; i++)
		assert_int_equal(pw[i], 'z');
	memset(&req, 0, sizeof(req));
	req.has_password_length = 1;
	req.password_length = 4;
	assert_int_equal(engine_password_generate(&req, xorshift, &seed, pw,
	    &err), 0);
	/* Too short for the required types; nothing left; out of range. */
	req.password_length = 3;
	assert_int_equal(engine_password_generate(&req, xorshift, &seed, pw,
	    &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	req.require_each_included_type = 0;
	req.has_require_each_included_type = 1;
	assert_int_equal(engine_password_generate(&req, xorshift, &seed, pw,
	    &err), 0);
	memset(&req, 0, sizeof(req));
	req.exclude_lowercase = req.exclude_uppercase = 1;
	req.exclude_numbers = req.exclude_punctuation = 1;
	assert_int_equal(engine_password_generate(&req, xorshift, &seed, pw,
	    &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	memset(&req, 0, sizeof(req));
	req.has_password_length = 1;
	req.password_length = 0;
	assert_int_equal(engine_password_generate(&req, xorshift, &seed, pw,
	    &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);
	req.password_length = 4096;
	assert_int_equal(engine_password_generate(&req, xorshift, &seed, pw,
	    &err), 0);
	assert_int_equal(strlen(pw), 4096);
	req.password_length = 4097;
	assert_int_equal(engine_password_generate(&req, xorshift, &seed, pw,
	    &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);
}

static void
test_filter_validation(void **state)
{
	struct store_filter out[11];
	struct engine_filter f[11];
	const char *ok[1] = { "!prod/db" }, *bad[1] = { "semi;colon" };
	struct cf_error err;
	int i;

	(void)state;
	f[0] = (struct engine_filter){ "tag-key", ok, 1 };
	assert_int_equal(engine_check_filters(f, 1, out, &err), 0);
	assert_int_equal(out[0].key, SF_TAG_KEY);
	f[0].key = "Name";
	assert_int_equal(engine_check_filters(f, 1, out, &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);
	f[0] = (struct engine_filter){ "name", bad, 1 };
	assert_int_equal(engine_check_filters(f, 1, out, &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);
	f[0] = (struct engine_filter){ "name", ok, 0 };
	assert_int_equal(engine_check_filters(f, 1, out, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	for (i = 0; i < 11; i++)
		f[i] = (struct engine_filter){ "all", ok, 1 };
	assert_int_equal(engine_check_filters(f, 10, out, &err), 0);
	assert_int_equal(engine_check_filters(f, 11, out, &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_secret_ids),
		cmocka_unit_test(test_tokens_and_versions),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_tags),
		cmocka_unit_test(test_validation_wording),
		cmocka_unit_test(test_arn_suffix),
		cmocka_unit_test(test_put_labels),
		cmocka_unit_test(test_next_token),
		cmocka_unit_test(test_next_token_sealed),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_secret_memory),
		cmocka_unit_test(test_password_unbiased),
		cmocka_unit_test(test_password_rules),
		cmocka_unit_test(test_filter_validation),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
