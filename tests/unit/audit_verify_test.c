/*
 * audit_verify_test.c: the walk of a chain (audit_verify_chain) over a
 * table of cases: whole and bounded walks, a walk resumed where a bound
 * stopped it, a deadline between pages, the online judgments of a chain's
 * end (a head lost to a crash, an unanchored tail, this server's own
 * chain) and a failing source.  The checker's own findings are
 * audit_test.c's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "audit.h"

#define CHAIN "00000000-0000-4000-8000-000000000002"
#define OTHER "00000000-0000-4000-8000-000000000003"
#define N 6
#define T0 1700000000000LL
#define STEP_MS 1000			/* between two events of the chain */

/* A well-formed chain of N events, one every STEP_MS. */
static void
make_chain(struct cf_audit_row *rows)
{
	uint8_t prev[32] = { 0 };
	int i;

	for (i = 0; i < N; i++) {
		memset(&rows[i], 0, sizeof(rows[i]));
		memcpy(rows[i].chain_id, CHAIN, 37);
		rows[i].seq = i + 1;
		rows[i].time_ms = T0 + i * STEP_MS;
		rows[i].request_id = "r";
		rows[i].principal = "p";
		rows[i].peer = "ipv4:127.0.0.1:9";
		rows[i].operation = "GetSecretValue";
		rows[i].outcome = "OK";
		rows[i].request_params = i == 0 ? NULL : "{\"SecretId\":\"s\"}";
		memcpy(rows[i].prev_hash, prev, 32);
		assert_int_equal(audit_row_hash(&rows[i], rows[i].hash), 0);
		memcpy(prev, rows[i].hash, 32);
	}
}

/* rows[next, N) in pages of at most ${page}; a bad hmac at ${bad_mac}. */
struct src {
	const struct cf_audit_row *rows;
	size_t next, page;
	int64_t bad_mac;		/* 0: none */
	int fail_fetch;			/* fetch fails */
	int fetches, macs;
};

static int
fetch(void *arg, size_t want, const struct cf_audit_row **out,
    size_t *out_n, int *out_more, struct cf_error *err)
{
	struct src *s = arg;
	size_t n = want < s->page ? want : s->page;

	assert_true(want >= 1);
	s->fetches++;
	if (s->fail_fetch) {
		cf_error_set(err, CF_ERR_UNAVAILABLE, "the source failed");
		return (-1);
	}
	if (n > N - s->next)
		n = N - s->next;
	*out = &s->rows[s->next];
	*out_n = n;
	s->next += n;
	*out_more = s->next < N;
	return (0);
}

static int
mac(void *arg, const struct cf_audit_row *r, enum audit_mac *out,
    struct cf_error *err)
{
	struct src *s = arg;

	(void)err;
	s->macs++;
	*out = r->seq == s->bad_mac ? AUDIT_MAC_BAD : AUDIT_MAC_OK;
	return (0);
}

enum kind {
	K_OFFLINE,		/* no token, no view */
	K_ONLINE,		/* the token's head at the end, a view */
	K_BOUND_4,		/* events_left 4 */
	K_RESUMED_AT_4,		/* after event 4, as the next call */
	K_DEADLINE,		/* pages of 2, deadline already past */
	K_BAD_MAC_3,
	K_LOST_HEAD_SHORT,	/* no head, spans <= in flight */
	K_LOST_HEAD_LONG,	/* no head, spans longer */
	K_LOST_HEAD_RESUMED,	/* no head, not walked whole in this call */
	K_LOST_HEAD_OWN,	/* no head, this server's chain */
	K_NO_HEADS_AT_ALL,	/* the token holds no head of the deployment */
	K_TAIL_SHORT,		/* head at 4, tail 5..6 in flight */
	K_TAIL_LONG,		/* head at 4, tail spans longer */
	K_OWN_SYNCED,		/* own chain, head at 4, synced at 4 */
	K_OWN_BEHIND,		/* own chain, head at 4, synced at 6 */
	K_OWN_NOT_SYNCED,	/* own chain, head at 4, did not catch up */
	K_FETCH_FAILS,
};

