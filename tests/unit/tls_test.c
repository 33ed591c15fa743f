/*
 * tls_test.c: which URI SANs are SPIFFE IDs, how refused names are
 * escaped, and that the refusal counter stays bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rpc_tls.h"

static void
test_spiffe_id_valid(void **state)
{
	static const struct {
		const char *s;
		int ok;
	} cases[] = {
		{ "spiffe://coffer.test/admin", 1 },
		{ "spiffe://coffer.test", 1 },
		{ "spiffe://trust-domain_1.example/ns/Prod/sa/A.b-c_d", 1 },
		{ "spiffe://coffer.test/", 0 },		/* trailing slash */
		{ "spiffe://coffer.test/a//b", 0 },	/* empty segment */
		{ "spiffe://coffer.test/ns/../admin", 0 },
		{ "spiffe://coffer.test/./admin", 0 },
		{ "spiffe://Coffer.Test/admin", 0 },	/* upper-case domain */
		{ "spiffe:///admin", 0 },		/* no trust domain */
		{ "spiffe://", 0 },
		{ "spiffe://coffer.test:8443/admin", 0 },	/* a port */
		{ "spiffe://user@coffer.test/admin", 0 },
		{ "spiffe://coffer.test/admin?x=1", 0 },
		{ "spiffe://coffer.test/admin#f", 0 },
		{ "spiffe://coffer.test/a%2Fb", 0 },
		{ "SPIFFE://coffer.test/admin", 0 },
		{ "https://coffer.test/admin", 0 },
		{ "", 0 },
	};
	char big[2100];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (rpc_tls_spiffe_id_valid(cases[i].s) != cases[i].ok)
			fail_msg("\"%s\": expected %d", cases[i].s, cases[i].ok);

	/* 2048 bytes at most. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "spiffe://d/", 11);
	big[2048] = '\0';
	assert_int_equal(rpc_tls_spiffe_id_valid(big), 1);
	big[2048] = 'a';
	big[2049] = '\0';
	assert_int_equal(rpc_tls_spiffe_id_valid(big), 0);
}

static void
test_escape(void **state)
{
	char out[32];

	(void)state;
	rpc_tls_escape(out, sizeof(out), "evil\nline\x1b[31m\\");
	assert_string_equal(out, "evil\\x0aline\\x1b[31m\\x5c");
	rpc_tls_escape(out, sizeof(out), "caf\xc3\xa9 \x7f");
	assert_string_equal(out, "caf\xc3\xa9 \\x7f");

	/* Truncated whole: never half an escape. */
	rpc_tls_escape(out, 8, "abcde\nf");
	assert_string_equal(out, "abcde");
	rpc_tls_escape(out, 1, "abc");
	assert_string_equal(out, "");
}

static void
test_refusals_bounded(void **state)
{
	struct rpc_refusals *r;
	struct cf_error err;
	char name[32];
	int i;

	(void)state;
	assert_non_null(r = rpc_refusals_new(NULL, 3600, &err));

	/* The first of a kind is news; the next ones are only counted. */
	assert_int_equal(rpc_refusals_add(r, "ipv4:127.0.0.1:4000", "x",
	    "TLSHandshake", "AccessDeniedException"), 1);
	assert_int_equal(rpc_refusals_add(r, "ipv4:127.0.0.1:4001", "x",
	    "TLSHandshake", "AccessDeniedException"), 0);
	assert_int_equal(rpc_refusals_add(r, NULL, "x", "TLSHandshake",
	    "AccessDeniedException"), 1);

	/* Past the table, everything shares one entry. */
	for (i = 0; i < 62; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		assert_int_equal(rpc_refusals_add(r, NULL, name, "op", "o"), 1);
	}
	assert_int_equal(rpc_refusals_add(r, NULL, "more", "op", "o"), 1);
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "m%d", i);
		assert_int_equal(rpc_refusals_add(r, NULL, name, "op", "o"), 0);
	}

	/* Closed: nothing more is counted. */
	rpc_refusals_ref(r);
	rpc_refusals_close(r);
	assert_int_equal(rpc_refusals_add(r, NULL, "late", "op", "o"), 0);
	rpc_refusals_unref(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spiffe_id_valid),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_refusals_bounded),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
