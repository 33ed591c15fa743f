"""End-to-end tests of who may do what (issue 5): mutual TLS identities,
identity and resource policies, their enforcement on every operation, the
audit of every denial, and policy changes reaching another server.

Every server here serves mutual TLS with a throwaway PKI made by ci/mkcert;
principals are client certificates (SPIFFE ID, else "cn:" and the CN).
Calls go through Python grpcio with those certificates, and through coffer.
Refused handshakes are audited as one summary per interval (1 s here), with
peer "HOST; count=N".
"""
import concurrent.futures
import json
import os
import shutil
import statistics
import subprocess
import time
import unittest

import grpc

from tests.e2e import harness as h
from tests.e2e.harness import error_type, pb, token

SM = "/coffer.v1.SecretsManager/"
IDP = "/coffer.v1.IdentityPolicies/"
HEALTH = "/grpc.health.v1.Health/"
# Refusal summaries every second, so that tests need not wait a minute.
FAST_SUMMARIES = {"COFFER_REFUSAL_AUDIT_INTERVAL": "1"}
A = "spiffe://coffer.test/ns/prod/sa/alpha"
B = "spiffe://coffer.test/ns/prod/sa/beta"


def setUpModule():
    pb()


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra):
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


class Caller(h.Caller):
    """One principal's channel to one server."""

    def fails(self, op, service=SM, **fields):
        """The AWS exception name the call fails with (it must fail)."""
        try:
            self.call(op, service=service, **fields)
        except grpc.RpcError as e:
            return error_type(e), e.code(), e.details()
        raise AssertionError(f"{op} {fields} succeeded")


class AuthzCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.pki = h.Certs()
        cls.db = h.fresh_database("authz")
        cls.server = h.Server(cls.db, tls=cls.pki,
                              extra_env=FAST_SUMMARIES).start()
        cls.a_cert = cls.pki.client("alpha", A)
        cls.b_cert = cls.pki.client("beta", B)
        cls.cn_cert = cls.pki.client("gamma-by-cn")

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        cls.pki.destroy()
        if rc != 0:
            raise AssertionError(f"cofferd exited {rc}:\n{cls.server.output()}")

    def setUp(self):
        self.admin = Caller(self.server, self.server.admin_cert)
        self.a = Caller(self.server, self.a_cert)
        self.b = Caller(self.server, self.b_cert)
        for c in (self.admin, self.a, self.b):
            self.addCleanup(c.close)
        self.attached = []

    def tearDown(self):
        for principal, name in self.attached:
            try:
                self.admin.call("DeleteIdentityPolicy", IDP, principal=principal,
                                policy_name=name)
            except grpc.RpcError:
                pass

    def attach(self, principal, name, document):
        self.admin.call("PutIdentityPolicy", IDP, principal=principal,
                        policy_name=name, policy_document=document)
        self.attached.append((principal, name))

    def secret(self, name, value="v", tags=()):
        sm, _ = pb()
        r = self.admin.call("CreateSecret", name=name, secret_string=value,
                            client_request_token=token(),
                            tags=[sm.Tag(key=k, value=v) for k, v in tags])
        return r.arn

    def name(self, base):
        return f"{base}-{self._testMethodName}-{token()[:8]}"

    def audit_rows(self, where):
        return h.psql(h.admin(self.db), "SELECT principal, operation, outcome, "
                      "coalesce(secret_arn, '') FROM audit_events WHERE " + where +
                      " ORDER BY " + h.AUDIT_ORDER)

    def after_now(self):
        """The SQL condition for audit events written from now on, in any
        of the server's chains (h.audit_mark)."""
        return h.audit_after(h.audit_mark(self.db))

    def summaries(self, where, after, want=1, wait=10):
        """The peers and counts of the refusal summaries matching ${where}
        written ${after} (after_now()), once the counts add up to ${want}
        (or after ${wait} seconds)."""
        deadline = time.time() + wait
        while True:
            peers = h.psql(h.admin(self.db), "SELECT peer FROM audit_events "
                           f"WHERE {after} AND {where} ORDER BY {h.AUDIT_ORDER}")
            peers = peers.splitlines() if peers else []
            counts = [int(p.rsplit("; count=", 1)[1]) if "; count=" in p else 0
                      for p in peers]
            if sum(counts) >= want or time.time() > deadline:
                return peers, counts
            time.sleep(0.2)


