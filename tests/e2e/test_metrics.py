"""End-to-end tests of /metrics (issue 17, item 1): a real cofferd with
metrics_listen, scraped over HTTP and parsed by Prometheus's own text
parser (python3-prometheus-client): the calls counted by operation and
outcome over both listeners, their durations, the audit's lanes, the
data-key cache, the rotations and purges, build info; and nothing in it
that names a secret or a principal.
"""
import json
import os
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import grpc
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e import harness as h
from tests.e2e.harness import error_type, token

B = "spiffe://coffer.test/ns/prod/sa/beta"


def setUpModule():
    h.pb()


class MetricsTest(unittest.TestCase):

    def setUp(self):
        self.pki = h.Certs()
        self.addCleanup(self.pki.destroy)
        self.db = h.fresh_database("metrics")
        self.port = h.free_port()
        self.aws_port = h.free_port()
        self.s = h.Server(self.db, tls=self.pki, extra_env={
            "COFFER_METRICS_LISTEN": f"127.0.0.1:{self.port}",
            "COFFER_AWS_LISTEN": f"127.0.0.1:{self.aws_port}",
            "COFFER_ROTATION_INTERVAL": "1", "COFFER_PURGE_INTERVAL": "1"}).start()
        self.addCleanup(self.s.stop)

    def scrape(self):
        """{(name, frozenset(labels)): value} and the raw text."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics",
                                    timeout=10) as r:
            self.assertEqual(r.status, 200)
            self.assertTrue(r.headers["Content-Type"].startswith("text/plain; version=0.0.4"))
            text = r.read().decode()
        out = {}
        for fam in text_string_to_metric_families(text):
            for smp in fam.samples:
                out[(smp.name, frozenset(smp.labels.items()))] = smp.value
        return out, text

    def value(self, m, name, **labels):
        return m.get((name, frozenset(labels.items())), 0)

    def test_scrape(self):
        admin = h.Caller(self.s, self.s.admin_cert)
        self.addCleanup(admin.close)
        beta = h.Caller(self.s, self.pki.client("beta", B))
        self.addCleanup(beta.close)
        secret = "metrics/very-private-name-" + token()[:8]
        admin.call("CreateSecret", name=secret, secret_string="hunter2",
                   client_request_token=token())
        before, _ = self.scrape()
        for _ in range(7):
            admin.call("GetSecretValue", secret_id=secret)
        for _ in range(3):
            with self.assertRaises(grpc.RpcError) as e:
                beta.call("GetSecretValue", secret_id=secret)
            self.assertEqual(error_type(e.exception), "AccessDeniedException")
        with self.assertRaises(grpc.RpcError):
            admin.call("GetSecretValue", secret_id="metrics/none")
        # A method nobody has: counted as "Unknown", its name nowhere.
        with self.assertRaises(grpc.RpcError) as e:
            admin.channel.unary_unary(
                "/coffer.v1.NoSuchService/Exfiltrate",
                request_serializer=lambda b: b,
                response_deserializer=lambda b: b)(b"", timeout=10)
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
        # A rotation run by the scheduler, and a purge.
        admin.call("RotateSecret", secret_id=secret,
                   rotation_lambda_arn="builtin:password",
                   client_request_token=token())
        gone = "metrics/gone-" + token()[:8]
        arn = admin.call("CreateSecret", name=gone, secret_string="x",
                         client_request_token=token()).arn
        admin.call("DeleteSecret", secret_id=gone, recovery_window_in_days=7)
        h.psql(h.admin(self.db), "UPDATE secrets SET purge_after = now() - "
               f"interval '1 s' WHERE arn = '{arn}'")

        def done():
            m, _ = self.scrape()
            return (self.value(m, "coffer_rotations_total",
                               rotator="builtin:password", outcome="OK") >= 1 and
                    self.value(m, "coffer_purged_secrets_total") >= 1)
        h.until(done, "the rotation and the purge never showed", timeout=60)
        m, text = self.scrape()

        get = dict(operation="GetSecretValue")
        self.assertEqual(self.value(m, "coffer_requests_total", outcome="OK", **get) -
                         self.value(before, "coffer_requests_total", outcome="OK", **get), 7)
        self.assertEqual(self.value(m, "coffer_requests_total",
                                    outcome="AccessDeniedException", **get), 3)
        self.assertEqual(self.value(m, "coffer_requests_total",
                                    outcome="ResourceNotFoundException", **get), 1)
        # The histogram counts every answered read, and its buckets add up.
        count = self.value(m, "coffer_request_duration_seconds_count", **get)
        self.assertEqual(count, sum(v for (n, l), v in m.items()
                                    if n == "coffer_requests_total" and
                                    dict(l).get("operation") == "GetSecretValue"))
        self.assertEqual(self.value(m, "coffer_request_duration_seconds_bucket",
                                    le="+Inf", **get), count)
        self.assertGreater(self.value(m, "coffer_request_duration_seconds_sum", **get), 0)
        # The scrape's own connection is not a call; the health checks are.
        self.assertEqual(self.value(m, "coffer_requests_in_flight"), 0)
        self.assertGreaterEqual(self.value(m, "coffer_audit_batch_events_count",
                                           lane="queue"), 1)
        self.assertGreaterEqual(self.value(m, "coffer_audit_commit_seconds_count",
                                           lane="change"), 3)
        self.assertIn(("coffer_audit_queue_events", frozenset()), m)
        self.assertGreaterEqual(self.value(m, "coffer_dek_cache_hits_total") +
                                self.value(m, "coffer_dek_cache_misses_total"), 7)
        self.assertEqual(self.value(m, "coffer_database_errors_total"), 0)
        self.assertEqual(self.value(m, "coffer_token_errors_total"), 0)
        self.assertEqual(sum(v for (n, l), v in m.items() if n == "coffer_build_info"), 1)

        self.assertEqual(sum(v for (n, l), v in m.items() if n == "coffer_requests_total"
                             and dict(l)["operation"] == "Unknown"), 1)

        # Nothing that names a secret, a principal or a value.
        for private in (secret, "very-private-name", gone, B, h.ADMIN, "hunter2",
                        "coffer.test", "Exfiltrate", "NoSuchService"):
            self.assertNotIn(private, text)

        # Only GET /metrics.
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=10)
        self.assertEqual(e.exception.code, 404)
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/metrics",
                                     data=b"x", method="POST")
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        self.assertEqual(e.exception.code, 405)

    def test_aws_calls_counted(self):
        """AWS's JSON protocol ends in the same counters as gRPC."""
        m0, _ = self.scrape()
        r = subprocess.run(["/usr/bin/aws", "secretsmanager", "get-secret-value",
                            "--secret-id", "metrics/none", "--endpoint-url",
                            f"https://127.0.0.1:{self.aws_port}", "--no-verify-ssl",
                            "--region", "local-1"],
                           env={**os.environ, "AWS_ACCESS_KEY_ID": "CKIAAAAAAAAAAAAAAAAA",
                                "AWS_SECRET_ACCESS_KEY": "x" * 40,
                                "AWS_MAX_ATTEMPTS": "1"},
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("UnrecognizedClient", r.stderr)
        m, _ = self.scrape()
        self.assertEqual(self.value(m, "coffer_requests_total", operation="GetSecretValue",
                                    outcome="UnrecognizedClientException") -
                         self.value(m0, "coffer_requests_total", operation="GetSecretValue",
                                    outcome="UnrecognizedClientException"), 1)


if __name__ == "__main__":
    unittest.main()
