"""Reads read ahead (issue 14): a worker holding several GetSecretValue
calls reads all their secrets in one round trip, then runs each call.

What must hold, whatever calls share a round trip:
- each call gets its own answer: its secret, its label, its error;
- each caller is authorized for itself: a read made ahead for a caller
  without rights is never handed out, and its denial is audited as it
  was;
- a read is made after its call arrived: a Get sent after a Put was
  answered sees the Put;
- a round trip that fails (the backend killed under it) leaves each call
  to read on its own: it succeeds, or fails with ServiceUnavailable, and
  the server recovers without a restart.

Each test fires a few hundred calls at once (gRPC futures on one channel)
at a 2-worker server over mutual TLS, and checks from /metrics that reads
were in fact made together (coffer_read_ahead_round_trips_total moved, with
more reads than round trips): a test that never made a read ahead would
prove nothing.
"""
import json
import unittest
import urllib.request

import grpc

from tests.e2e import harness as h
from tests.e2e.harness import error_type, pb, token

SM = "/coffer.v1.SecretsManager/"
IDP = "/coffer.v1.IdentityPolicies/"
A = "spiffe://coffer.test/ns/prod/sa/alpha"
B = "spiffe://coffer.test/ns/prod/sa/beta"
ARN = "arn:aws:secretsmanager:local-1:000000000000:secret:"


def setUpModule():
    pb()


def ahead(mport):
    """(reads made ahead, round trips that carried them, reads their calls
    used) so far, from the /metrics of the server on ${mport}."""
    with urllib.request.urlopen(
            f"http://127.0.0.1:{mport}/metrics", timeout=10) as r:
        text = r.read().decode()
    got = {}
    for line in text.splitlines():
        if line.startswith("coffer_read_ahead_"):
            k, v = line.split()
            got[k] = int(float(v))
    return (got["coffer_read_ahead_reads_total"],
            got["coffer_read_ahead_round_trips_total"],
            got["coffer_read_ahead_used_total"])


def fire(channel, requests):
    """Send every request in ${requests} at once on ${channel}: a
    GetSecretValue's fields, or ("DescribeSecret", fields); their outcomes
    in order: ("OK", response) or (exception name, details)."""
    sm, _ = pb()
    methods = {op: channel.unary_unary(
        SM + op, request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=getattr(sm, op + "Response").FromString)
        for op in ("GetSecretValue", "DescribeSecret")}
    futures = []
    for r in requests:
        op, fields = r if isinstance(r, tuple) else ("GetSecretValue", r)
        futures.append(methods[op].future(
            getattr(sm, op + "Request")(**fields), timeout=60))
    out = []
    for f in futures:
        try:
            out.append(("OK", f.result()))
        except grpc.RpcError as e:
            out.append((error_type(e), e.details()))
    return out


def made_together(test, mport, before, all_used=True):
    """Reads were made ahead since ${before}, more than one a trip, and
    (${all_used}: no round trip failed) each was used by its call rather
    than read again."""
    reads, trips, used = ahead(mport)
    test.assertGreater(trips, before[1], "no read was made ahead")
    test.assertGreater(reads - before[0], trips - before[1])
    if all_used:
        test.assertEqual(used - before[2], reads - before[0],
                         "reads made ahead that their calls did not use")


class ReadAheadTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.pki = h.Certs()
        cls.db = h.fresh_database("read_ahead")
        cls.mport = h.free_port()
        cls.server = h.Server(cls.db, tls=cls.pki, workers=2, extra_env={
            "COFFER_METRICS_LISTEN": f"127.0.0.1:{cls.mport}"}).start()
        cls.a_cert = cls.pki.client("alpha", A)
        cls.b_cert = cls.pki.client("beta", B)

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        cls.pki.destroy()
        if rc != 0:
            raise AssertionError(f"cofferd exited {rc}:\n{cls.server.output()}")

    def setUp(self):
        self.admin = h.Caller(self.server, self.server.admin_cert)
        self.addCleanup(self.admin.close)

    # ---- helpers -------------------------------------------------------

    def ahead(self):
        return ahead(self.mport)

    def secret(self, value):
        name = f"ra-{token()[:10]}"
        r = self.admin.call("CreateSecret", name=name, secret_string=value,
                            client_request_token=token())
        return name, r.arn

    @staticmethod
    def fire(caller, requests):
        return fire(caller.channel, requests)

    def made_together(self, before, all_used=True):
        made_together(self, self.mport, before, all_used)

    def outcomes(self, mark, op):
        """"principal|outcome|count" of ${op}'s events since ${mark}."""
        return h.psql(h.admin(self.db),
                      "SELECT principal, outcome, count(*) FROM audit_events "
                      f"WHERE {h.audit_after(mark)} AND operation = '{op}' "
                      "GROUP BY 1, 2 ORDER BY 1, 2").splitlines()

    # ---- tests ---------------------------------------------------------

    def test_each_call_gets_its_own_answer(self):
        secrets = [self.secret(f"value-{i}-{token()}") for i in range(12)]
        values = {}
        for name, arn in secrets:
            values[name] = self.admin.call(
                "GetSecretValue", secret_id=name).secret_string
        # A second version on the first secret, labelled "blue" only.
        blue = f"blue-{token()}"
        r = self.admin.call("PutSecretValue", secret_id=secrets[0][0],
                            secret_string=blue, client_request_token=token(),
                            version_stages=["blue"])
        blue_vid = r.version_id
        current_vid = self.admin.call(
            "GetSecretValue", secret_id=secrets[0][0]).version_id

        # (request, expected outcome, expected value or version id)
        cases = []
        for name, arn in secrets:
            cases.append(({"secret_id": name}, "OK", values[name]))
            cases.append(({"secret_id": arn}, "OK", values[name]))
            cases.append(({"secret_id": name, "version_stage": "AWSCURRENT"},
                          "OK", values[name]))
        first = secrets[0][0]
        cases += [
            ({"secret_id": first, "version_stage": "blue"}, "OK", blue),
            ({"secret_id": first, "version_id": current_vid}, "OK",
             values[first]),
            ({"secret_id": first, "version_id": blue_vid,
              "version_stage": "blue"}, "OK", blue),
            ({"secret_id": first, "version_stage": "green"},
             "ResourceNotFoundException", None),
            ({"secret_id": f"ra-missing-{token()[:8]}"},
             "ResourceNotFoundException", None),
            ({"secret_id": ARN + "ra-missing-AAAAAA"},
             "ResourceNotFoundException", None),
            # Another account's ARN: never looked up.
            ({"secret_id": "arn:aws:secretsmanager:local-1:111111111111:"
              "secret:" + first + "-AAAAAA"},
             "ResourceNotFoundException", None),
            ({"secret_id": ""}, "ValidationException", None),
            ({"secret_id": first, "version_stage": "x" * 300},
             "ValidationException", None),
            # By VersionId: read ahead too, each with its own answer.
            ({"secret_id": secrets[0][1], "version_id": blue_vid}, "OK",
             blue),
            ({"secret_id": first, "version_id": token()},
             "ResourceNotFoundException", None),
            ({"secret_id": secrets[1][0], "version_id": blue_vid},
             "ResourceNotFoundException", None),
            ({"secret_id": first, "version_id": current_vid,
              "version_stage": "blue"}, "InvalidRequestException", None),
            ({"secret_id": first, "version_id": "short"},
             "ValidationException", None),
        ]
        before = self.ahead()
        requests = [c[0] for c in cases] * 12
        expected = cases * 12
        got = self.fire(self.admin, requests)
        for (req, outcome, value), (o, r) in zip(expected, got):
            self.assertEqual(o, outcome, f"{req}: {r}")
            if outcome == "OK":
                self.assertEqual(r.secret_string, value, req)
                name = req["secret_id"]
                self.assertIn(r.name, (name, name.rsplit(":", 1)[-1][:-7]))
        self.made_together(before)

    def test_reads_by_version_id_are_made_ahead(self):
        """Only GetSecretValue calls by VersionId: their reads go
        together, each call gets its own version (not AWSCURRENT), and a
        version that another call's secret has is not found."""
        secrets = [self.secret(f"old-{i}") for i in range(6)]
        old = {}
        for name, _ in secrets:
            old[name] = self.admin.call("GetSecretValue",
                                        secret_id=name).version_id
            self.admin.call("PutSecretValue", secret_id=name,
                            secret_string=f"new-{name}",
                            client_request_token=token())
        cases = []
        for i, (name, arn) in enumerate(secrets):
            cases.append(({"secret_id": name, "version_id": old[name]},
                          "OK", old[name]))
            cases.append(({"secret_id": arn, "version_id": old[name],
                           "version_stage": "AWSPREVIOUS"}, "OK", old[name]))
            other = secrets[(i + 1) % len(secrets)][0]
            cases.append(({"secret_id": name, "version_id": old[other]},
                          "ResourceNotFoundException", None))
        before = self.ahead()
        got = self.fire(self.admin, [c[0] for c in cases] * 20)
        for (req, outcome, vid), (o, r) in zip(cases * 20, got):
            self.assertEqual(o, outcome, f"{req}: {r}")
            if outcome == "OK":
                self.assertEqual(r.version_id, vid, req)
                self.assertTrue(r.secret_string.startswith("old-"), req)
                self.assertEqual(list(r.version_stages), ["AWSPREVIOUS"])
        self.made_together(before)

    def test_describe_calls_are_read_together(self):
        """DescribeSecret calls, alone and among GetSecretValue calls, are
        read in the same round trips: each answer is its own secret's
        (name, tags, labels), a missing one is not found, and a caller
        without rights is refused, audited as itself."""
        sm = pb()[0]
        secrets = []
        for i in range(6):
            name = f"rd-{i}-{token()[:8]}"
            r = self.admin.call("CreateSecret", name=name,
                                secret_string=f"d{i}",
                                client_request_token=token(),
                                tags=[sm.Tag(key="n", value=str(i))])
            if i % 2:
                self.admin.call("PutSecretValue", secret_id=name,
                                secret_string=f"e{i}",
                                client_request_token=token())
            secrets.append((name, r.arn, i))
        missing = f"rd-missing-{token()[:8]}"
        cases = []
        for name, arn, i in secrets:
            cases.append((("DescribeSecret", {"secret_id": name}), name, i))
            cases.append((("DescribeSecret", {"secret_id": arn}), name, i))
            cases.append(({"secret_id": name}, name, i))
        cases.append((("DescribeSecret", {"secret_id": missing}), None, None))
        before = self.ahead()
        got = self.fire(self.admin, [c[0] for c in cases] * 15)
        for (req, name, i), (o, r) in zip(cases * 15, got):
            if name is None:
                self.assertEqual(o, "ResourceNotFoundException", r)
                continue
            self.assertEqual(o, "OK", f"{req}: {r}")
            self.assertEqual(r.name, name)
            if isinstance(req, tuple):
                self.assertEqual([(t.key, t.value) for t in r.tags],
                                 [("n", str(i))])
                stages = sorted(s for v in r.version_ids_to_stages
                                for s in v.version_stages)
                self.assertEqual(stages, ["AWSCURRENT", "AWSPREVIOUS"]
                                 if i % 2 else ["AWSCURRENT"], name)
            else:
                self.assertEqual(r.secret_string,
                                 f"e{i}" if i % 2 else f"d{i}")
        self.made_together(before)

        # Describes alone, and a caller with no rights on them.
        b = h.Caller(self.server, self.b_cert)
        self.addCleanup(b.close)
        mark = h.audit_mark(self.db)
        before = self.ahead()
        only = [("DescribeSecret", {"secret_id": n}) for n, _, _ in secrets]
        got_admin = self.fire(self.admin, only * 20)
        got_b = self.fire(b, only * 20)
        self.assertEqual({o for o, _ in got_admin}, {"OK"})
        self.assertEqual({o for o, _ in got_b}, {"AccessDeniedException"})
        self.made_together(before)
        self.assertEqual(self.outcomes(mark, "DescribeSecret"), [
            f"{h.ADMIN}|OK|120", f"{B}|AccessDeniedException|120"])

    def test_a_batch_reads_its_secrets_in_one_round_trip(self):
        """BatchGetSecretValue reads its list in one round trip, then
        treats each secret as a GetSecretValue of its own: a caller may
        read some and not others, a missing one it has no rights on is
        denied (not found would tell it), an invalid one is not read at
        all; every read is used."""
        mine = [self.secret(f"bm-{i}") for i in range(4)]
        theirs, _ = self.secret("bt")
        missing = f"ra-missing-{token()[:8]}"
        self.admin.call("PutIdentityPolicy", IDP, principal=A,
                        policy_name="rb", policy_document=json.dumps({
                            "Version": "2012-10-17", "Statement": [
                                {"Effect": "Allow",
                                 "Action": "secretsmanager:GetSecretValue",
                                 "Resource": [arn for _, arn in mine]},
                                {"Effect": "Allow", "Action":
                                 "secretsmanager:BatchGetSecretValue",
                                 "Resource": "*"}]}))
        self.addCleanup(self.admin.call, "DeleteIdentityPolicy", IDP,
                        principal=A, policy_name="rb")
        a = h.Caller(self.server, self.a_cert)
        self.addCleanup(a.close)
        before = self.ahead()
        r = a.call("BatchGetSecretValue", secret_id_list=[
            n for n, _ in mine] + [theirs, missing, ""])
        after = self.ahead()
        self.assertEqual(sorted((v.name, v.secret_string)
                                for v in r.secret_values),
                         sorted((n, f"bm-{i}")
                                for i, (n, _) in enumerate(mine)))
        self.assertEqual(sorted((e.secret_id, e.error_code)
                                for e in r.errors), sorted([
            (theirs, "AccessDeniedException"),
            # Authorized before told: A may not learn it does not exist.
            (missing, "AccessDeniedException"),
            ("", "ValidationException")]))
        self.assertEqual([x - y for x, y in zip(after, before)], [6, 1, 6])

    def test_each_caller_is_authorized_for_itself(self):
        mine, mine_arn = self.secret(f"alpha-{token()}")
        theirs, _ = self.secret(f"other-{token()}")
        self.admin.call("PutIdentityPolicy", IDP, principal=A,
                        policy_name="ra", policy_document=json.dumps({
                            "Version": "2012-10-17", "Statement": [{
                                "Effect": "Allow",
                                "Action": "secretsmanager:GetSecretValue",
                                "Resource": mine_arn}]}))
        self.addCleanup(self.admin.call, "DeleteIdentityPolicy", IDP,
                        principal=A, policy_name="ra")
        a = h.Caller(self.server, self.a_cert)
        b = h.Caller(self.server, self.b_cert)
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        value = self.admin.call("GetSecretValue",
                                secret_id=mine).secret_string
        mark = h.audit_mark(self.db)
        before = self.ahead()

        # Both callers at once, on the same secrets: A may read one of
        # them, B neither.
        import concurrent.futures
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            fa = pool.submit(self.fire, a, [{"secret_id": mine}] * 150 +
                             [{"secret_id": theirs}] * 50)
            fb = pool.submit(self.fire, b, [{"secret_id": mine}] * 150 +
                             [{"secret_id": theirs}] * 50)
            got_a, got_b = fa.result(), fb.result()
        for o, r in got_a[:150]:
            self.assertEqual(o, "OK", r)
            self.assertEqual(r.secret_string, value)
        for o, r in got_a[150:] + got_b:
            self.assertEqual(o, "AccessDeniedException", r)
        self.made_together(before)

        # Each call audited as its caller, with its own outcome.
        self.assertEqual(self.outcomes(mark, "GetSecretValue"), [
            f"{A}|AccessDeniedException|50", f"{A}|OK|150",
            f"{B}|AccessDeniedException|200"])

    def test_a_read_is_made_after_its_call_arrived(self):
        name, _ = self.secret("v0")
        others = [self.secret(f"o-{i}") for i in range(8)]
        import concurrent.futures
        before = self.ahead()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            # Load from another thread, so that the checked reads share
            # round trips with others.
            load = pool.submit(lambda: [
                self.fire(self.admin, [{"secret_id": n} for n, _ in others] * 40)
                for _ in range(6)])
            for i in range(1, 40):
                self.admin.call("PutSecretValue", secret_id=name,
                                secret_string=f"v{i}",
                                client_request_token=token())
                got = self.fire(self.admin, [{"secret_id": name}] * 8)
                for o, r in got:
                    self.assertEqual(o, "OK", r)
                    self.assertEqual(r.secret_string, f"v{i}")
            for outcomes in load.result():
                self.assertEqual({o for o, _ in outcomes}, {"OK"})
        self.made_together(before)

    def test_a_failed_round_trip_leaves_each_call_to_read_alone(self):
        secrets = [self.secret(f"f-{i}") for i in range(10)]
        # DescribeSecret's reads share the pipelines too.
        requests = ([{"secret_id": n} for n, _ in secrets] +
                    [("DescribeSecret", {"secret_id": n})
                     for n, _ in secrets[:3]]) * 25
        import concurrent.futures
        import time
        before = self.ahead()
        kills = 0
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            rounds = pool.submit(lambda: [self.fire(self.admin, requests)
                                          for _ in range(8)])
            while not rounds.done():
                kills += int(h.psql(h.admin(self.db),
                                    "SELECT count(pg_terminate_backend(pid)) "
                                    "FROM pg_stat_activity WHERE usename = "
                                    "'coffer_app' AND query LIKE 'SELECT%'") or 0)
                time.sleep(0.05)
            results = rounds.result()
        self.assertGreater(kills, 0, "no connection was killed")
        for outcomes in results:
            for (o, r), req in zip(outcomes, requests):
                if o == "OK" and isinstance(req, tuple):
                    self.assertEqual(r.name, req[1]["secret_id"])
                elif o == "OK":
                    self.assertEqual(r.secret_string,
                                     "f-" + str([n for n, _ in secrets].index(
                                         req["secret_id"])))
                else:
                    self.assertEqual(o, "ServiceUnavailable", r)
        # Recovered without a restart: every call of a new round answers.
        got = self.fire(self.admin, requests)
        self.assertEqual({o for o, _ in got}, {"OK"}, got[:3])
        self.made_together(before, all_used=False)



