"""End-to-end tests of bounded work (issue 11, items 14 and 15): statement
timeouts per request class, ListIdentityPolicies paging, VerifyAuditLog in
bounded parts that coffer follows to the end, and a KmsKeyId that is only
looked up once the caller is authorized (no existence oracle).

Real cofferd, PostgreSQL and SoftHSM; calls through Python grpcio and coffer.
"""
import json
import unittest

import grpc

from tests.e2e import harness as h
from tests.e2e.harness import error_type, pb, token

SM = "/coffer.v1.SecretsManager/"
IDP = "/coffer.v1.IdentityPolicies/"
AUDIT = "/coffer.v1.Audit/"
A = "spiffe://coffer.test/ns/prod/sa/alpha"


def setUpModule():
    pb()


def call(channel, op, service=SM, **fields):
    sm, _ = pb()
    method = channel.unary_unary(
        service + op, request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=getattr(sm, op + "Response").FromString)
    return method(getattr(sm, op + "Request")(**fields), timeout=60)


def edited(tok):
    """${tok} with its last character changed."""
    return tok[:-1] + ("1" if tok[-1] == "0" else "0")


def fails(channel, op, service=SM, **fields):
    """(AWS exception name, gRPC code, message) of a call that must fail."""
    try:
        call(channel, op, service, **fields)
    except grpc.RpcError as e:
        return error_type(e), e.code(), e.details()
    raise AssertionError(f"{op} {fields} succeeded")


class KmsKeyOracleTest(unittest.TestCase):
    """A caller denied CreateSecret/UpdateSecret learns nothing about which
    KmsKeyIds exist: the same AccessDeniedException either way."""

    @classmethod
    def setUpClass(cls):
        cls.pki = h.Certs()
        cls.db = h.fresh_database("bounds_kms")
        cls.server = h.Server(cls.db, tls=cls.pki).start()
        cls.a_cert = cls.pki.client("alpha", A)

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        cls.pki.destroy()
        if rc != 0:
            raise AssertionError(f"cofferd exited {rc}:\n{cls.server.output()}")

    def setUp(self):
        self.admin = self.server.open_channel()
        self.a = self.server.open_channel(self.a_cert)
        self.addCleanup(self.admin.close)
        self.addCleanup(self.a.close)

    def test_create_secret_denied_whether_or_not_the_key_exists(self):
        name = "kms-oracle-" + token()[:8]
        seen = set()
        for key in ("alias/coffer-kek", "alias/no-such-kek-" + token()[:8]):
            t, code, msg = fails(self.a, "CreateSecret", name=name,
                                 kms_key_id=key, secret_string="v",
                                 client_request_token=token())
            self.assertEqual((t, code), ("AccessDeniedException",
                                         grpc.StatusCode.PERMISSION_DENIED), msg)
            seen.add(msg)
        self.assertEqual(len(seen), 1, seen)

    def test_update_secret_denied_whether_or_not_the_key_exists(self):
        name = "kms-oracle-upd-" + token()[:8]
        call(self.admin, "CreateSecret", name=name, secret_string="v",
             client_request_token=token())
        seen = set()
        for key in ("alias/coffer-kek", "alias/no-such-kek-" + token()[:8]):
            t, code, msg = fails(self.a, "UpdateSecret", secret_id=name,
                                 kms_key_id=key)
            self.assertEqual(t, "AccessDeniedException", msg)
            seen.add(msg)
        self.assertEqual(len(seen), 1, seen)

    def test_an_authorized_caller_still_hears_of_a_missing_key(self):
        name = "kms-missing-" + token()[:8]
        t, _, msg = fails(self.admin, "CreateSecret", name=name,
                          kms_key_id="alias/no-such-kek", secret_string="v",
                          client_request_token=token())
        self.assertEqual(t, "EncryptionFailure", msg)
        # Nothing was half-written.
        self.assertEqual(fails(self.admin, "DescribeSecret", secret_id=name)[0],
                         "ResourceNotFoundException")