class AuthenticationTest(AuthzCase):

    def certless(self, service, op, req_type, resp_type):
        """A call from a client without a certificate, on a new connection;
        returns its status code."""
        ch = grpc.secure_channel(
            self.server.endpoint,
            grpc.ssl_channel_credentials(
                root_certificates=self.pki.read(self.pki.ca + ".pem")),
            options=[("grpc.use_local_subchannel_pool", 1)])
        try:
            m = ch.unary_unary(service + op,
                               request_serializer=lambda x: x.SerializeToString(),
                               response_deserializer=resp_type.FromString)
            m(req_type(), timeout=10)
            return grpc.StatusCode.OK
        except grpc.RpcError as e:
            return e.code()
        finally:
            ch.close()

    def test_no_certificate_is_refused_at_the_handshake(self):
        # Every service, the health check included: no call is ever formed.
        sm, health = pb()
        before = self.after_now()
        for service, op, req, resp in (
                (SM, "ListSecrets", sm.ListSecretsRequest, sm.ListSecretsResponse),
                (IDP, "ListIdentityPolicies", sm.ListIdentityPoliciesRequest,
                 sm.ListIdentityPoliciesResponse),
                (HEALTH, "Check", health.HealthCheckRequest,
                 health.HealthCheckResponse)):
            with self.subTest(op=op):
                self.assertEqual(self.certless(service, op, req, resp),
                                 grpc.StatusCode.UNAVAILABLE)
        # Counted, and audited as a summary: no event per call.
        peers, counts = self.summaries(
            "principal = 'unverified:(no certificate)' AND "
            "operation = 'TLSHandshake' AND outcome = 'AccessDeniedException'",
            before, want=3)
        self.assertGreaterEqual(sum(counts), 3, peers)
        self.assertTrue(all(p.startswith("unknown; count=") for p in peers), peers)
        self.assertEqual(self.audit_rows(f"{before} AND principal = "
                                         "'unauthenticated'"), "")

    def test_certless_flood_is_aggregated_and_harmless(self):
        """A flood of handshakes without a certificate leaves a bounded
        number of audit rows (one per interval, with the count) and does not
        slow an authenticated caller down."""
        sm, health = pb()
        n = 160

        check = self.admin.channel.unary_unary(
            HEALTH + "Check", request_serializer=lambda x: x.SerializeToString(),
            response_deserializer=health.HealthCheckResponse.FromString)

        def admin_latency(k=15):
            t = []
            for _ in range(k):
                t0 = time.monotonic()
                check(health.HealthCheckRequest(), timeout=30)
                t.append(time.monotonic() - t0)
            return statistics.median(t)

        def one(_):
            return self.certless(HEALTH, "Check", health.HealthCheckRequest,
                                 health.HealthCheckResponse)

        calm = admin_latency()
        before = self.after_now()
        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            flood = pool.map(one, range(n))
            busy = admin_latency()
            codes = list(flood)
        elapsed = time.monotonic() - start
        self.assertEqual(codes.count(grpc.StatusCode.UNAVAILABLE), n,
                         set(codes))
        peers, counts = self.summaries(
            "principal = 'unverified:(no certificate)' AND "
            "operation = 'TLSHandshake'", before, want=n)
        # Every refusal is counted, in one row per second of flood at most.
        self.assertGreaterEqual(sum(counts), n, peers)
        self.assertLessEqual(len(peers), int(elapsed) + 3, peers)
        self.assertLess(busy, max(10 * calm, 0.5), (calm, busy))

    def handshake_refused(self, cert_pem, key_pem, claim):
        """A certificate the server must refuse at the handshake, leaving
        one TLSHandshake event that names what it claimed."""
        creds = grpc.ssl_channel_credentials(
            root_certificates=self.pki.read(self.pki.ca + ".pem"),
            private_key=key_pem, certificate_chain=cert_pem)
        ch = grpc.secure_channel(self.server.endpoint, creds,
                                 options=[("grpc.use_local_subchannel_pool", 1)])
        sm, _ = pb()
        m = ch.unary_unary(SM + "ListSecrets",
                           request_serializer=lambda x: x.SerializeToString(),
                           response_deserializer=sm.ListSecretsResponse.FromString)
        where = (f"principal = 'unverified:{claim}' AND operation = 'TLSHandshake'")
        before = self.after_now()
        try:
            with self.assertRaises(grpc.RpcError) as cm:
                m(sm.ListSecretsRequest(), timeout=10)
        finally:
            ch.close()
        # No call was formed: the handshake failed.
        self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
        # The refusal is counted and audited in the next summary.
        peers, counts = self.summaries(where, before)
        self.assertGreaterEqual(sum(counts), 1, peers)
        self.assertIn(f"unverified:{claim}|TLSHandshake|AccessDeniedException|",
                      self.audit_rows(f"{before} AND {where}"))
        # And nothing was done as the identity it claimed.
        self.assertEqual(self.audit_rows(f"{before} AND principal = "
                                         f"'{claim}'"), "")

    def test_foreign_ca_is_refused_at_the_handshake(self):
        other = h.Certs("other")
        self.addCleanup(other.destroy)
        claim = "spiffe://coffer.test/ns/evil/sa/mallory"
        cert = other.client("mallory", claim)
        self.handshake_refused(other.read(cert[0]), other.read(cert[1]), claim)

    def test_self_signed_is_refused_at_the_handshake(self):
        # A certificate that is its own CA, claiming to be someone else.
        d = h.Certs("selfsigned")
        self.addCleanup(d.destroy)
        self.handshake_refused(d.read(d.ca + ".pem"), d.read(d.ca + ".key"),
                               subprocess.run(
                                   ["openssl", "x509", "-noout", "-subject", "-nameopt",
                                    "multiline", "-in", d.ca + ".pem"],
                                   capture_output=True, text=True, check=True
                               ).stdout.split("commonName")[1].split("=", 1)[1].strip())

    def test_principal_is_spiffe_id_else_cn(self):
        self.attach(A, "list", doc(allow("secretsmanager:ListSecrets")))
        self.a.call("ListSecrets")
        cn = Caller(self.server, self.cn_cert)
        self.addCleanup(cn.close)
        err = cn.fails("ListSecrets")
        self.assertEqual(err[0], "AccessDeniedException")
        self.assertIn("User: cn:gamma-by-cn is not authorized to perform: "
                      "secretsmanager:ListSecrets", err[2])
        rows = self.audit_rows(f"principal IN ('{A}', 'cn:gamma-by-cn') AND "
                               "operation = 'ListSecrets'")
        self.assertIn(f"{A}|ListSecrets|OK", rows)
        self.assertIn("cn:gamma-by-cn|ListSecrets|AccessDeniedException", rows)
        # Policies name a CN principal in its own namespace.
        self.attach("cn:gamma-by-cn", "list",
                    doc(allow("secretsmanager:ListSecrets")))
        cn.call("ListSecrets")

    def test_cn_cannot_impersonate_a_spiffe_id(self):
        # CN=<the admin's SPIFFE ID>, no URI SAN: "cn:spiffe://...", nobody.
        cert = self.pki.client(h.ADMIN)
        c = Caller(self.server, cert)
        self.addCleanup(c.close)
        err = c.fails("ListSecrets")
        self.assertEqual(err[:2], ("AccessDeniedException",
                                   grpc.StatusCode.PERMISSION_DENIED))
        self.assertIn(f"User: cn:{h.ADMIN} is not authorized", err[2])
        self.assertEqual(c.fails("PutIdentityPolicy", IDP, principal=A,
                                 policy_name="grab",
                                 policy_document=doc(allow("secretsmanager:*")))[0],
                         "AccessDeniedException")
        self.assertIn(f"cn:{h.ADMIN}|ListSecrets|AccessDeniedException",
                      self.audit_rows(f"principal = 'cn:{h.ADMIN}'"))

    def test_uri_sans_must_be_exactly_one_spiffe_id(self):
        # Each claims the admin by its CN too, in case the URI were ignored.
        for uris, claim in (
                ((h.ADMIN, A), h.ADMIN),                      # two URI SANs
                ((A, "https://coffer.test/admin"), A),        # and a non-SPIFFE one
                (("https://coffer.test/admin",), "https://coffer.test/admin"),
                (("spiffe://coffer.test/ns/../admin",),
                 "spiffe://coffer.test/ns/../admin"),         # malformed
                (("spiffe://Coffer.Test/admin",), "spiffe://Coffer.Test/admin"),
                (("spiffe://coffer.test/admin/",), "spiffe://coffer.test/admin/"),
                (("spiffe:///admin",), "spiffe:///admin")):
            with self.subTest(uris=uris):
                cert = self.pki.client(h.ADMIN, *uris)
                self.handshake_refused(self.pki.read(cert[0]),
                                       self.pki.read(cert[1]), claim)

    def test_control_characters_are_escaped(self):
        # A CN with control characters names no usable principal: refused,
        # and shown escaped in the log and the audit trail.
        cert = self.pki.client("evil\nfake line\x1b[31m")
        escaped = "evil\\x0afake line\\x1b[31m"
        self.handshake_refused(self.pki.read(cert[0]), self.pki.read(cert[1]),
                               escaped)
        out = self.server.output()
        self.assertIn(f'claiming "{escaped}"', out)
        self.assertNotIn("evil\nfake line", out)
        self.assertNotIn("\x1b", out)