static const struct {
	const char *what;
	enum kind k;
	int rc;			/* audit_verify_chain's return */
	int ok;
	int64_t broken;
	const char *reason;
	int64_t events;
	int64_t stop_seq;
} cases[] = {
	{ "offline, whole", K_OFFLINE, 0, 1, 0, NULL, N, 0 },
	{ "online, head at the end", K_ONLINE, 0, 1, 0, NULL, N, 0 },
	{ "bound of 4 events", K_BOUND_4, 0, 1, 0, NULL, 4, 4 },
	{ "resumed after event 4", K_RESUMED_AT_4, 0, 1, 0, NULL, 2, 0 },
	{ "deadline between pages", K_DEADLINE, 0, 1, 0, NULL, 2, 2 },
	{ "event 3's hmac", K_BAD_MAC_3, 0, 0, 3, "HMAC", 3, 0 },
	{ "head lost, short chain", K_LOST_HEAD_SHORT, 0, 1, 0, NULL, N, 0 },
	{ "head lost, long chain", K_LOST_HEAD_LONG, 0, 0, N, "no head", N,
	    0 },
	{ "head lost, resumed", K_LOST_HEAD_RESUMED, 0, 0, N, "no head", 2,
	    0 },
	{ "head lost, own chain", K_LOST_HEAD_OWN, 0, 0, N, "no head", N, 0 },
	{ "no heads at all", K_NO_HEADS_AT_ALL, 0, 0, N, "no head", N, 0 },
	{ "tail in flight", K_TAIL_SHORT, 0, 1, 0, NULL, N, 0 },
	{ "tail not anchored", K_TAIL_LONG, 0, 0, 5, "not anchored", N, 0 },
	{ "own chain, synced", K_OWN_SYNCED, 0, 1, 0, NULL, N, 0 },
	{ "own chain, head behind", K_OWN_BEHIND, 0, 0, 5, "not anchored", N,
	    0 },
	{ "own chain, not synced", K_OWN_NOT_SYNCED, 0, 0, 5, "not anchored",
	    N, 0 },
	{ "the source fails", K_FETCH_FAILS, -1, 1, 0, NULL, 0, 0 },
};

