/*
 * audit_test.c: the audit event hash (known answers for formats v1, v2
 * and v3, computed by the independent Python encoder in
 * tests/e2e/test_audit.py) and the chain checker over a table of
 * tamperings, on a chain that mixes the three formats as a chain that
 * spans migrations 0008 and 0013 does.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "audit.h"

#define CHAIN "00000000-0000-4000-8000-000000000001"
#define N 6

static void
from_hex(const char *s, uint8_t *out)
{
	unsigned int v;
	size_t i;

	for (i = 0; i < 32; i++) {
		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static void
test_known_answer(void **state)
{
	struct cf_audit_row r;
	uint8_t want[32], got[32];

	(void)state;
	memset(&r, 0, sizeof(r));
	memcpy(r.chain_id, CHAIN, 37);
	r.seq = 1;
	r.time_ms = 1700000000123LL;
	r.request_id = "req-1";
	r.principal = "spiffe://corp/a";
	r.peer = "ipv4:127.0.0.1:1";
	r.operation = "GetSecretValue";
	r.secret_arn = "arn:aws:secretsmanager:local-1:000000000000:secret:"
	    "x-AbCdEf";
	r.version_id = NULL;
	r.outcome = "OK";
	from_hex("a56a7b49fc8aec8a70f1e708d923134ff1063995ce2e0cfa345f2241"
	    "edabd5e1", want);
	assert_int_equal(audit_row_hash(&r, got), 0);
	assert_memory_equal(got, want, 32);

	/* NULL and "" are different events. */
	r.version_id = "";
	assert_int_equal(audit_row_hash(&r, got), 0);
	assert_memory_not_equal(got, want, 32);
}

/* Format v2: the same event with the request's parameters. */
static void
test_known_answer_v2(void **state)
{
	struct cf_audit_row r;
	uint8_t v1[32], want[32], got[32];

	(void)state;
	memset(&r, 0, sizeof(r));
	memcpy(r.chain_id, CHAIN, 37);
	r.seq = 1;
	r.time_ms = 1700000000123LL;
	r.request_id = "req-1";
	r.principal = "spiffe://corp/a";
	r.peer = "ipv4:127.0.0.1:1";
	r.operation = "GetSecretValue";
	r.secret_arn = "arn:aws:secretsmanager:local-1:000000000000:secret:"
	    "x-AbCdEf";
	r.outcome = "OK";
	assert_int_equal(audit_row_hash(&r, v1), 0);
	r.request_params = "{\"SecretId\":\"x\",\"VersionStage\":\"AWSCURRENT\"}";
	from_hex("597e4e9cf0d6d6c69b05f87de66749918c6594eb8983f9ec70fc475b"
	    "71b503d8", want);
	assert_int_equal(audit_row_hash(&r, got), 0);
	assert_memory_equal(got, want, 32);

	/* Without them it is v1 again; "{}" and "" are parameters too. */
	r.request_params = NULL;
	assert_int_equal(audit_row_hash(&r, got), 0);
	assert_memory_equal(got, v1, 32);
	r.request_params = "";
	assert_int_equal(audit_row_hash(&r, got), 0);
	assert_memory_not_equal(got, v1, 32);
	assert_memory_not_equal(got, want, 32);
}

/*
 * Format v3: the same event, carried by AWS's JSON protocol and signed with
 * an access key; and a gRPC call without parameters, which v3 encodes as
 * NULL (0x00) where v2 would have been v1.
 */
