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

/* The fields every test event shares: event ${i} of CHAIN, a call. */
static void
base_row(struct cf_audit_row *r, int i)
{

	memset(r, 0, sizeof(*r));
	memcpy(r->chain_id, CHAIN, 37);
	r->seq = i + 1;
	r->time_ms = 1700000000000LL + i;
	r->request_id = "r";
	r->principal = "p";
	r->peer = "ipv4:127.0.0.1:9";
	r->outcome = "OK";
}

/* Link rows[0, m) into a chain: each one's prev_hash, then its hash. */
static void
link_rows(struct cf_audit_row *rows, int m)
{
	uint8_t prev[32] = { 0 };
	int i;

	for (i = 0; i < m; i++) {
		memcpy(rows[i].prev_hash, prev, 32);
		assert_int_equal(audit_row_hash(&rows[i], rows[i].hash), 0);
		memcpy(prev, rows[i].hash, 32);
	}
}

/* A well-formed chain of N events. */
static void
make_chain(struct cf_audit_row *rows)
{
	static const char *ops[N] = { "ServerStart", "CreateSecret",
	    "GetSecretValue", "PutSecretValue", "GetSecretValue",
	    "DeleteSecret" };
	int i;

	for (i = 0; i < N; i++) {
		base_row(&rows[i], i);
		rows[i].operation = ops[i];
		/*
		 * ServerStart has no request (v1); the calls before migration
		 * 0013 have one (v2); after it, they name their transport
		 * (v3): gRPC, then AWS's JSON protocol with a key.
		 */
		rows[i].request_params = i == 0 ? NULL : "{\"SecretId\":\"s\"}";
		rows[i].transport = i < 3 ? NULL : i == 3 ? "grpc" :
		    "aws-json";
		rows[i].access_key_id = i < 4 ? NULL : "CKIAABCDEFGHIJKLMNOP";
	}
	link_rows(rows, N);
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
			audit_check_anchor(&c, 2, rows[1].hash, 3, AUDIT_MAC_OK);
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
			audit_check_anchor(&c, 2, rows[1].hash, 1, AUDIT_MAC_OK);
			from = 2;
			break;
		case T_NO_ANCHOR:
			from = 2;
			break;
		case T_FORGED_ANCHOR_LINK:
			audit_check_anchor(&c, 2, rows[0].hash, 1, AUDIT_MAC_OK);
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

/* ---- unsigned events (issue 14: HMAC once per batch) ------------------- */

#define LONG (AUDIT_MAX_UNSIGNED + 4)

/*
 * A well-formed chain of ${m} events, rows[0, m), whose events ${from}..
 * ${to} (seqs; 0: none) carry no hmac, as a batch's do before its last.
 */
static void
make_unsigned(struct cf_audit_row *rows, int m, int64_t from, int64_t to)
{
	int i;

	for (i = 0; i < m; i++) {
		base_row(&rows[i], i);
		rows[i].operation = i == 0 ? "ServerStart" : "GetSecretValue";
		rows[i].transport = i == 0 ? NULL : "grpc";
		rows[i].hmac_absent = rows[i].seq >= from && rows[i].seq <= to;
	}
	link_rows(rows, m);
}

/*
 * Feed rows[0, m) to a fresh checker (the token's head at ${head}, 0:
 * none asked), with the token's verdict OK on every signed event but
 * ${bad} (BAD), or UNCHECKED when ${offline}.
 */
static void
feed(struct audit_check *c, const struct cf_audit_row *rows, int m,
    int64_t head, int64_t bad, int offline)
{
	int i;

	audit_check_init(c, CHAIN, head ? AUDIT_HEAD_FOUND :
	    AUDIT_HEAD_NOT_ASKED, head, head ? rows[head - 1].hash : NULL);
	for (i = 0; i < m; i++)
		audit_check_row(c, &rows[i], rows[i].hmac_absent ?
		    AUDIT_MAC_ABSENT : offline ? AUDIT_MAC_UNCHECKED :
		    rows[i].seq == bad ? AUDIT_MAC_BAD : AUDIT_MAC_OK);
	audit_check_end(c);
}

static void
expect_broken(const struct audit_check *c, int64_t seq, const char *why)
{

	if (c->ok)
		fail_msg("ok, want broken at %lld (%s)", (long long)seq, why);
	if (c->broken_seq != seq || strstr(c->reason, why) == NULL)
		fail_msg("broken at %lld (%s), want %lld (%s)",
		    (long long)c->broken_seq, c->reason, (long long)seq, why);
}

/* Unsigned events are pending until a signed one's HMAC covers them. */
static void
test_unsigned_covered(void **state)
{
	struct cf_audit_row rows[N];
	struct audit_check c;

	(void)state;
	/* 2..5 unsigned, 6 signed: covered; the count is honest. */
	make_unsigned(rows, N, 2, 5);
	feed(&c, rows, N, N, 0, 0);
	assert_true(c.ok);
	assert_int_equal(c.macs_checked, 2);
	assert_int_equal(c.covered, N);
	assert_int_equal(c.pending_from, 0);

	/* Offline, no token: the same chain passes, nothing is covered. */
	feed(&c, rows, N, 0, 0, 1);
	assert_true(c.ok);
	assert_int_equal(c.macs_checked, 0);
	assert_int_equal(c.covered, 0);

	/*
	 * One genuine hmac set NULL, nothing else changed: acceptable, the
	 * next signed event still proves the content (audit/DESIGN.md).
	 */
	make_unsigned(rows, N, 4, 4);
	feed(&c, rows, N, N, 0, 0);
	assert_true(c.ok);
	assert_int_equal(c.covered, N);

	/*
	 * An unsigned event edited and the hashes recomputed up to the next
	 * signed one, which is kept: that event's HMAC no longer verifies.
	 */
	make_unsigned(rows, N, 2, 5);
	feed(&c, rows, N, N, 6, 0);
	expect_broken(&c, 6, "HMAC does not verify");
	assert_non_null(strstr(c.reason, "events 2..5"));
}

/* The chain ends unsigned: nothing covers its tail. */
static void
test_unsigned_tail(void **state)
{
	struct cf_audit_row rows[N];
	struct audit_check c;
	uint8_t head_hash[32];
	int i;

	(void)state;
	make_unsigned(rows, N, 5, 6);
	feed(&c, rows, N, 0, 0, 0);
	expect_broken(&c, 5, "events 5..6 are covered by no HMAC");
	/* Offline as well: no token could prove them either. */
	feed(&c, rows, N, 0, 0, 1);
	expect_broken(&c, 5, "covered by no HMAC");

	/*
	 * The attack of one who owns the database: event 3 rewritten, the
	 * hashes recomputed from it on and every hmac from it set NULL.  The
	 * token's head (at 6, always a signed event) names it...
	 */
	make_unsigned(rows, N, 0, 0);
	memcpy(head_hash, rows[N - 1].hash, 32);
	rows[2].outcome = "AccessDeniedException";
	for (i = 2; i < N; i++) {
		rows[i].hmac_absent = 1;
		memcpy(rows[i].prev_hash, rows[i - 1].hash, 32);
		assert_int_equal(audit_row_hash(&rows[i], rows[i].hash), 0);
	}
	audit_check_init(&c, CHAIN, AUDIT_HEAD_FOUND, N, head_hash);
	for (i = 0; i < N; i++)
		audit_check_row(&c, &rows[i], rows[i].hmac_absent ?
		    AUDIT_MAC_ABSENT : AUDIT_MAC_OK);
	audit_check_end(&c);
	expect_broken(&c, 3, "events 3..6 are covered by no HMAC");
	/* ...and so does the tail without a head (offline, or cut). */
	feed(&c, rows, N, 0, 0, 0);
	expect_broken(&c, 3, "events 3..6 are covered by no HMAC");
	/*
	 * ...and, when cofferd went on writing (its next event links to the
	 * old hash of event 5), the broken link after them.
	 */
	memset(rows[5].prev_hash, 7, 32);
	assert_int_equal(audit_row_hash(&rows[5], rows[5].hash), 0);
	rows[5].hmac_absent = 0;
	feed(&c, rows, N, 0, 0, 0);
	expect_broken(&c, 3, "events 3..5 are covered by no HMAC: event 6 "
	    "does not follow");

	/* The first event is always signed. */
	make_unsigned(rows, N, 1, 1);
	feed(&c, rows, N, N, 0, 0);
	expect_broken(&c, 1, "event 1 carries no HMAC");
}

/* No run of unsigned events is longer than AUDIT_MAX_UNSIGNED. */
static void
test_unsigned_run(void **state)
{
	static struct cf_audit_row rows[LONG];
	struct audit_check c;

	(void)state;
	/* The longest run cofferd writes: AUDIT_MAX_UNSIGNED. */
	make_unsigned(rows, LONG, 2, 1 + AUDIT_MAX_UNSIGNED);
	feed(&c, rows, LONG, LONG, 0, 0);
	if (!c.ok)
		fail_msg("%s", c.reason);
	assert_int_equal(c.covered, LONG);

	/* One more is a finding, with or without a token. */
	make_unsigned(rows, LONG, 2, 2 + AUDIT_MAX_UNSIGNED);
	feed(&c, rows, LONG, LONG, 0, 0);
	expect_broken(&c, 2, "carry no HMAC: cofferd signs at least every");
	assert_int_equal(c.events, 2 + AUDIT_MAX_UNSIGNED);
	feed(&c, rows, LONG, 0, 0, 1);
	expect_broken(&c, 2, "carry no HMAC");
}

/* An anchor must be a signed event that verifies. */
static void
test_unsigned_anchor(void **state)
{
	struct cf_audit_row rows[N];
	struct audit_check c;
	int i;

	(void)state;
	make_unsigned(rows, N, 2, 3);
	audit_check_init(&c, CHAIN, AUDIT_HEAD_FOUND, N, rows[N - 1].hash);
	audit_check_anchor(&c, 2, rows[1].hash, 1, AUDIT_MAC_ABSENT);
	for (i = 2; i < N; i++)
		audit_check_row(&c, &rows[i], rows[i].hmac_absent ?
		    AUDIT_MAC_ABSENT : AUDIT_MAC_OK);
	audit_check_end(&c);
	expect_broken(&c, 3, "anchor at event 2 carries no HMAC");
	assert_false(c.anchored);

	/* An anchor whose hmac does not verify: invented. */
	audit_check_init(&c, CHAIN, AUDIT_HEAD_FOUND, N, rows[N - 1].hash);
	audit_check_anchor(&c, 4, rows[3].hash, 1, AUDIT_MAC_BAD);
	expect_broken(&c, 5, "not made from a real event");

	/* At a signed event, what follows is checked as usual. */
	audit_check_init(&c, CHAIN, AUDIT_HEAD_FOUND, N, rows[N - 1].hash);
	audit_check_anchor(&c, 4, rows[3].hash, 1, AUDIT_MAC_OK);
	for (i = 4; i < N; i++)
		audit_check_row(&c, &rows[i], AUDIT_MAC_OK);
	audit_check_end(&c);
	assert_true(c.ok);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answer),
		cmocka_unit_test(test_known_answer_v2),
		cmocka_unit_test(test_known_answer_v3),
		cmocka_unit_test(test_checker),
		cmocka_unit_test(test_unsigned_covered),
		cmocka_unit_test(test_unsigned_tail),
		cmocka_unit_test(test_unsigned_run),
		cmocka_unit_test(test_unsigned_anchor),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