class StatementTimeoutTest(unittest.TestCase):
    """A listing over its list_statement_timeout_ms is cancelled by
    PostgreSQL and fails with RequestTimeoutException; ordinary requests run
    under their own (longer) bound on the same connections."""

    ROWS = 20000

    @classmethod
    def setUpClass(cls):
        cls.db = h.fresh_database("bounds_timeout")
        # Many secrets, written directly: a regex filter must scan them all.
        h.psql(h.admin(cls.db),
               "INSERT INTO secrets (uuid, name, arn, description) "
               "SELECT gen_random_uuid(), 'bulk-' || i, "
               "'arn:aws:secretsmanager:local-1:000000000000:secret:bulk-' "
               f"|| i || '-abcdef', 'row ' || i FROM generate_series(1, {cls.ROWS}) i")
        cls.server = h.Server(cls.db, extra_env={
            "COFFER_LIST_STATEMENT_TIMEOUT_MS": "1",
            "COFFER_STATEMENT_TIMEOUT_MS": "5000"}).start()
        # Many audit events (the server made this month's partitions): a
        # filter on the operation has no index.
        h.psql(h.admin(cls.db),
               "SET session_replication_role = replica; "
               "INSERT INTO audit_events (chain_id, seq, event_time, "
               "request_id, principal, peer, operation, outcome, prev_hash, "
               "hash, hmac) SELECT '00000000-0000-4000-8000-000000000000', i, "
               "now(), 'r' || i, 'p', 'peer', 'DescribeSecret', 'OK', "
               "decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), "
               f"'hex'), decode(repeat('00', 32), 'hex') FROM generate_series(1, {cls.ROWS}) i")

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        if rc != 0:
            raise AssertionError(f"cofferd exited {rc}:\n{cls.server.output()}")

    def test_regex_filter_over_its_bound_times_out(self):
        sm, _ = pb()
        ch = self.server.channel
        call(ch, "CreateSecret", name="ordinary-" + token()[:8],
             secret_string="v", client_request_token=token())
        for _ in range(2):      # and again: the worker recovered
            t, code, msg = fails(ch, "ListSecrets", filters=[
                sm.Filter(key="all", values=["no-such-thing"])])
            self.assertEqual(t, "RequestTimeoutException", msg)
            self.assertEqual(code, grpc.StatusCode.DEADLINE_EXCEEDED)
            self.assertIn("1 ms", msg)
            # An ordinary request right after runs under the longer bound.
            d = call(ch, "DescribeSecret", secret_id="bulk-17")
            self.assertEqual(d.name, "bulk-17")

    def test_unindexed_audit_filter_times_out(self):
        t, code, msg = fails(self.server.channel, "ListAuditEvents", AUDIT,
                             operation="NoSuchOperation")
        self.assertEqual(t, "RequestTimeoutException", msg)
        self.assertEqual(code, grpc.StatusCode.DEADLINE_EXCEEDED)

    def test_cli_names_the_error(self):
        r = h.coffer(self.server.endpoint, "list-secrets", "--filters",
                     "Key=all,Values=no-such-thing")
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("RequestTimeoutException", r.stderr)