static void
test_known_answer_v3(void **state)
{
	struct cf_audit_row r;
	uint8_t v2[32], want[32], got[32];

	(void)state;
	memset(&r, 0, sizeof(r));
	memcpy(r.chain_id, CHAIN, 37);
	r.seq = 1;
	r.time_ms = 1700000000123LL;
	r.request_id = "req-1";
	r.principal = "spiffe://corp/a";
	r.peer = "ipv4:127.0.0.1:1";
	r.operation = "GetSecretValue";
	r.secret_arn = "arn:aws:secretsmanager:local-1:000000000000:secret:"
	    "x-AbCdEf";
	r.outcome = "OK";
	r.request_params = "{\"SecretId\":\"x\",\"VersionStage\":\"AWSCURRENT\"}";
	assert_int_equal(audit_row_hash(&r, v2), 0);
	r.transport = "aws-json";
	r.access_key_id = "CKIAABCDEFGHIJKLMNOP";
	from_hex("527fa1f0e9645f4538dd96f8494984850eba36fbf266653e893cf36b"
	    "a9ba7a2b", want);
	assert_int_equal(audit_row_hash(&r, got), 0);
	assert_memory_equal(got, want, 32);

	/* Another key, or none, is another event. */
	r.access_key_id = "CKIAABCDEFGHIJKLMNOQ";
	assert_int_equal(audit_row_hash(&r, got), 0);
	assert_memory_not_equal(got, want, 32);
	r.access_key_id = NULL;
	assert_int_equal(audit_row_hash(&r, got), 0);
	assert_memory_not_equal(got, want, 32);

	/* Without a transport it is v2 again. */
	r.transport = NULL;
	assert_int_equal(audit_row_hash(&r, got), 0);
	assert_memory_equal(got, v2, 32);

	/* A key id alone (never written) is v3 too: it cannot pass for v2. */
	r.access_key_id = "CKIAABCDEFGHIJKLMNOP";
	assert_int_equal(audit_row_hash(&r, got), 0);
	assert_memory_not_equal(got, v2, 32);
	assert_memory_not_equal(got, want, 32);

	/* gRPC, no parameters: v3 with both NULL. */
	r.transport = "grpc";
	r.access_key_id = NULL;
	r.request_params = NULL;
	from_hex("6d439dc9f11208445ff0330333108212d32d7e15d983dab5c32a4aa3"
	    "909ad2c4", want);
	assert_int_equal(audit_row_hash(&r, got), 0);
	assert_memory_equal(got, want, 32);
}

/* A well-formed chain of N events. */
static void
make_chain(struct cf_audit_row *rows)
{
	static const char *ops[N] = { "ServerStart", "CreateSecret",
	    "GetSecretValue", "PutSecretValue", "GetSecretValue",
	    "DeleteSecret" };
	uint8_t prev[32] = { 0 };
	int i;

	for (i = 0; i < N; i++) {
		memset(&rows[i], 0, sizeof(rows[i]));
		memcpy(rows[i].chain_id, CHAIN, 37);
		rows[i].seq = i + 1;
		rows[i].time_ms = 1700000000000LL + i;
		rows[i].request_id = "r";
		rows[i].principal = "p";
		rows[i].peer = "ipv4:127.0.0.1:9";
		rows[i].operation = ops[i];
		rows[i].outcome = "OK";
		/*
		 * ServerStart has no request (v1); the calls before migration
		 * 0013 have one (v2); after it, they name their transport
		 * (v3): gRPC, then AWS's JSON protocol with a key.
		 */
		rows[i].request_params = i == 0 ? NULL : "{\"SecretId\":\"s\"}";
		rows[i].transport = i < 3 ? NULL : i == 3 ? "grpc" :
		    "aws-json";
		rows[i].access_key_id = i < 4 ? NULL : "CKIAABCDEFGHIJKLMNOP";
		memcpy(rows[i].prev_hash, prev, 32);
		assert_int_equal(audit_row_hash(&rows[i], rows[i].hash), 0);
		memcpy(prev, rows[i].hash, 32);
	}
}

