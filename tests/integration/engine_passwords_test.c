/*
 * engine_passwords_test.c: GetRandomPassword drawing from the token:
 * lengths, and a chi-square test that its characters are flat.  Against a
 * real PostgreSQL database and SoftHSM token (fixture.h).
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

static void
test_random_password_from_token(void **state)
{
	struct cf_password_rules req = { 0 };
	const char *pw, *pw2;
	struct cf_error err;

	(void)state;
	fx_fresh();
	assert_int_equal(engine_get_random_password(fx_w, &fx_call, &req, &pw,
	    &err), 0);
	assert_int_equal(strlen(pw), 32);
	assert_int_equal(engine_get_random_password(fx_w, &fx_call, &req, &pw2,
	    &err), 0);
	assert_string_not_equal(pw, pw2);
	req.has_password_length = 1;
	req.password_length = 4097;
	assert_int_equal(engine_get_random_password(fx_w, &fx_call, &req, &pw,
	    &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);
}

/*
 * A chi-square test of the token-drawn passwords: 40,960 characters over
 * the 94 printable ones.  With 93 degrees of freedom the statistic is about
 * 93 +- 14; 170 is exceeded by chance about once in ten million runs,
 * while a modulo-biased mapping (68 characters 1.5 times as likely) scores
 * in the thousands.
 */
static void
test_random_password_is_flat(void **state)
{
	struct cf_password_rules req = { 0 };
	unsigned counts[256] = { 0 };
	const char *pw;
	struct cf_error err;
	double expected, chi = 0;
	int i, c, symbols = 0;
	size_t k;

	(void)state;
	req.has_password_length = 1;
	req.password_length = 4096;
	req.has_require_each_included_type = 1;
	req.require_each_included_type = 0;
	for (i = 0; i < 10; i++) {
		fx_fresh();
		assert_int_equal(engine_get_random_password(fx_w, &fx_call, &req,
		    &pw, &err), 0);
		for (k = 0; pw[k] != '\0'; k++)
			counts[(unsigned char)pw[k]]++;
	}
	expected = 40960.0 / 94;
	for (c = 0; c < 256; c++) {
		if (counts[c] == 0)
			continue;
		symbols++;
		chi += (counts[c] - expected) * (counts[c] - expected) /
		    expected;
	}
	printf("chi-square over %d symbols: %.1f\n", symbols, chi);
	assert_int_equal(symbols, 94);
	assert_true(chi < 170.0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_password_from_token),
		cmocka_unit_test(test_random_password_is_flat),
	};

	return (fx_run("engine_passwords", tests,
	    sizeof(tests) / sizeof(tests[0])));
}