static void
test_walk(void **state)
{
	struct cf_audit_row rows[N];
	struct cf_error err = { CF_OK, "" };
	struct audit_head_view hv;
	struct audit_own_head own[2];
	struct audit_bound b;
	struct audit_check c;
	struct audit_source as;
	struct src s;
	enum audit_head head;
	int64_t head_seq, after_head_ms;
	size_t k;
	int rc, resumed;

	(void)state;
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		enum kind t = cases[k].k;

		make_chain(rows);
		memset(&s, 0, sizeof(s));
		s.rows = rows;
		s.page = t == K_DEADLINE ? 2 : AUDIT_VERIFY_PAGE;
		s.bad_mac = t == K_BAD_MAC_3 ? 3 : 0;
		s.fail_fetch = t == K_FETCH_FAILS;
		as.fetch = fetch;
		as.mac = t == K_OFFLINE ? NULL : mac;
		as.arg = &s;

		/*
		 * Another server's chain, in flight for 2.5 events; this
		 * server writes OTHER (and, below, CHAIN as its second lane).
		 */
		own[0].chain_id = OTHER;
		own[0].synced = 0;
		hv.own = own;
		hv.n_own = 1;
		hv.in_flight_ms = 5 * STEP_MS / 2;
		hv.any_heads = t != K_NO_HEADS_AT_ALL;
		b.events_left = t == K_BOUND_4 ? 4 : 1000000;
		b.deadline_ms = t == K_DEADLINE ? 0 : INT64_MAX;
		b.stop_seq = 0;

		/* The token's head. */
		head = AUDIT_HEAD_FOUND;
		head_seq = N;
		switch (t) {
		case K_OFFLINE:
			head = AUDIT_HEAD_NOT_ASKED;
			break;
		case K_LOST_HEAD_SHORT:
		case K_LOST_HEAD_LONG:
		case K_LOST_HEAD_RESUMED:
		case K_LOST_HEAD_OWN:
		case K_NO_HEADS_AT_ALL:
			head = AUDIT_HEAD_NONE;
			break;
		case K_TAIL_SHORT:
		case K_TAIL_LONG:
		case K_OWN_SYNCED:
		case K_OWN_BEHIND:
		case K_OWN_NOT_SYNCED:
			head_seq = 4;
			break;
		default:
			break;
		}
		if (t == K_OWN_SYNCED || t == K_OWN_BEHIND ||
		    t == K_OWN_NOT_SYNCED || t == K_LOST_HEAD_OWN)
			hv.n_own = 2;
		own[1].chain_id = CHAIN;
		own[1].synced = t == K_OWN_SYNCED ? 4 : t == K_OWN_BEHIND ? N :
		    -1;
		if (t == K_LOST_HEAD_SHORT || t == K_LOST_HEAD_RESUMED ||
		    t == K_LOST_HEAD_OWN || t == K_NO_HEADS_AT_ALL)
			/* The whole chain spans 5 steps: in flight but for. */
			hv.in_flight_ms = 5 * STEP_MS;
		if (t == K_TAIL_SHORT)
			/* The tail 5..6 spans one step. */
			hv.in_flight_ms = STEP_MS;
		if (t == K_TAIL_LONG)
			hv.in_flight_ms = STEP_MS / 2;
		audit_check_init(&c, CHAIN, head, head_seq,
		    rows[head_seq - 1].hash);

		/* Where the walk starts. */
		resumed = 0;
		after_head_ms = 0;
		if (t == K_RESUMED_AT_4 || t == K_LOST_HEAD_RESUMED) {
			audit_check_anchor(&c, 4, rows[3].hash,
			    rows[3].mac_version, AUDIT_MAC_OK);
			s.next = 4;
			resumed = 1;
		}

		rc = audit_verify_chain(&c, &as, t == K_OFFLINE ? NULL : &hv,
		    resumed, after_head_ms, &b, &err);
		if (rc != cases[k].rc)
			fail_msg("%s: returned %d, want %d", cases[k].what, rc,
			    cases[k].rc);
		if (rc != 0) {
			assert_int_equal(err.code, CF_ERR_UNAVAILABLE);
			continue;
		}
		if (c.ok != cases[k].ok)
			fail_msg("%s: ok %d, want %d (%s)", cases[k].what, c.ok,
			    cases[k].ok, c.reason);
		if (c.events != cases[k].events)
			fail_msg("%s: %lld events, want %lld", cases[k].what,
			    (long long)c.events, (long long)cases[k].events);
		if (b.stop_seq != cases[k].stop_seq)
			fail_msg("%s: stopped at %lld, want %lld",
			    cases[k].what, (long long)b.stop_seq,
			    (long long)cases[k].stop_seq);
		if (!c.ok) {
			if (c.broken_seq != cases[k].broken)
				fail_msg("%s: broken at %lld, want %lld (%s)",
				    cases[k].what, (long long)c.broken_seq,
				    (long long)cases[k].broken, c.reason);
			if (strstr(c.reason, cases[k].reason) == NULL)
				fail_msg("%s: reason \"%s\" lacks \"%s\"",
				    cases[k].what, c.reason, cases[k].reason);
		}

		/* No hmac is asked for past the first finding. */
		if (t == K_BAD_MAC_3)
			assert_int_equal(s.macs, 3);
		if (t == K_OFFLINE)
			assert_int_equal(s.macs, 0);
	}
}