enum tamper {
	T_NONE, T_DELETE_3, T_EDIT_4, T_SWAP_2_3, T_DUP_5, T_BAD_MAC_6,
	T_TRUNCATE_2, T_HEAD_HASH, T_NO_HEAD, T_ANCHOR, T_NO_ANCHOR,
	T_FORGED_ANCHOR_LINK, T_EMPTY_WITH_HEAD, T_OFFLINE, T_EDIT_PARAMS_3,
	T_STRIP_PARAMS_3, T_ADD_PARAMS_1, T_EDIT_TRANSPORT_4,
	T_STRIP_TRANSPORT_4, T_ADD_TRANSPORT_2, T_EDIT_KEY_5, T_STRIP_KEY_6,
	T_ADD_KEY_3, T_STRIP_PARAMS_5, T_KEY_ROTATED_4, T_KEY_BACK_5,
	T_ANCHOR_KEY_BACK
};

static const struct {
	const char *what;
	enum tamper t;
	int ok;
	int64_t broken;
	const char *reason;
} cases[] = {
	{ "untouched", T_NONE, 1, 0, NULL },
	{ "event 3 deleted", T_DELETE_3, 0, 3, "missing" },
	{ "event 4 edited", T_EDIT_4, 0, 4, "altered" },
	{ "events 2 and 3 swapped", T_SWAP_2_3, 0, 2, "altered" },
	{ "event 5 twice", T_DUP_5, 0, 5, "twice" },
	{ "event 6 forged", T_BAD_MAC_6, 0, 6, "HMAC" },
	{ "last two cut off", T_TRUNCATE_2, 0, 5, "cut off" },
	{ "head hash differs", T_HEAD_HASH, 0, 6, "head" },
	{ "token has no head", T_NO_HEAD, 0, 6, "no head" },
	{ "archived up to 2, anchored", T_ANCHOR, 1, 0, NULL },
	{ "events 1-2 gone, no anchor", T_NO_ANCHOR, 0, 1, "missing" },
	{ "anchor does not link", T_FORGED_ANCHOR_LINK, 0, 3, "follow" },
	{ "every event gone", T_EMPTY_WITH_HEAD, 0, 1, "every event" },
	{ "offline, no token", T_OFFLINE, 1, 0, NULL },
	{ "event 3's parameters edited", T_EDIT_PARAMS_3, 0, 3, "altered" },
	{ "event 3's parameters removed (v2 -> v1)", T_STRIP_PARAMS_3, 0, 3,
	    "altered" },
	{ "parameters added to event 1 (v1 -> v2)", T_ADD_PARAMS_1, 0, 1,
	    "altered" },
	{ "event 4's transport edited", T_EDIT_TRANSPORT_4, 0, 4, "altered" },
	{ "event 4's transport removed (v3 -> v2)", T_STRIP_TRANSPORT_4, 0, 4,
	    "altered" },
	{ "transport added to event 2 (v2 -> v3)", T_ADD_TRANSPORT_2, 0, 2,
	    "altered" },
	{ "event 5's access key id edited", T_EDIT_KEY_5, 0, 5, "altered" },
	{ "event 6's access key id removed", T_STRIP_KEY_6, 0, 6, "altered" },
	{ "an access key id alone added to event 3", T_ADD_KEY_3, 0, 3,
	    "altered" },
	{ "event 5's parameters removed (v3)", T_STRIP_PARAMS_5, 0, 5,
	    "altered" },
	{ "audit key version 2 from event 4 on", T_KEY_ROTATED_4, 1, 0, NULL },
	{ "event 5 under version 1 after version 2", T_KEY_BACK_5, 0, 5,
	    "older than version 2" },
	{ "version 1 after an anchor under version 3", T_ANCHOR_KEY_BACK, 0, 3,
	    "older than version 3" },
};

