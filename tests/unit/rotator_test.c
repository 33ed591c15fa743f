/*
 * rotator_test.c: which rotator a RotationLambdaARN names
 * (rotator_parse).  A value that names no rotator is always
 * refused: ValidationException past 2,048 characters (AWS's model),
 * InvalidParameterException otherwise; never the first rotator by default.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rotator.h"

#define NONE ((enum rotator_kind)-1)

struct parse_case {
	const char *arn;
	enum cf_code want;
	enum rotator_kind kind;
	int64_t length;			/* 0: the default */
};

static void
check(const struct parse_case *c)
{
	enum rotator_kind kind = NONE;
	struct rotator r;
	struct cf_error err;
	int64_t length = -1;
	int rc;

	cf_error_clear(&err);
	rc = rotator_parse(c->arn, &r, &err);
	if (rc == 0) {
		kind = r.kind;
		length = r.pw.has_password_length ? r.pw.password_length : 0;
	}
	if (c->want != CF_OK) {
		if (rc != -1 || err.code != c->want)
			fail_msg("\"%.80s\" (%zu chars): rc %d, %s (wanted %s)",
			    c->arn != NULL ? c->arn : "(null)", c->arn != NULL ?
			    strlen(c->arn) : 0, rc, cf_code_name(err.code),
			    cf_code_name(c->want));
		return;
	}
	if (rc != 0 || kind != c->kind || length != c->length)
		fail_msg("\"%.80s\": rc %d kind %d length %lld: %s", c->arn, rc,
		    (int)kind, (long long)length, err.msg);
}

/* Every rotator's name, and names that are almost one. */
static void
test_names(void **state)
{
	static const struct parse_case cases[] = {
		{ "builtin:password", CF_OK, ROTATOR_PASSWORD, 0 },
		{ "builtin:postgresql-single-user", CF_OK,
		    ROTATOR_PG_SINGLE, 32 },
		{ "builtin:postgresql-alternating-users", CF_OK,
		    ROTATOR_PG_ALTERNATING, 32 },
		{ "exec:/usr/lib/coffer/rotators/x", CF_OK,
		    ROTATOR_EXEC, 0 },
		{ "builtin:password?PasswordLength=20", CF_OK,
		    ROTATOR_PASSWORD, 20 },
		{ "builtin:postgresql-single-user?PasswordLength=40", CF_OK,
		    ROTATOR_PG_SINGLE, 40 },
		{ "builtin:postgresql-alternating-users?ExcludeNumbers=true",
		    CF_OK, ROTATOR_PG_ALTERNATING, 32 },
		{ "builtin:password?", CF_OK, ROTATOR_PASSWORD, 0 },
		/* Prefixes of a name. */
		{ "", CF_ERR_INVALID_PARAMETER, NONE, 0 },
		{ "builtin:", CF_ERR_INVALID_PARAMETER, NONE, 0 },
		{ "builtin:passwor", CF_ERR_INVALID_PARAMETER, NONE, 0 },
		{ "builtin:postgresql", CF_ERR_INVALID_PARAMETER, NONE, 0 },
		{ "builtin:postgresql-single", CF_ERR_INVALID_PARAMETER, NONE,
		    0 },
		{ "builtin:postgresql-alternating-user",
		    CF_ERR_INVALID_PARAMETER, NONE, 0 },
		{ "exec", CF_ERR_INVALID_PARAMETER, NONE, 0 },
		/* Suffixes after a name. */
		{ "builtin:passwordx", CF_ERR_INVALID_PARAMETER, NONE, 0 },
		{ "builtin:password ", CF_ERR_INVALID_PARAMETER, NONE, 0 },
		{ "builtin:password/", CF_ERR_INVALID_PARAMETER, NONE, 0 },
		{ "builtin:password&PasswordLength=20",
		    CF_ERR_INVALID_PARAMETER, NONE, 0 },
		{ "builtin:postgresql-single-users", CF_ERR_INVALID_PARAMETER,
		    NONE, 0 },
		{ "builtin:postgresql-alternating-users2",
		    CF_ERR_INVALID_PARAMETER, NONE, 0 },
		{ "builtin:password?Bogus=1", CF_ERR_INVALID_PARAMETER, NONE,
		    0 },
		{ "builtin:password?ExcludeNumbers=yes",
		    CF_ERR_INVALID_PARAMETER, NONE, 0 },
		/* Other spellings and other things. */
		{ "Builtin:Password", CF_ERR_INVALID_PARAMETER, NONE, 0 },
		{ " builtin:password", CF_ERR_INVALID_PARAMETER, NONE, 0 },
		{ "arn:aws:lambda:us-east-1:123456789012:function:rot",
		    CF_ERR_INVALID_PARAMETER, NONE, 0 },
		/* Bytes that are not UTF-8, after a name and instead of one. */
		{ "builtin:password\xff", CF_ERR_INVALID_PARAMETER, NONE, 0 },
		{ "builtin:passw\xc3\x28rd", CF_ERR_INVALID_PARAMETER, NONE,
		    0 },
		{ "\xff\xfe", CF_ERR_INVALID_PARAMETER, NONE, 0 },
		{ "builtin:password?PasswordLength=2\xff",
		    CF_ERR_INVALID_PARAMETER, NONE, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check(&cases[i]);
}

/* NUL ends a C string: what follows it is never read as the name. */
static void
test_nul(void **state)
{
	static const char with_nul[] = "builtin:pass\0word";
	static const char nul_first[] = "\0builtin:password";
	struct parse_case c = { with_nul, CF_ERR_INVALID_PARAMETER, NONE, 0 };

	(void)state;
	check(&c);
	c.arn = nul_first;
	check(&c);
	/* NULL (no value at all) names nothing either. */
	c.arn = NULL;
	check(&c);
}

/*
 * Lengths 2,047, 2,048 and 2,049 of each kind of value: a rotator with a
 * query string, an exec: path, and a name that is no rotator.  Past 2,048
 * every one is a ValidationException, never a rotator.
 */
static void
test_lengths(void **state)
{
	static char buf[4200];
	static const struct {
		const char *prefix;
		char fill;
		enum cf_code want;		/* at 2,047 and 2,048 */
		enum rotator_kind kind;
	} kinds[] = {
		{ "builtin:password?ExcludeCharacters=", 'a', CF_OK,
		    ROTATOR_PASSWORD },
		{ "builtin:password?PasswordLength=0", '0', CF_OK,
		    ROTATOR_PASSWORD },
		{ "exec:/", 'x', CF_OK, ROTATOR_EXEC },
		{ "builtin:password", 'x', CF_ERR_INVALID_PARAMETER, NONE },
		{ "x", 'x', CF_ERR_INVALID_PARAMETER, NONE },
	};
	static const size_t lengths[] = { 2047, 2048, 2049, 2050, 4096 };
	struct parse_case c;
	size_t i, j, k;

	(void)state;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		for (j = 0; j < sizeof(lengths) / sizeof(lengths[0]); j++) {
			k = strlen(kinds[i].prefix);
			memcpy(buf, kinds[i].prefix, k);
			memset(buf + k, kinds[i].fill, lengths[j] - k);
			buf[lengths[j]] = '\0';
			/* PasswordLength=000...08: a length of 8. */
			if (kinds[i].fill == '0')
				buf[lengths[j] - 1] = '8';
			c.arn = buf;
			c.want = lengths[j] > 2048 ? CF_ERR_VALIDATION :
			    kinds[i].want;
			c.kind = lengths[j] > 2048 ? NONE : kinds[i].kind;
			c.length = kinds[i].fill == '0' ? 8 : 0;
			check(&c);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_lengths),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