class HealthWithoutCertTest(unittest.TestCase):
    """health_without_cert = on: a client without a certificate may check
    health, nothing else, and none of it is an audit row per call."""

    def test_health_only_and_summarised(self):
        pki = h.Certs()
        self.addCleanup(pki.destroy)
        db = h.fresh_database("authzhealth")
        server = h.Server(db, tls=pki, extra_env={
            "COFFER_HEALTH_WITHOUT_CERT": "on", **FAST_SUMMARIES}).start()
        self.addCleanup(server.stop)
        before = h.audit_after(h.audit_mark(db))
        ch = grpc.secure_channel(server.endpoint, grpc.ssl_channel_credentials(
            root_certificates=pki.read(pki.ca + ".pem")))
        self.addCleanup(ch.close)
        sm, health = pb()
        check = ch.unary_unary(
            HEALTH + "Check", request_serializer=lambda x: x.SerializeToString(),
            response_deserializer=health.HealthCheckResponse.FromString)
        ls = ch.unary_unary(
            SM + "ListSecrets", request_serializer=lambda x: x.SerializeToString(),
            response_deserializer=sm.ListSecretsResponse.FromString)
        for _ in range(4):
            self.assertEqual(check(health.HealthCheckRequest(), timeout=10).status,
                             health.HealthCheckResponse.SERVING)
        for _ in range(3):
            with self.assertRaises(grpc.RpcError) as cm:
                ls(sm.ListSecretsRequest(), timeout=10)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        # One summary per kind and interval, "ipv4:127.0.0.1; count=N".
        q = ("SELECT operation, outcome, peer FROM audit_events WHERE "
             f"{before} AND principal = 'unauthenticated' ORDER BY {h.AUDIT_ORDER}")
        deadline = time.time() + 10
        while True:
            out = h.psql(h.admin(db), q)
            rows = [r.split("|") for r in out.splitlines()] if out else []
            total = {}
            for op, outcome, peer in rows:
                self.assertTrue(peer.startswith("ipv4:127.0.0.1; count="), peer)
                n = int(peer.rsplit("=", 1)[1])
                total[(op, outcome)] = total.get((op, outcome), 0) + n
            if sum(total.values()) >= 7 or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(total, {("Health/Check", "OK"): 4,
                                 ("ListSecrets", "AccessDeniedException"): 3}, rows)
        self.assertLessEqual(len(rows), 4, rows)