/* A chain a bound cut into three parts verifies as the whole does. */
static void
test_parts(void **state)
{
	struct cf_audit_row rows[N];
	struct cf_error err = { CF_OK, "" };
	struct audit_own_head own = { OTHER, 0 };
	struct audit_head_view hv = { &own, 1, STEP_MS, 1 };
	struct audit_bound b;
	struct audit_check c;
	struct audit_source as;
	struct src s;
	int64_t after = 0, total = 0;
	int parts = 0;

	(void)state;
	make_chain(rows);
	memset(&s, 0, sizeof(s));
	s.rows = rows;
	s.page = AUDIT_VERIFY_PAGE;
	as.fetch = fetch;
	as.mac = mac;
	as.arg = &s;
	do {
		/* Each call: two events, then it goes on after the last. */
		audit_check_init(&c, CHAIN, AUDIT_HEAD_FOUND, N,
		    rows[N - 1].hash);
		if (after > 0)
			audit_check_anchor(&c, after, rows[after - 1].hash,
			    rows[after - 1].mac_version, AUDIT_MAC_OK);
		b.events_left = 2;
		b.deadline_ms = INT64_MAX;
		b.stop_seq = 0;
		assert_int_equal(audit_verify_chain(&c, &as, &hv, after > 0, 0,
		    &b, &err), 0);
		assert_true(c.ok);
		total += c.events;
		after = b.stop_seq;
		parts++;
	} while (after != 0);
	assert_int_equal(parts, 3);
	assert_int_equal(total, N);
	assert_true(c.head_matched);
}

/*
 * Issue 14: events 2, 3 and 5 unsigned (a batch's, before its last).  A
 * bound that runs out at an unsigned event walks on to the next signed
 * one, where the next call resumes (and checks its hmac again); only the
 * signed events are asked of the token.  Pages of ${page}.
 */
static void
parts_unsigned(size_t page)
{
	struct cf_audit_row rows[N];
	struct cf_error err = { CF_OK, "" };
	struct audit_own_head own = { OTHER, 0 };
	struct audit_head_view hv = { &own, 1, STEP_MS, 1 };
	struct audit_bound b;
	struct audit_check c;
	struct audit_source as;
	struct src s;
	int64_t after = 0, total = 0, stops[N];
	int parts = 0, i;

	make_chain(rows);
	rows[1].hmac_absent = rows[2].hmac_absent = rows[4].hmac_absent = 1;
	memset(&s, 0, sizeof(s));
	s.rows = rows;
	s.page = page;
	as.fetch = fetch;
	as.mac = mac;
	as.arg = &s;
	do {
		/* Each call: two events, then on to a signed one. */
		audit_check_init(&c, CHAIN, AUDIT_HEAD_FOUND, N,
		    rows[N - 1].hash);
		if (after > 0) {
			assert_false(rows[after - 1].hmac_absent);
			audit_check_anchor(&c, after, rows[after - 1].hash,
			    rows[after - 1].mac_version, AUDIT_MAC_OK);
			s.next = (size_t)after;
		}
		b.events_left = 2;
		b.deadline_ms = INT64_MAX;
		b.stop_seq = 0;
		assert_int_equal(audit_verify_chain(&c, &as, &hv, after > 0, 0,
		    &b, &err), 0);
		if (!c.ok)
			fail_msg("page %zu: %s", page, c.reason);
		total += c.events;
		after = b.stop_seq;
		stops[parts++] = after;
	} while (after != 0 && parts < N);
	/* 1..4 (past the bound at 2, to 4), then 5..6. */
	assert_int_equal(parts, 2);
	assert_int_equal(stops[0], 4);
	assert_int_equal(total, N);
	assert_int_equal(s.macs, 3);
	assert_true(c.head_matched);

	/* A tail of unsigned events past the bound: walked to the end. */
	make_chain(rows);
	for (i = 2; i < N; i++)
		rows[i].hmac_absent = 1;
	memset(&s, 0, sizeof(s));
	s.rows = rows;
	s.page = page;
	audit_check_init(&c, CHAIN, AUDIT_HEAD_NOT_ASKED, 0, NULL);
	b.events_left = 3;
	b.deadline_ms = INT64_MAX;
	b.stop_seq = 0;
	assert_int_equal(audit_verify_chain(&c, &as, NULL, 0, 0, &b, &err), 0);
	assert_int_equal(b.stop_seq, 0);
	assert_false(c.ok);
	assert_int_equal(c.broken_seq, 3);
	assert_non_null(strstr(c.reason, "covered by no HMAC"));
}

static void
test_parts_unsigned(void **state)
{

	(void)state;
	parts_unsigned(1);
	parts_unsigned(2);
	parts_unsigned(AUDIT_VERIFY_PAGE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_walk),
		cmocka_unit_test(test_parts),
		cmocka_unit_test(test_parts_unsigned),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