static void
test_checker(void **state)
{
	struct cf_audit_row rows[N], tmp;
	uint8_t head_hash[32];
	struct audit_check c;
	enum audit_mac mac;
	size_t k;
	int i, from, known;

	(void)state;
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		make_chain(rows);
		memcpy(head_hash, rows[N - 1].hash, 32);
		known = cases[k].t != T_OFFLINE;
		if (cases[k].t == T_HEAD_HASH)
			head_hash[0] ^= 1;
		audit_check_init(&c, CHAIN, !known ? AUDIT_HEAD_NOT_ASKED :
		    cases[k].t == T_NO_HEAD ? AUDIT_HEAD_NONE :
		    AUDIT_HEAD_FOUND, N, head_hash);
		from = 0;
		switch (cases[k].t) {
		case T_EDIT_4:
			rows[3].outcome = "AccessDeniedException";
			break;
		case T_EDIT_PARAMS_3:
			rows[2].request_params = "{\"SecretId\":\"other\"}";
			break;
		case T_STRIP_PARAMS_3:
			rows[2].request_params = NULL;
			break;
		case T_ADD_PARAMS_1:
			rows[0].request_params = "{}";
			break;
		case T_EDIT_TRANSPORT_4:
			rows[3].transport = "aws-json";
			break;
		case T_STRIP_TRANSPORT_4:
			rows[3].transport = NULL;
			break;
		case T_ADD_TRANSPORT_2:
			rows[1].transport = "grpc";
			break;
		case T_EDIT_KEY_5:
			rows[4].access_key_id = "CKIAABCDEFGHIJKLMNOQ";
			break;
		case T_STRIP_KEY_6:
			rows[5].access_key_id = NULL;
			break;
		case T_ADD_KEY_3:
			rows[2].access_key_id = "CKIAABCDEFGHIJKLMNOP";
			break;
		case T_STRIP_PARAMS_5:
			rows[4].request_params = NULL;
			break;
		case T_KEY_ROTATED_4:
		case T_KEY_BACK_5:
			/* Not hashed: the token's HMAC checks the version. */
			for (i = 3; i < N; i++)
				rows[i].mac_version = 2;
			if (cases[k].t == T_KEY_BACK_5)
				rows[4].mac_version = 1;
			break;
		case T_ANCHOR_KEY_BACK:
			audit_check_anchor(&c, 2, rows[1].hash, 3);
			from = 2;
			break;
		case T_SWAP_2_3:
			tmp = rows[1];
			rows[1] = rows[2];
			rows[2] = tmp;
			rows[1].seq = 2;
			rows[2].seq = 3;
			break;
		case T_ANCHOR:
			audit_check_anchor(&c, 2, rows[1].hash, 1);
			from = 2;
			break;
		case T_NO_ANCHOR:
			from = 2;
			break;
		case T_FORGED_ANCHOR_LINK:
			audit_check_anchor(&c, 2, rows[0].hash, 1);
			from = 2;
			break;
		default:
			break;
		}
		for (i = from; i < N && cases[k].t != T_EMPTY_WITH_HEAD; i++) {
			if ((cases[k].t == T_DELETE_3 && i == 2) ||
			    (cases[k].t == T_TRUNCATE_2 && i >= N - 2))
				continue;
			mac = !known ? AUDIT_MAC_UNCHECKED :
			    cases[k].t == T_BAD_MAC_6 && i == 5 ?
			    AUDIT_MAC_BAD : AUDIT_MAC_OK;
			audit_check_row(&c, &rows[i], mac);
			if (cases[k].t == T_DUP_5 && i == 4)
				audit_check_row(&c, &rows[i], mac);
		}
		audit_check_end(&c);
		if (c.ok != cases[k].ok)
			fail_msg("%s: ok %d, want %d (%s)", cases[k].what, c.ok,
			    cases[k].ok, c.reason);
		if (!c.ok) {
			if (c.broken_seq != cases[k].broken)
				fail_msg("%s: broken at %lld, want %lld (%s)",
				    cases[k].what, (long long)c.broken_seq,
				    (long long)cases[k].broken, c.reason);
			if (strstr(c.reason, cases[k].reason) == NULL)
				fail_msg("%s: reason \"%s\" lacks \"%s\"",
				    cases[k].what, c.reason, cases[k].reason);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answer),
		cmocka_unit_test(test_known_answer_v2),
		cmocka_unit_test(test_known_answer_v3),
		cmocka_unit_test(test_checker),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