class IdentityPolicyTest(AuthzCase):

    def test_own_secrets_only(self):
        pa = self.name("team-a/db")
        pb_ = self.name("team-b/db")
        arn_a = self.secret(pa, "alpha-value")
        arn_b = self.secret(pb_, "beta-value")
        prefix = arn_a[:arn_a.index(":secret:") + len(":secret:")]
        self.attach(A, "team-a", doc(allow("secretsmanager:GetSecretValue",
                                           prefix + "team-a/*")))
        self.assertEqual(self.a.call("GetSecretValue", secret_id=pa).secret_string,
                         "alpha-value")
        err = self.a.fails("GetSecretValue", secret_id=pb_)
        self.assertEqual(err[:2], ("AccessDeniedException",
                                   grpc.StatusCode.PERMISSION_DENIED))
        self.assertIn(f"User: {A} is not authorized to perform: "
                      f"secretsmanager:GetSecretValue on resource: {pb_}", err[2])
        # Only the action granted: no PutSecretValue, no DescribeSecret.
        self.assertEqual(self.a.fails("PutSecretValue", secret_id=pa,
                                      secret_string="x",
                                      client_request_token=token())[0],
                         "AccessDeniedException")
        self.assertEqual(self.a.fails("DescribeSecret", secret_id=pa)[0],
                         "AccessDeniedException")
        # B has nothing at all.
        self.assertEqual(self.b.fails("GetSecretValue", secret_id=pa)[0],
                         "AccessDeniedException")
        # Every denial is in the audit trail with the principal and secret.
        rows = self.audit_rows(f"principal = '{A}' AND outcome = "
                               "'AccessDeniedException'")
        self.assertIn(f"{A}|GetSecretValue|AccessDeniedException|{arn_b}", rows)
        self.assertIn(f"{A}|PutSecretValue|AccessDeniedException|{arn_a}", rows)
        self.assertIn(f"{B}|GetSecretValue|AccessDeniedException|{arn_a}",
                      self.audit_rows(f"principal = '{B}'"))

    def test_missing_secret_does_not_leak(self):
        self.attach(A, "some", doc(allow("secretsmanager:GetSecretValue",
                                         "arn:aws:secretsmanager:*:*:secret:mine-*")))
        # Allowed on the name: the truth (it does not exist).
        self.assertEqual(self.a.fails("GetSecretValue", secret_id="mine-nothing")[0],
                         "ResourceNotFoundException")
        # Not allowed: denied, whether it exists or not.
        self.secret("theirs-exists")
        self.assertEqual(self.a.fails("GetSecretValue", secret_id="theirs-exists")[0],
                         "AccessDeniedException")
        self.assertEqual(self.a.fails("GetSecretValue", secret_id="theirs-missing")[0],
                         "AccessDeniedException")

    def test_deny_beats_allow(self):
        n = self.name("deny")
        self.secret(n)
        self.attach(A, "all", doc(allow("secretsmanager:*")))
        self.a.call("GetSecretValue", secret_id=n)
        self.attach(A, "no-get", doc(deny("secretsmanager:GetSecretValue")))
        self.assertEqual(self.a.fails("GetSecretValue", secret_id=n)[0],
                         "AccessDeniedException")
        self.a.call("DescribeSecret", secret_id=n)
        # The Deny also beats a resource policy's Allow.
        self.admin.call("PutResourcePolicy", secret_id=n, resource_policy=doc(
            allow("secretsmanager:GetSecretValue", "*", Principal={"AWS": A})))
        self.assertEqual(self.a.fails("GetSecretValue", secret_id=n)[0],
                         "AccessDeniedException")
        self.assertIn("explicit deny", self.a.fails("GetSecretValue", secret_id=n)[2])

    def test_wildcard_actions(self):
        n = self.name("wild")
        self.secret(n)
        self.attach(A, "get-star", doc(allow("secretsmanager:Get*")))
        self.a.call("GetSecretValue", secret_id=n)
        self.a.call("GetResourcePolicy", secret_id=n)
        self.a.call("GetRandomPassword")
        self.assertEqual(self.a.fails("DescribeSecret", secret_id=n)[0],
                         "AccessDeniedException")
        self.attach(A, "desc", doc(allow("secretsmanager:Describe?ecret")))
        self.a.call("DescribeSecret", secret_id=n)

    def test_conditions(self):
        tagged = self.name("cond-tagged")
        plain = self.name("cond-plain")
        self.secret(tagged, tags=[("team", "payments"), ("env", "prod")])
        self.secret(plain, tags=[("team", "search")])
        put = dict(secret_string="v2", version_stages=["AWSPENDING"])
        self.admin.call("PutSecretValue", secret_id=tagged, client_request_token=token(),
                        **put)
        cases = [
            # (condition, secret, extra request fields, allowed?)
            ({"StringEquals": {"secretsmanager:ResourceTag/team": "payments"}},
             tagged, {}, True),
            ({"StringEquals": {"secretsmanager:ResourceTag/team": "payments"}},
             plain, {}, False),
            ({"StringNotEquals": {"secretsmanager:ResourceTag/team": "payments"}},
             plain, {}, True),
            ({"StringNotEquals": {"secretsmanager:ResourceTag/team": "payments"}},
             tagged, {}, False),
            ({"StringLike": {"secretsmanager:Name": "cond-tagged-*"}},
             tagged, {}, True),
            ({"StringLike": {"secretsmanager:Name": "cond-tagged-*"}},
             plain, {}, False),
            ({"StringEquals": {"secretsmanager:VersionStage": "AWSPENDING"}},
             tagged, {"version_stage": "AWSPENDING"}, True),
            # AWS leaves VersionStage out when it was not given.
            ({"StringEquals": {"secretsmanager:VersionStage": "AWSPENDING"}},
             tagged, {}, False),
            ({"StringLike": {"secretsmanager:VersionStage": "AWS*"}},
             tagged, {"version_stage": "AWSCURRENT"}, True),
            ({"StringNotEquals": {"secretsmanager:VersionStage": "AWSPENDING"}},
             tagged, {"version_stage": "AWSPENDING"}, False),
        ]
        for i, (cond, secret, extra, ok) in enumerate(cases):
            with self.subTest(i=i, cond=cond, secret=secret, extra=extra):
                self.attach(A, "cond", doc(allow("secretsmanager:GetSecretValue",
                                                 Condition=cond)))
                if ok:
                    self.a.call("GetSecretValue", secret_id=secret, **extra)
                else:
                    self.assertEqual(self.a.fails("GetSecretValue", secret_id=secret,
                                                  **extra)[0], "AccessDeniedException")

    def test_tag_conditions_on_changes(self):
        # A change's locked lookup does not read the tags (store/DESIGN.md);
        # a policy that looks at them must still see them, for an Allow
        # and for a Deny.
        prod = self.name("chg-prod")
        dev = self.name("chg-dev")
        self.secret(prod, tags=[("env", "prod")])
        self.secret(dev, tags=[("env", "dev")])
        self.attach(A, "chg", doc(
            allow("secretsmanager:PutSecretValue"),
            allow("secretsmanager:UpdateSecret",
                  Condition={"StringEquals": {"secretsmanager:ResourceTag/env": "dev"}}),
            deny("secretsmanager:PutSecretValue",
                 Condition={"StringEquals": {"secretsmanager:ResourceTag/env": "prod"}})))
        self.a.call("PutSecretValue", secret_id=dev, secret_string="v2",
                    client_request_token=token())
        code, _, msg = self.a.fails("PutSecretValue", secret_id=prod, secret_string="v2",
                                    client_request_token=token())
        self.assertEqual(code, "AccessDeniedException")
        self.assertIn("explicit deny", msg)
        self.a.call("UpdateSecret", secret_id=dev, description="d")
        self.assertEqual(self.a.fails("UpdateSecret", secret_id=prod, description="d")[0],
                         "AccessDeniedException")
        # Nothing was written to the refused secret.
        self.assertEqual(len(self.admin.call("ListSecretVersionIds",
                                             secret_id=prod).versions), 1)
        self.assertFalse(self.admin.call("DescribeSecret", secret_id=prod).description)

    def test_list_secrets_shows_only_describable(self):
        """Only the secrets the caller may describe, each with its own
        labels: a page's labels are read with its rows (one round trip for
        a batch's tags and labels) and handed to the rows kept, so a
        hidden secret between two shown ones must not lend them its."""
        mine = [self.name("vis-mine") for _ in range(3)]
        others = [self.name("vis-other") for _ in range(3)]
        labels = {}
        for m, o in zip(mine, others):
            for n in (o, m):
                self.secret(n)
                v = token()
                self.admin.call("PutSecretValue", secret_id=n,
                                secret_string="w", client_request_token=v,
                                version_stages=["L-" + n[-8:]])
                labels[n] = v
        self.attach(A, "vis", doc(allow("secretsmanager:ListSecrets"),
                                  allow("secretsmanager:DescribeSecret",
                                        "arn:aws:secretsmanager:*:*:secret:vis-mine-*")))
        sm, _ = pb()
        seen, tok = [], None
        while True:
            kw = {"max_results": 2}
            if tok:
                kw["next_token"] = tok
            r = self.a.call("ListSecrets", **kw)
            seen += [e.name for e in r.secret_list]
            for e in r.secret_list:
                if e.name not in labels:
                    continue
                got = {v.version_id: sorted(v.version_stages)
                       for v in e.secret_versions_to_stages}
                self.assertEqual(got[labels[e.name]], ["L-" + e.name[-8:]],
                                 (e.name, got))
                self.assertEqual(len(got), 2, (e.name, got))
                self.assertEqual(sorted(x for st in got.values() for x in st),
                                 sorted(["AWSCURRENT", "L-" + e.name[-8:]]))
            if not r.next_token:
                break
            tok = r.next_token
        self.assertEqual(sorted(n for n in seen if n.startswith("vis-")), sorted(mine))
        # Without ListSecrets, nothing.
        self.assertEqual(self.b.fails("ListSecrets")[0], "AccessDeniedException")

    def test_batch_get_checks_each_secret(self):
        ok, no = self.name("batch-ok"), self.name("batch-no")
        self.secret(ok, "ok-value")
        self.secret(no, "no-value")
        self.attach(A, "batch", doc(
            allow("secretsmanager:BatchGetSecretValue"),
            allow("secretsmanager:GetSecretValue",
                  "arn:aws:secretsmanager:*:*:secret:batch-ok-*")))
        r = self.a.call("BatchGetSecretValue", secret_id_list=[ok, no])
        self.assertEqual([v.secret_string for v in r.secret_values], ["ok-value"])
        self.assertEqual([(e.secret_id, e.error_code) for e in r.errors],
                         [(no, "AccessDeniedException")])
        self.assertNotIn("no-value", str(r))
        # Without BatchGetSecretValue itself, the whole call is denied.
        self.attach(B, "get-only", doc(allow("secretsmanager:GetSecretValue")))
        self.assertEqual(self.b.fails("BatchGetSecretValue", secret_id_list=[ok])[0],
                         "AccessDeniedException")

    def test_identity_policy_admin(self):
        bad = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow"'
        e = self.admin.fails("PutIdentityPolicy", IDP, principal=A, policy_name="p",
                             policy_document=bad)
        self.assertEqual(e[0], "MalformedPolicyDocumentException")
        self.assertIn("line 1", e[2])
        e = self.admin.fails("PutIdentityPolicy", IDP, principal=A, policy_name="p",
                             policy_document=doc(allow("secretsmanager:*",
                                                       Principal="*")))
        self.assertEqual(e[0], "MalformedPolicyDocumentException")
        long = doc(allow("secretsmanager:GetSecretValue",
                         ["arn:aws:secretsmanager:*:*:secret:" + "x" * 90] * 230))
        self.assertGreater(len(long), 20480)
        self.assertEqual(self.admin.fails("PutIdentityPolicy", IDP, principal=A,
                                          policy_name="p", policy_document=long)[0],
                         "MalformedPolicyDocumentException")
        self.assertEqual(self.admin.fails("PutIdentityPolicy", IDP, principal=A,
                                          policy_name="bad name!",
                                          policy_document=doc(allow("*")))[0],
                         "ValidationException")
        self.attach(A, "p1", doc(allow("secretsmanager:ListSecrets")))
        g = self.admin.call("GetIdentityPolicy", IDP, principal=A, policy_name="p1")
        self.assertEqual(json.loads(g.policy_document)["Statement"][0]["Action"],
                         "secretsmanager:ListSecrets")
        names = [(p.principal, p.policy_name) for p in
                 self.admin.call("ListIdentityPolicies", IDP, principal=A).policies]
        self.assertIn((A, "p1"), names)
        # Only the admin (or whoever is granted coffer:*) manages policies.
        self.assertEqual(self.a.fails("PutIdentityPolicy", IDP, principal=A,
                                      policy_name="me", policy_document=doc(allow("*")))[0],
                         "AccessDeniedException")
        self.admin.call("DeleteIdentityPolicy", IDP, principal=A, policy_name="p1")
        self.assertEqual(self.admin.fails("GetIdentityPolicy", IDP, principal=A,
                                          policy_name="p1")[0],
                         "ResourceNotFoundException")
        self.assertEqual(self.a.fails("ListSecrets")[0], "AccessDeniedException")