class PagingTest(unittest.TestCase):
    """ListIdentityPolicies pages (MaxResults/NextToken), and VerifyAuditLog
    checks a bounded part per call that coffer audit verify follows."""

    @classmethod
    def setUpClass(cls):
        cls.db = h.fresh_database("bounds_paging")
        cls.server = h.Server(cls.db, extra_env={
            "COFFER_AUDIT_VERIFY_MAX_EVENTS": "5"}).start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        if rc != 0:
            raise AssertionError(f"cofferd exited {rc}:\n{cls.server.output()}")

    def test_list_identity_policies_pages(self):
        ch = self.server.channel
        doc = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "secretsmanager:ListSecrets",
             "Resource": "*"}]})
        want = []
        for p in ("spiffe://coffer.test/a", "spiffe://coffer.test/b",
                  "cn-with-a-long-name-" + "x" * 300):
            for n in ("p1", "p2", "p3"):
                call(ch, "PutIdentityPolicy", IDP, principal=p, policy_name=n,
                     policy_document=doc)
                want.append((p, n))
        want.sort()

        got, tok, pages = [], None, 0
        while True:
            r = call(ch, "ListIdentityPolicies", IDP, max_results=2,
                     **({"next_token": tok} if tok else {}))
            self.assertLessEqual(len(r.policies), 2)
            got += [(e.principal, e.policy_name) for e in r.policies]
            pages += 1
            if not r.next_token:
                break
            tok = r.next_token
        self.assertEqual(got, want)
        self.assertEqual(pages, 5)

        # One principal's, paged too.
        r = call(ch, "ListIdentityPolicies", IDP, principal=want[0][0],
                 max_results=2)
        self.assertEqual(len(r.policies), 2)
        self.assertTrue(r.next_token)

        # An edited cursor and a bad MaxResults are refused.
        self.assertEqual(fails(ch, "ListIdentityPolicies", IDP,
                               next_token=edited(tok))[0],
                         "InvalidNextTokenException")
        self.assertEqual(fails(ch, "ListIdentityPolicies", IDP,
                               max_results=101)[0], "ValidationException")

        # coffer paginates: every policy, or --max-items of them.
        r = h.coffer(self.server.endpoint, "list-identity-policies",
                     "--page-size", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(json.loads(r.stdout)["Policies"]), len(want))
        r = h.coffer(self.server.endpoint, "list-identity-policies",
                     "--max-items", "3")
        self.assertEqual(len(json.loads(r.stdout)["Policies"]), 3)
        self.assertIn("NextToken", json.loads(r.stdout))

    def chain_counts(self):
        out = h.psql(h.admin(self.db), "SELECT chain_id, count(*), max(seq) "
                     "FROM audit_events GROUP BY chain_id ORDER BY 1")
        return {l.split("|")[0]: (int(l.split("|")[1]), int(l.split("|")[2]))
                for l in out.splitlines() if l.strip()}

    def test_verify_audit_log_in_bounded_parts(self):
        ch = self.server.channel
        # The change lanes take changes in turn (one after the other, each
        # takes the next): 15 or more in each change lane's chain.
        for i in range(15 * self.server.change_lanes()):
            call(ch, "CreateSecret", name=f"audited-{i}-{token()[:6]}",
                 client_request_token=token())

        # One call checks at most 5 events and says where to go on.
        r = call(ch, "VerifyAuditLog", AUDIT)
        self.assertLessEqual(r.events, 5)
        self.assertTrue(r.next_token)
        self.assertTrue(r.ok)
        first = r.next_token
        events, tok, calls = r.events, r.next_token, 1
        while tok:
            r = call(ch, "VerifyAuditLog", AUDIT, next_token=tok)
            self.assertLessEqual(r.events, 5)
            self.assertTrue(r.ok, r)
            events += r.events
            tok, calls = r.next_token, calls + 1
        self.assertGreaterEqual(events, 30)
        self.assertGreater(calls, 6)

        # An edited continuation is refused.
        self.assertEqual(fails(ch, "VerifyAuditLog", AUDIT,
                               next_token=edited(first))[0],
                         "InvalidNextTokenException")

        # coffer follows it to the end and reports whole chains.
        before = self.chain_counts()
        r = h.coffer(self.server.endpoint, "audit", "verify")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = json.loads(r.stdout)
        self.assertTrue(out["Ok"])
        self.assertNotIn("NextToken", out)
        chains = {c["ChainId"]: c for c in out["Chains"]}
        self.assertEqual(len(chains), len(out["Chains"]))
        for cid, (n, last) in before.items():
            self.assertEqual(chains[cid]["FirstSequence"], 1)
            self.assertGreaterEqual(chains[cid]["Events"], n)
            self.assertGreaterEqual(chains[cid]["LastSequence"], last)
            self.assertEqual(chains[cid]["Events"],
                             chains[cid]["LastSequence"])

        # A link broken past the first part is still found.
        cid = max(before, key=lambda c: before[c][0])
        h.psql(h.admin(self.db), "SET session_replication_role = replica; "
               f"UPDATE audit_events SET principal = 'mallory' "
               f"WHERE chain_id = '{cid}' AND seq = 12")
        r = h.coffer(self.server.endpoint, "audit", "verify")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(f"audit chain {cid} is broken at event 12", r.stderr)
        out = json.loads(r.stdout)
        self.assertFalse(out["Ok"])
        self.assertEqual([c["ChainId"] for c in out["Chains"] if not c["Ok"]], [cid])


if __name__ == "__main__":
    unittest.main()
