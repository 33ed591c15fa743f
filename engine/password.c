/*
 * password.c: GetRandomPassword (spec 2.13).
 *
 * Characters are drawn uniformly from the allowed alphabet by rejection
 * sampling on random bytes (a byte is used only when it falls below the
 * largest multiple of the alphabet size, so there is no modulo bias).  When
 * every included type is required, a whole password that misses a type is
 * thrown away and drawn again, which keeps the result uniform over all
 * passwords that satisfy the rule.  Random bytes come from the token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

#define PW_DEFAULT_LENGTH 32
#define PW_MAX_LENGTH 4096
#define PW_MAX_ATTEMPTS 100000

static const char *const classes[] = {
	"abcdefghijklmnopqrstuvwxyz",
	"ABCDEFGHIJKLMNOPQRSTUVWXYZ",
	"0123456789",
	"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
	" ",
};
#define N_CLASSES 5
#define SPACE_CLASS 4

/* A buffered random byte source over the caller's function. */
struct pw_rng {
	engine_rand_fn *fn;
	void *ctx;
	uint8_t buf[512];
	size_t pos, len;
};

static int
next_byte(struct pw_rng *r, uint8_t *out, struct cf_error *err)
{

	if (r->pos == r->len) {
		if (r->fn(r->ctx, r->buf, sizeof(r->buf), err))
			return (-1);
		r->pos = 0;
		r->len = sizeof(r->buf);
	}
	*out = r->buf[r->pos++];
	return (0);
}

/* A uniform index in [0, n), 1 <= n <= 256, by rejection sampling. */
static int
uniform(struct pw_rng *r, size_t n, size_t *out, struct cf_error *err)
{
	size_t limit = 256 - 256 % n;
	uint8_t b;

	do {
		if (next_byte(r, &b, err))
			return (-1);
	} while (b >= limit);
	*out = b % n;
	return (0);
}

int
engine_password_alphabet(const struct cf_password_rules *req,
    char *alphabet, uint8_t *class_of, size_t *n, int *required,
    struct cf_error *err)
{
	const int excluded[N_CLASSES] = { req->exclude_lowercase,
	    req->exclude_uppercase, req->exclude_numbers,
	    req->exclude_punctuation, !req->include_space };
	const char *ex = req->exclude_characters ? req->exclude_characters : "";
	const char *p;
	int c;

	/* Each included class, less the excluded characters. */
	*n = 0;
	*required = 0;
	for (c = 0; c < N_CLASSES; c++) {
		size_t before = *n;

		if (excluded[c])
			continue;
		for (p = classes[c]; *p != '\0'; p++) {
			if (strchr(ex, *p) != NULL)
				continue;
			alphabet[*n] = *p;
			class_of[(*n)++] = (uint8_t)c;
		}
		/* A class with characters left must appear (space excepted). */
		if (*n > before && c != SPACE_CLASS)
			*required |= 1 << c;
	}
	alphabet[*n] = '\0';
	if (*n == 0) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "Password can't be "
		    "generated: every character type or character is "
		    "excluded.");
		return (-1);
	}
	return (0);
}

int
engine_password_generate(const struct cf_password_rules *req,
    engine_rand_fn *fn, void *ctx, char *out, struct cf_error *err)
{
	struct pw_rng rng = { fn, ctx, { 0 }, 0, 0 };
	char alphabet[128], shown[24];
	uint8_t class_of[128];
	size_t n, len, i, idx;
	int required, seen, attempt, require_each;

	/* Length: 1..4096, default 32. */
	len = req->has_password_length ? (size_t)req->password_length :
	    PW_DEFAULT_LENGTH;
	if (req->has_password_length && (req->password_length < 1 ||
	    req->password_length > PW_MAX_LENGTH)) {
		snprintf(shown, sizeof(shown), "%lld",
		    (long long)req->password_length);
		engine_invalid(err, "passwordLength", shown, "have value %s",
		    req->password_length < 1 ? "greater than or equal to 1" :
		    "less than or equal to 4096");
		return (-1);
	}
	if (req->exclude_characters != NULL &&
	    (strlen(req->exclude_characters) > 4096 ||
	    !cf_utf8_valid((const uint8_t *)req->exclude_characters,
	    strlen(req->exclude_characters)))) {
		engine_invalid(err, "excludeCharacters", NULL, "have length "
		    "less than or equal to 4096");
		return (-1);
	}
	if (engine_password_alphabet(req, alphabet, class_of, &n, &required,
	    err))
		return (-1);
	require_each = req->has_require_each_included_type ?
	    req->require_each_included_type : 1;
	if (!require_each)
		required = 0;
	if ((size_t)__builtin_popcount((unsigned)required) > len) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "Password length "
		    "is too short based on the required types.");
		return (-1);
	}

	/* Draw whole passwords until one has every required class. */
	for (attempt = 0; attempt < PW_MAX_ATTEMPTS; attempt++) {
		seen = 0;
		for (i = 0; i < len; i++) {
			if (uniform(&rng, n, &idx, err))
				goto fail;
			out[i] = alphabet[idx];
			seen |= 1 << class_of[idx];
		}
		out[len] = '\0';
		if ((seen & required) == required) {
			explicit_bzero(rng.buf, sizeof(rng.buf));
			return (0);
		}
	}
	cf_error_set(err, CF_ERR_INVALID_PARAMETER, "Password can't be "
	    "generated: the exclusions leave too few characters to include "
	    "every required type in %zu characters.", len);
fail:
	explicit_bzero(rng.buf, sizeof(rng.buf));
	explicit_bzero(out, len + 1);
	return (-1);
}

/* The token as a random source. */
static int
token_random(void *ctx, uint8_t *buf, size_t n, struct cf_error *err)
{

	return (hsm_random(ctx, buf, n, err));
}

int
engine_get_random_password(struct engine_worker *w,
    const struct engine_call *call, const struct cf_password_rules *req,
    const char **out, struct cf_error *err)
{
	char *pw;

	if (engine_authorize(w, call, NULL, NULL, NULL, NULL, err))
		return (-1);
	if ((pw = cf_arena_alloc(call->arena, PW_MAX_LENGTH + 1)) == NULL)
		return (engine_oom(err));
	if (engine_password_generate(req, token_random, w->hsm, pw, err))
		return (-1);
	*out = pw;
	return (0);
}