AK = "/coffer.v1.AccessKeys/"


class AccessKeyTest(AuthzCase):
    """Access keys for the AWS endpoint: who may manage them, what the
    audit trail and the database hold of them."""

    def delete_keys(self, principal):
        for k in self.admin.call("ListAccessKeys", AK,
                                 principal=principal).access_key_metadata:
            self.admin.call("DeleteAccessKey", AK, access_key_id=k.access_key_id)

    def test_admin_manages_keys_and_secret_is_shown_once(self):
        self.addCleanup(self.delete_keys, A)
        mark = self.after_now()
        k = self.admin.call("CreateAccessKey", AK, principal=A).access_key
        self.assertEqual((k.principal, k.status), (A, "Active"))
        self.assertRegex(k.access_key_id, r"^CKIA[A-Z2-7]{16}$")
        self.assertRegex(k.secret_access_key, r"^[A-Za-z0-9+/]{40}$")
        listed = self.admin.call("ListAccessKeys", AK, principal=A).access_key_metadata
        self.assertEqual([m.access_key_id for m in listed], [k.access_key_id])
        self.assertFalse(any(f.name == "secret_access_key" for f, _ in
                             listed[0].ListFields()))
        # A second key, then the quota.
        self.admin.call("CreateAccessKey", AK, principal=A)
        e = self.admin.fails("CreateAccessKey", AK, principal=A)
        self.assertEqual(e[0], "LimitExceededException")
        self.admin.call("UpdateAccessKey", AK, access_key_id=k.access_key_id,
                        status="Inactive")
        listed = self.admin.call("ListAccessKeys", AK, principal=A).access_key_metadata
        self.assertIn((k.access_key_id, "Inactive"),
                      [(m.access_key_id, m.status) for m in listed])
        self.admin.call("DeleteAccessKey", AK, access_key_id=k.access_key_id)
        self.assertEqual(self.admin.fails("DeleteAccessKey", AK,
                                          access_key_id=k.access_key_id)[0],
                         "ResourceNotFoundException")
        # Every call audited with the key's id; the secret nowhere in the
        # trail, nor in plaintext anywhere in the database.
        rows = h.psql(h.admin(self.db), "SELECT operation || ' ' || outcome || ' ' "
                      "|| coalesce(request_params, '') FROM audit_events WHERE "
                      + mark + " AND operation LIKE '%AccessKey%' ORDER BY "
                      + h.AUDIT_ORDER).splitlines()
        self.assertIn(f'DeleteAccessKey OK {{"AccessKeyId":"{k.access_key_id}"}}', rows)
        self.assertIn("CreateAccessKey LimitExceededException "
                      f'{{"Principal":"{A}"}}', rows)
        dump = subprocess.run(["pg_dump", "--data-only", h.admin(self.db)],
                              capture_output=True, text=True, check=True).stdout
        self.assertIn(k.access_key_id, dump)
        self.assertNotIn(k.secret_access_key, dump)

    def test_ordinary_principal_cannot_manage_keys(self):
        self.addCleanup(self.delete_keys, A)
        for op, fields in (("CreateAccessKey", {}),
                           ("CreateAccessKey", {"principal": B}),
                           ("ListAccessKeys", {}),
                           ("ListAccessKeys", {"principal": B}),
                           ("UpdateAccessKey", {"access_key_id": "CKIA" + "A" * 16,
                                                "status": "Active"}),
                           ("DeleteAccessKey", {"access_key_id": "CKIA" + "A" * 16})):
            self.assertEqual(self.a.fails(op, AK, **fields)[0],
                             "AccessDeniedException", (op, fields))
        # Granted coffer:ListAccessKeys, A lists (its own by default) but
        # still cannot create one for itself.
        self.attach(A, "keys-read", doc(allow("coffer:ListAccessKeys")))
        self.admin.call("CreateAccessKey", AK, principal=A)
        mine = self.a.call("ListAccessKeys", AK).access_key_metadata
        self.assertEqual([m.principal for m in mine], [A])
        self.assertEqual(self.a.fails("CreateAccessKey", AK)[0],
                         "AccessDeniedException")

    def test_bad_input(self):
        for fields, want in (({"access_key_id": "short", "status": "Active"},
                              "ValidationException"),
                             ({"access_key_id": "CKIA" + "A" * 16, "status": "On"},
                              "ValidationException"),
                             ({"status": "Active"}, "ValidationException"),
                             ({"access_key_id": "CKIA" + "A" * 16,
                               "status": "Active"}, "ResourceNotFoundException")):
            self.assertEqual(self.admin.fails("UpdateAccessKey", AK, **fields)[0],
                             want, fields)
        self.assertEqual(self.admin.fails("CreateAccessKey", AK,
                                          principal="x" * 1025)[0],
                         "ValidationException")


