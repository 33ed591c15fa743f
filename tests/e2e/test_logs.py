"""End-to-end tests of cofferd's log (issue 17, item 2): log_format = json
gives one JSON object per line, every line of it (gRPC's own included),
with time, level and message, and for a call its request id, operation,
principal and outcome; never a value or the PIN; log_level filters;
warnings and errors are rate-limited, so a dead database does not flood
the log, and the lines left out are counted.
"""
import json
import os
import re
import subprocess
import time
import unittest

import grpc

from tests.e2e import harness as h
from tests.e2e.harness import error_type, token

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def setUpModule():
    h.pb()


class LogsTest(unittest.TestCase):

    def setUp(self):
        self.pki = h.Certs()
        self.addCleanup(self.pki.destroy)

    def lines(self, s):
        """Every line cofferd wrote, each parsed as JSON (a line that is
        not JSON fails the test)."""
        out = []
        for line in s.output().splitlines():
            try:
                o = json.loads(line)
            except ValueError:
                self.fail(f"not a JSON line: {line!r}")
            self.assertIsInstance(o, dict, line)
            self.assertRegex(o.get("time", ""), TIME, line)
            self.assertIn(o.get("level"), ("debug", "info", "warn", "error"), line)
            self.assertIsInstance(o.get("message"), str, line)
            out.append(o)
        return out

    def test_json_lines_and_the_rate_limit(self):
        # A cluster of the test's own, which it stops.
        c = h.Cluster()
        self.addCleanup(c.destroy)
        h.migrate_database(c.app())
        s = h.Server(c.app(), tls=self.pki, extra_env={
            "COFFER_LOG_FORMAT": "json", "COFFER_LOG_LEVEL": "debug",
            "COFFER_DB_TIMEOUT": "2"}).start()
        self.addCleanup(s.stop)
        admin = h.Caller(s, s.admin_cert)
        self.addCleanup(admin.close)
        value = "s3cr3t-" + token()
        admin.call("CreateSecret", name="logs/one", secret_string=value,
                   client_request_token=token())
        _, md, _ = s.call("GetSecretValue", h.pb()[0].GetSecretValueRequest(
            secret_id="logs/one"))
        rid = md["coffer-request-id"]

        lines = self.lines(s)
        self.assertTrue(any(o["level"] == "info" and "listening on" in o["message"]
                            for o in lines), lines[:5])
        mine = [o for o in lines if o.get("request_id") == rid]
        self.assertEqual(len(mine), 1, mine)
        self.assertEqual((mine[0]["operation"], mine[0]["principal"], mine[0]["outcome"],
                          mine[0]["level"]), ("GetSecretValue", h.ADMIN, "OK", "debug"))
        with open(h.env("COFFER_TEST_PIN_FILE")) as f:
            pin = f.read().strip()
        for private in (value, pin):
            self.assertNotIn(private, s.output())

        # The database gone: every call fails, and the log says so a few
        # times, not once per call.
        c.stop()
        mark = len(s.output())
        failures = 0
        deadline = time.time() + 60
        while failures < 60 and time.time() < deadline:
            try:
                admin.call("GetSecretValue", secret_id="logs/one")
            except grpc.RpcError as e:
                self.assertEqual(error_type(e), "ServiceUnavailable")
                failures += 1
        self.assertEqual(failures, 60)
        after = [json.loads(l) for l in s.output()[mark:].splitlines()]
        unavailable = [o for o in after if o.get("outcome") == "ServiceUnavailable"]
        self.assertGreaterEqual(len(unavailable), 1)
        self.assertLessEqual(len(unavailable), 10, unavailable)
        self.assertTrue(all(o["level"] == "warn" and o["operation"] == "GetSecretValue"
                            for o in unavailable), unavailable)
        self.assertLess(len(after), 60 + 10, "a line per failed call, or more")

        # Past the window the site speaks again and says what it left out.
        time.sleep(10.5)
        with self.assertRaises(grpc.RpcError):
            admin.call("GetSecretValue", secret_id="logs/one")
        h.until(lambda: "more lines like the next were not written" in s.output(),
                "the lines left out were never counted")

        # The database back: served again, no restart.
        c.start()
        h.until(lambda: self._reads(admin, value), "never served again", timeout=60)
        self.lines(s)

    def _reads(self, c, value):
        try:
            return c.call("GetSecretValue", secret_id="logs/one").secret_string == value
        except grpc.RpcError:
            return False

    def test_level_and_bad_settings(self):
        db = h.fresh_database("logs")
        s = h.Server(db, tls=self.pki, extra_env={"COFFER_LOG_LEVEL": "error"}).start()
        self.addCleanup(s.stop)
        s.call("GetRandomPassword", h.pb()[0].GetRandomPasswordRequest())
        self.assertNotIn("listening on", s.output())
        for key, value, why in (("COFFER_LOG_FORMAT", "xml", "log_format must be text or json"),
                                ("COFFER_LOG_LEVEL", "loud", "log_level must be")):
            bad = h.Server(db, tls=self.pki, extra_env={key: value})
            r = subprocess.run(bad.command(), env=bad.env, capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(r.returncode, 1)
            self.assertIn(why, r.stderr)


if __name__ == "__main__":
    unittest.main()