class WithoutCertificateTest(unittest.TestCase):
    """health_without_cert = on lets a client without a certificate reach
    the server: its GetSecretValue and DescribeSecret calls are refused
    (AccessDenied), and none of them costs a database read, made ahead or
    not."""

    def test_no_read_is_made_for_a_caller_without_identity(self):
        pki = h.Certs()
        self.addCleanup(pki.destroy)
        db = h.fresh_database("read_ahead_nocert")
        mport = h.free_port()
        server = h.Server(db, tls=pki, workers=2, extra_env={
            "COFFER_HEALTH_WITHOUT_CERT": "on",
            "COFFER_METRICS_LISTEN": f"127.0.0.1:{mport}"}).start()
        self.addCleanup(server.stop)
        admin = h.Caller(server, server.admin_cert)
        self.addCleanup(admin.close)
        names = []
        for i in range(8):
            names.append(f"nc-{i}-{token()[:8]}")
            admin.call("CreateSecret", name=names[-1], secret_string="v",
                       client_request_token=token())
        nobody = pki.channel(server.endpoint)
        self.addCleanup(nobody.close)
        requests = ([{"secret_id": n} for n in names] +
                    [("DescribeSecret", {"secret_id": n})
                     for n in names]) * 20

        before = ahead(mport)
        got = fire(nobody, requests)
        self.assertEqual({o for o, _ in got}, {"AccessDeniedException"}, got[:2])
        self.assertEqual(ahead(mport), before)
        # The same calls with an identity are read ahead on this server.
        got = fire(admin.channel, requests)
        self.assertEqual({o for o, _ in got}, {"OK"})
        made_together(self, mport, before)

if __name__ == "__main__":
    unittest.main()