class ResourcePolicyTest(AuthzCase):

    def test_resource_policy_grants_one_secret(self):
        one, two = self.name("rp-one"), self.name("rp-two")
        arn = self.secret(one, "one-value")
        self.secret(two, "two-value")
        self.assertEqual(self.b.fails("GetSecretValue", secret_id=one)[0],
                         "AccessDeniedException")
        policy = doc(allow("secretsmanager:GetSecretValue", "*", Principal={"AWS": B}))
        r = self.admin.call("PutResourcePolicy", secret_id=one, resource_policy=policy,
                            block_public_policy=True)
        self.assertEqual(r.arn, arn)
        self.assertEqual(self.b.call("GetSecretValue", secret_id=one).secret_string,
                         "one-value")
        self.assertEqual(self.b.fails("GetSecretValue", secret_id=two)[0],
                         "AccessDeniedException")
        self.assertEqual(self.a.fails("GetSecretValue", secret_id=one)[0],
                         "AccessDeniedException")
        g = self.admin.call("GetResourcePolicy", secret_id=one)
        self.assertEqual(json.loads(g.resource_policy), json.loads(policy))
        self.admin.call("DeleteResourcePolicy", secret_id=one)
        self.assertFalse(self.admin.call("GetResourcePolicy",
                                         secret_id=one).HasField("resource_policy"))
        self.assertEqual(self.b.fails("GetSecretValue", secret_id=one)[0],
                         "AccessDeniedException")

    def test_block_public_policy_and_malformed(self):
        n = self.name("rp-public")
        self.secret(n)
        public = doc(allow("secretsmanager:GetSecretValue", "*", Principal="*"))
        e = self.admin.fails("PutResourcePolicy", secret_id=n, resource_policy=public,
                             block_public_policy=True)
        self.assertEqual(e[0], "PublicPolicyException")
        self.assertFalse(self.admin.call("GetResourcePolicy",
                                         secret_id=n).HasField("resource_policy"))
        # Without BlockPublicPolicy it is the owner's choice, and it works.
        self.admin.call("PutResourcePolicy", secret_id=n, resource_policy=public)
        self.b.call("GetSecretValue", secret_id=n)
        # A resource policy must name a principal.
        e = self.admin.fails("PutResourcePolicy", secret_id=n,
                             resource_policy=doc(allow("secretsmanager:*")))
        self.assertEqual(e[0], "MalformedPolicyDocumentException")
        self.assertIn("Principal", e[2])

    def test_validate_resource_policy(self):
        sm, _ = pb()
        r = self.admin.call("ValidateResourcePolicy", resource_policy=doc(
            allow("secretsmanager:GetSecretValue", "*", Principal={"AWS": B})))
        self.assertTrue(r.policy_validation_passed)
        r = self.admin.call("ValidateResourcePolicy", resource_policy=doc(
            allow("secretsmanager:*", "*", Principal="*")))
        self.assertFalse(r.policy_validation_passed)
        self.assertTrue(any("PUBLIC" in e.check_name for e in r.validation_errors),
                        r.validation_errors)
        r = self.admin.call("ValidateResourcePolicy",
                            resource_policy='{"Version": "2012-10-17",\n "Statement": [}')
        self.assertFalse(r.policy_validation_passed)
        self.assertTrue(any("line 2" in e.error_message for e in r.validation_errors),
                        r.validation_errors)


class TagsOnDemandTest(AuthzCase):
    """GetSecretValue's read leaves the secret's tags out; the engine reads
    them when a policy that decides the call could look at them
    (policy_reads_tags: a tag condition key, or a tag policy variable),
    in an identity or a resource policy.  The proof that they are not read
    otherwise: with SELECT on tags revoked from coffer_app, such reads
    still work, and a call a tag policy decides fails until it is granted
    back -- then the tag decides."""

    def revoke_tags(self):
        h.psql(h.admin(self.db), "REVOKE SELECT ON tags FROM coffer_app")
        self.addCleanup(self.grant_tags)

    def grant_tags(self):
        h.psql(h.admin(self.db), "GRANT SELECT ON tags TO coffer_app")

    def test_identity_policies(self):
        n = self.name("payments")
        self.secret(n, "v1", tags=[("team", "payments")])
        self.attach(A, "get", doc(allow("secretsmanager:GetSecretValue")))
        self.revoke_tags()
        self.assertEqual(self.a.call("GetSecretValue", secret_id=n).secret_string, "v1")

        # A Deny on a tag: the tags must be read; they cannot be.
        self.attach(A, "deny-payments", doc(deny(
            "secretsmanager:GetSecretValue",
            Condition={"StringEquals": {"secretsmanager:ResourceTag/team": "payments"}})))
        self.assertNotEqual(self.a.fails("GetSecretValue", secret_id=n)[0],
                            "AccessDeniedException")
        self.grant_tags()
        self.assertIn("explicit deny", self.a.fails("GetSecretValue", secret_id=n)[2])
        self.admin.call("DeleteIdentityPolicy", IDP, principal=A,
                        policy_name="deny-payments")
        self.a.call("GetSecretValue", secret_id=n)

        # A tag as a policy variable in the Resource.
        self.admin.call("DeleteIdentityPolicy", IDP, principal=A, policy_name="get")
        other = self.name("search")
        self.secret(other, "v2", tags=[("team", "payments")])
        self.attach(A, "by-team", doc(allow(
            "secretsmanager:GetSecretValue",
            "arn:aws:secretsmanager:*:*:secret:${secretsmanager:ResourceTag/team}-*")))
        self.assertEqual(self.a.call("GetSecretValue", secret_id=n).secret_string, "v1")
        self.assertEqual(self.a.fails("GetSecretValue", secret_id=other)[0],
                         "AccessDeniedException")

    def test_resource_policy(self):
        n = self.name("rp-payments")
        self.secret(n, "v1", tags=[("team", "payments")])
        self.admin.call("PutResourcePolicy", secret_id=n, resource_policy=doc(
            allow("secretsmanager:GetSecretValue", Principal={"AWS": B})))
        self.revoke_tags()
        self.assertEqual(self.b.call("GetSecretValue", secret_id=n).secret_string, "v1")
        self.grant_tags()
        self.admin.call("PutResourcePolicy", secret_id=n, resource_policy=doc(
            allow("secretsmanager:GetSecretValue", Principal={"AWS": B}),
            deny("secretsmanager:GetSecretValue", Principal={"AWS": B},
                 Condition={"StringEquals": {"secretsmanager:ResourceTag/team":
                                             "payments"}})))
        self.revoke_tags()
        self.assertNotEqual(self.b.fails("GetSecretValue", secret_id=n)[0],
                            "AccessDeniedException")
        self.grant_tags()
        self.assertIn("explicit deny", self.b.fails("GetSecretValue", secret_id=n)[2])


class TwoServersTest(unittest.TestCase):
    """A policy change on one server takes effect on the other, unrestarted."""

    def test_change_reaches_the_other_server(self):
        pki = h.Certs()
        self.addCleanup(pki.destroy)
        db = h.fresh_database("authz2")
        s1 = h.Server(db, tls=pki).start()
        self.addCleanup(s1.stop)
        s2 = h.Server(db, tls=pki).start()
        self.addCleanup(s2.stop)
        a_cert = pki.client("alpha", A)
        admin1 = Caller(s1, s1.admin_cert)
        a2 = Caller(s2, a_cert)
        self.addCleanup(admin1.close)
        self.addCleanup(a2.close)
        sm, _ = pb()
        admin1.call("CreateSecret", name="shared", secret_string="x",
                    client_request_token=token())

        def until(pred, what):
            h.until(pred, what, 15)

        def a_can_read():
            try:
                a2.call("GetSecretValue", secret_id="shared")
                return True
            except grpc.RpcError as e:
                self.assertEqual(error_type(e), "AccessDeniedException")
                return False

        # Server 2 caches A's (empty) policies by denying once.
        self.assertFalse(a_can_read())
        admin1.call("PutIdentityPolicy", IDP, principal=A, policy_name="read",
                    policy_document=doc(allow("secretsmanager:GetSecretValue")))
        until(a_can_read, "the Allow never reached server 2")
        admin1.call("PutIdentityPolicy", IDP, principal=A, policy_name="stop",
                    policy_document=doc(deny("secretsmanager:*")))
        until(lambda: not a_can_read(), "the Deny never reached server 2")
        admin1.call("DeleteIdentityPolicy", IDP, principal=A, policy_name="stop")
        until(a_can_read, "the deletion never reached server 2")


class CliTest(AuthzCase):
    """coffer over mutual TLS, with flags, environment and .coffer-dev."""

    def run_coffer(self, *args, cert=None, env=None, cwd=None, binary=None):
        e = dict(os.environ)
        for k in ("COFFER_ENDPOINT", "COFFER_CA_BUNDLE", "COFFER_CERT", "COFFER_KEY",
                  "COFFER_DEV_DIR"):
            e.pop(k, None)
        e.update(env or {})
        flags = ["--endpoint-url", self.server.url()]
        if cert:
            flags += ["--ca-bundle", self.pki.ca + ".pem", "--cert", cert[0],
                      "--key", cert[1]]
        return subprocess.run([binary or os.path.join(h.BUILD, "coffer"),
                               *flags, *args],
                              env=e, cwd=cwd, capture_output=True, text=True,
                              timeout=60)

    def test_cli_as_principals(self):
        n = self.name("cli")
        self.secret(n, "cli-value")
        r = self.run_coffer("get-secret-value", "--secret-id", n,
                            cert=self.server.admin_cert)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["SecretString"], "cli-value")
        r = self.run_coffer("get-secret-value", "--secret-id", n, cert=self.a_cert)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("AccessDeniedException", r.stderr)
        self.assertIn(A, r.stderr)
        # Resource policy verbs through the CLI.
        r = self.run_coffer("put-resource-policy", "--secret-id", n,
                            "--resource-policy",
                            doc(allow("secretsmanager:GetSecretValue", "*",
                                      Principal={"AWS": A})),
                            "--block-public-policy", cert=self.server.admin_cert)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.run_coffer("get-secret-value", "--secret-id", n, cert=self.a_cert)
        self.assertEqual(r.returncode, 0, r.stderr)
        # The files from the environment instead of flags.
        r = self.run_coffer("get-secret-value", "--secret-id", n, env={
            "COFFER_CA_BUNDLE": self.pki.ca + ".pem", "COFFER_CERT": self.a_cert[0],
            "COFFER_KEY": self.a_cert[1]})
        self.assertEqual(r.returncode, 0, r.stderr)
        # No client certificate: refused at the TLS handshake.
        r = self.run_coffer("get-secret-value", "--secret-id", n,
                            env={"COFFER_CA_BUNDLE": self.pki.ca + ".pem"})
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Could not connect to the endpoint URL", r.stderr + r.stdout)
        self.assertNotIn("cli-value", r.stdout)

    def test_cli_access_key_verbs(self):
        adm = self.server.admin_cert
        for k in self.admin.call("ListAccessKeys", AK,
                                 principal=B).access_key_metadata:
            self.admin.call("DeleteAccessKey", AK, access_key_id=k.access_key_id)
        r = self.run_coffer("create-access-key", "--principal", B, cert=adm)
        self.assertEqual(r.returncode, 0, r.stderr)
        key = json.loads(r.stdout)["AccessKey"]
        self.assertEqual(set(key), {"Principal", "AccessKeyId", "Status",
                                    "SecretAccessKey", "CreateDate"})
        self.assertEqual((key["Principal"], key["Status"]), (B, "Active"))
        r = self.run_coffer("list-access-keys", "--principal", B, "--query",
                            "AccessKeyMetadata[].[AccessKeyId,Status]",
                            "--output", "text", cert=adm)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), [key["AccessKeyId"], "Active"])
        self.assertNotIn(key["SecretAccessKey"], r.stdout)
        r = self.run_coffer("update-access-key", "--access-key-id",
                            key["AccessKeyId"], "--status", "Inactive", cert=adm)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.run_coffer("update-access-key", "--access-key-id",
                            key["AccessKeyId"], cert=adm)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--status", r.stderr)
        r = self.run_coffer("create-access-key", cert=self.b_cert)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("AccessDeniedException", r.stderr)
        r = self.run_coffer("delete-access-key", "--access-key-id",
                            key["AccessKeyId"], cert=adm)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.run_coffer("delete-access-key", "--access-key-id",
                            key["AccessKeyId"], cert=adm)
        self.assertIn("ResourceNotFoundException", r.stderr)

    def test_cli_identity_policy_verbs(self):
        n = self.name("cliidp")
        self.secret(n, "idp-value")
        adm = self.server.admin_cert
        policy = doc(allow("secretsmanager:GetSecretValue",
                           "arn:aws:secretsmanager:*:*:secret:cliidp-*"))
        path = os.path.join(self.pki.dir, "policy.json")
        with open(path, "w") as f:
            f.write(policy)
        r = self.run_coffer("put-identity-policy", "--principal", B, "--policy-name",
                            "cli-read", "--policy-document", "file://" + path, cert=adm)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.attached.append((B, "cli-read"))
        self.assertEqual(json.loads(r.stdout), {"Principal": B, "PolicyName": "cli-read"})
        r = self.run_coffer("get-identity-policy", "--principal", B, "--policy-name",
                            "cli-read", cert=adm)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(json.loads(r.stdout)["PolicyDocument"]),
                         json.loads(policy))
        r = self.run_coffer("list-identity-policies", "--principal", B, cert=adm)
        self.assertIn("cli-read", [p["PolicyName"] for p in json.loads(r.stdout)["Policies"]])
        r = self.run_coffer("get-secret-value", "--secret-id", n, cert=self.b_cert)
        self.assertEqual(r.returncode, 0, r.stderr)
        # A principal other than the admin may not manage policies.
        r = self.run_coffer("delete-identity-policy", "--principal", B, "--policy-name",
                            "cli-read", cert=self.b_cert)
        self.assertEqual(r.returncode, 254)
        self.assertIn("AccessDeniedException", r.stderr)
        r = self.run_coffer("delete-identity-policy", "--principal", B, "--policy-name",
                            "cli-read", cert=adm)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.run_coffer("get-secret-value", "--secret-id", n, cert=self.b_cert)
        self.assertEqual(r.returncode, 254)
        self.assertIn("AccessDeniedException", r.stderr)

    def test_cli_finds_coffer_dev(self):
        """Implicitly only the checkout's own .coffer-dev, found from the
        binary's location; one planted in the working directory or a parent
        is never trusted; coffer says on stderr which files it used."""
        n = self.name("clidev")
        self.secret(n, "dev-value")

        def devdir(root):
            tls = os.path.join(root, ".coffer-dev", "tls")
            os.makedirs(tls)
            for src, dst in ((self.pki.ca + ".pem", "ca.pem"),
                             (self.server.admin_cert[0], "admin.pem"),
                             (self.server.admin_cert[1], "admin.key")):
                shutil.copyfile(src, os.path.join(tls, dst))
            return tls

        def checkout(root):
            os.makedirs(os.path.join(root, "build"))
            exe = os.path.join(root, "build", "coffer")
            shutil.copy2(os.path.join(h.BUILD, "coffer"), exe)
            return exe

        # A planted .coffer-dev above the working directory: not used, even
        # though its files would work.
        planted = os.path.join(self.pki.dir, "planted")
        devdir(planted)
        os.makedirs(os.path.join(planted, "sub", "dir"))
        bare = checkout(os.path.join(self.pki.dir, "bare"))
        r = self.run_coffer("get-secret-value", "--secret-id", n, binary=bare,
                            cwd=os.path.join(planted, "sub", "dir"))
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("--ca-bundle", r.stderr)
        self.assertNotIn("dev-value", r.stdout)

        # The checkout's own, beside its build/: used, and named on stderr.
        root = os.path.join(self.pki.dir, "project")
        tls = devdir(root)
        exe = checkout(root)
        r = self.run_coffer("get-secret-value", "--secret-id", n, binary=exe,
                            cwd=self.pki.dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["SecretString"], "dev-value")
        self.assertIn("using the development TLS files of " + tls, r.stderr)
        self.assertIn("admin.key", r.stderr)

        # Writable by others: refused as if absent.
        os.chmod(tls, 0o777)
        try:
            r = self.run_coffer("get-secret-value", "--secret-id", n,
                                binary=exe, cwd=self.pki.dir)
        finally:
            os.chmod(tls, 0o755)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("--ca-bundle", r.stderr)

        # Explicit files: nothing announced.
        r = self.run_coffer("get-secret-value", "--secret-id", n,
                            cert=self.server.admin_cert)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("development TLS files", r.stderr)


class StartupTest(unittest.TestCase):

    def start_fails(self, extra, expect, timeout=120):
        db = h.fresh_database("authzstart")
        s = h.Server(db, extra_env=extra)
        for k in ("COFFER_PLAINTEXT", "COFFER_TLS_CERT", "COFFER_TLS_KEY",
                  "COFFER_TLS_CLIENT_CA"):
            if k not in extra:
                s.env.pop(k, None)
        s.start(wait=False)
        try:
            rc = s.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            s.proc.kill()
            s.proc.wait()
            self.fail(f"cofferd did not refuse to start:\n{s.output()}")
        self.assertNotEqual(rc, 0)
        self.assertIn(expect, s.output())

    def test_group_readable_tls_key_refused(self):
        pki = h.Certs()
        self.addCleanup(pki.destroy)
        key = os.path.join(pki.dir, "loose.key")
        with open(pki.server + ".key", "rb") as f, open(key, "wb") as g:
            g.write(f.read())
        os.chmod(key, 0o640)
        self.start_fails({"COFFER_TLS_CERT": pki.server + ".pem",
                          "COFFER_TLS_KEY": key,
                          "COFFER_TLS_CLIENT_CA": pki.ca + ".pem"},
                         "is accessible by group or others (mode 640)", timeout=30)

    def test_tls_is_the_default(self):
        self.start_fails({}, "cofferd serves mutual TLS")

    def test_plaintext_only_on_loopback(self):
        self.start_fails({"COFFER_PLAINTEXT": "on", "COFFER_LISTEN": "0.0.0.0:0"},
                         "loopback")

    def test_key_of_another_certificate_refused(self):
        pki = h.Certs()
        self.addCleanup(pki.destroy)
        other = pki.client("someone")
        self.start_fails({"COFFER_TLS_CERT": pki.server + ".pem",
                          "COFFER_TLS_KEY": other[1],
                          "COFFER_TLS_CLIENT_CA": pki.ca + ".pem"},
                         "tls_cert and tls_key must be")

    def test_unreadable_tls_file_refused(self):
        pki = h.Certs()
        self.addCleanup(pki.destroy)
        self.start_fails({"COFFER_TLS_CERT": pki.server + ".pem",
                          "COFFER_TLS_KEY": pki.server + ".key",
                          "COFFER_TLS_CLIENT_CA": "/nonexistent/ca.pem"},
                         "could not open tls_client_ca")

    def test_plaintext_and_tls_together_refused(self):
        pki = h.Certs()
        self.addCleanup(pki.destroy)
        self.start_fails({"COFFER_PLAINTEXT": "on",
                          "COFFER_TLS_CERT": pki.server + ".pem"}, "choose one")


if __name__ == "__main__":
    unittest.main()
