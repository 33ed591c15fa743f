"""End-to-end tests of rotation (issue 6): RotateSecret and CancelRotateSecret
semantics, the builtin:password rotator run by cofferd's scheduler, every
step in the audit trail, exec: rotators through the API, and the CLI's
rotate-secret.  The PostgreSQL rotators are test_rotation_pg's; dead
servers and two servers, test_rotation_servers'.
"""
import json
import os
import shutil
import time
import unittest

import grpc

from tests.e2e import harness as h
from tests.e2e.harness import error_type, pb, token
from tests.e2e import rotation_base
from tests.e2e.rotation_base import FAST, Helpers, RotationCase
from tests.e2e.test_rotator_exec import rotator_dirs, rotator_pids, rotator_user

# unittest runs a module's setUpModule: the rotation tests' shared one.
setUpModule = rotation_base.setUpModule


class RotateSecretTest(RotationCase):

    def test_password_rotation(self):
        name = self.secret()
        old = self.call("GetSecretValue", secret_id=name)
        tok = token()
        r = self.call("RotateSecret", secret_id=name, client_request_token=tok,
                      rotation_lambda_arn="builtin:password?PasswordLength=40&"
                                          "ExcludePunctuation=true",
                      rotation_rules={"automatically_after_days": 30})
        self.assertEqual(r.version_id, tok)
        self.until(lambda: self.rotated(name, tok), "the rotation never finished")
        new = self.call("GetSecretValue", secret_id=name)
        self.assertEqual(new.version_id, tok)
        self.assertNotEqual(new.secret_string, old.secret_string)
        self.assertEqual(len(new.secret_string), 40)
        self.assertTrue(new.secret_string.isalnum())
        st = self.stages(name)
        self.assertEqual(st[old.version_id], ["AWSPREVIOUS"])
        self.assertNotIn("AWSPENDING", st[tok])
        d = self.call("DescribeSecret", secret_id=name)
        self.assertTrue(d.rotation_enabled)
        self.assertEqual(d.rotation_lambda_arn,
                         "builtin:password?PasswordLength=40&ExcludePunctuation=true")
        self.assertEqual(d.rotation_rules.automatically_after_days, 30)
        self.assertTrue(d.HasField("last_rotated_date"))
        # The next window: the UTC day 30 days after the rotation.
        day = 86400000
        self.assertEqual(d.next_rotation_date,
                         (d.last_rotated_date // day + 30) * day)
        # Each step is in the audit trail, as the principal who configured
        # the rotation (issue 11), without a value.
        rows = self.sql("SELECT operation || '|' || outcome FROM audit_events WHERE "
                        f"version_id = '{tok}' AND principal = 'anonymous' "
                        f"AND operation LIKE 'Rotation/%' ORDER BY {h.AUDIT_ORDER}")
        self.assertEqual(rows.split("\n"), [
            "Rotation/createSecret|OK", "Rotation/setSecret|OK",
            "Rotation/testSecret|OK", "Rotation/finishSecret|OK"])
        self.assertEqual(self.sql("SELECT count(*) FROM audit_events WHERE "
                                  f"request_id LIKE '%{new.secret_string}%' OR "
                                  f"peer LIKE '%{new.secret_string}%'"), "0")

    def test_json_value_changes_only_password(self):
        value = json.dumps({"engine": "postgres", "host": "db", "username": "app",
                            "password": "old-password"})
        name = self.secret(value)
        tok = token()
        self.call("RotateSecret", secret_id=name, client_request_token=tok,
                  rotation_lambda_arn="builtin:password?PasswordLength=24")
        self.until(lambda: self.rotated(name, tok), "the rotation never finished")
        new = json.loads(self.call("GetSecretValue", secret_id=name).secret_string)
        self.assertEqual({k: v for k, v in new.items() if k != "password"},
                         {"engine": "postgres", "host": "db", "username": "app"})
        self.assertEqual(len(new["password"]), 24)
        self.assertNotEqual(new["password"], "old-password")

    def test_pending_version_exists_before_the_steps(self):
        # With the scheduler's lease taken by a (fake) other server, the
        # steps cannot run: RotateSecret's own effect is visible alone.
        name = self.secret()
        self.sql("UPDATE secrets SET rotation_lease_owner = 'elsewhere', "
                 "rotation_lease_until = now() + interval '1 hour' "
                 f"WHERE name = '{name}'")
        tok = token()
        self.call("RotateSecret", secret_id=name, client_request_token=tok,
                  rotation_lambda_arn="builtin:password")
        self.assertEqual(self.stages(name)[tok], ["AWSPENDING"])
        d = self.call("DescribeSecret", secret_id=name)
        self.assertTrue(d.rotation_enabled)
        # The pending version has no value yet, as in AWS.
        e = self.fails("GetSecretValue", secret_id=name, version_stage="AWSPENDING")
        self.assertEqual(e[0], "ResourceNotFoundException")
        # The same request again is a no-op; another is refused.
        self.assertEqual(self.call("RotateSecret", secret_id=name,
                                   client_request_token=tok).version_id, tok)
        self.assertEqual(self.fails("RotateSecret", secret_id=name,
                                    client_request_token=token())[0],
                         "InvalidRequestException")
        # AWSCURRENT cannot move onto it.
        cur = self.call("GetSecretValue", secret_id=name).version_id
        self.assertEqual(self.fails("UpdateSecretVersionStage", secret_id=name,
                                    version_stage="AWSCURRENT", move_to_version_id=tok,
                                    remove_from_version_id=cur)[0],
                         "InvalidRequestException")
        # Once the lease is free, the scheduler finishes it.
        self.sql("UPDATE secrets SET rotation_lease_until = now() - interval '1 s' "
                 f"WHERE name = '{name}'")
        self.until(lambda: self.rotated(name, tok), "the rotation never finished")

    def test_rotate_immediately_false_tests_only(self):
        name = self.secret()
        before = self.call("GetSecretValue", secret_id=name)
        tok = token()
        self.call("RotateSecret", secret_id=name, client_request_token=tok,
                  rotation_lambda_arn="builtin:password", rotate_immediately=False,
                  rotation_rules={"schedule_expression": "rate(10 days)"})
        self.until(lambda: tok not in self.stages(name), "the test never finished")
        after = self.call("GetSecretValue", secret_id=name)
        self.assertEqual((after.version_id, after.secret_string),
                         (before.version_id, before.secret_string))
        d = self.call("DescribeSecret", secret_id=name)
        self.assertTrue(d.rotation_enabled)
        self.assertFalse(d.HasField("last_rotated_date"))
        self.assertEqual(d.rotation_rules.schedule_expression, "rate(10 days)")
        self.assertTrue(d.HasField("next_rotation_date"))
        ops = self.sql(f"SELECT string_agg(operation, ',' ORDER BY {h.AUDIT_ORDER}) "
                       f"FROM audit_events WHERE version_id = '{tok}' "
                       "AND principal = 'anonymous' AND operation LIKE 'Rotation/%'")
        self.assertEqual(ops, "Rotation/testSecret")

    def test_bad_requests(self):
        name = self.secret()
        lam = "builtin:password"
        cases = [
            ({"client_request_token": token(), "rotation_lambda_arn": lam,
              "rotation_rules": {"automatically_after_days": 3,
                                 "schedule_expression": "rate(10 days)"}},
             "InvalidParameterException", "both"),
            ({"client_request_token": token(), "rotation_lambda_arn": lam,
              "rotation_rules": {"schedule_expression": "rate(1 hours)"}},
             "InvalidParameterException", ""),
            ({"client_request_token": token(), "rotation_lambda_arn": lam,
              "rotation_rules": {"automatically_after_days": 1001}},
             "InvalidParameterException", ""),
            ({"rotation_lambda_arn": lam}, "InvalidParameterException",
             "ClientRequestToken"),
            ({"client_request_token": token(),
              "rotation_lambda_arn": "arn:aws:lambda:us-east-1:1:function:f"},
             "InvalidParameterException", "builtin:password"),
            ({"client_request_token": token(),
              "rotation_lambda_arn": "builtin:password?PasswordLength=5000"},
             "ValidationException", "passwordLength"),
            ({"client_request_token": token()}, "InvalidRequestException",
             "No Lambda rotation function"),
        ]
        for fields, exc, text in cases:
            with self.subTest(fields=fields):
                e = self.fails("RotateSecret", secret_id=name, **fields)
                self.assertEqual(e[0], exc, e)
                self.assertIn(text, e[1])
        # Nothing changed.
        d = self.call("DescribeSecret", secret_id=name)
        self.assertFalse(d.HasField("rotation_enabled"))
        self.assertEqual(list(self.stages(name).values()), [["AWSCURRENT"]])

    def test_long_or_unknown_rotator_is_refused(self):
        """Issue 11, item 3: a RotationLambdaARN that names no rotator is
        never taken for builtin:password, however long it is."""
        name = self.secret()
        long_pw = "builtin:password?ExcludeCharacters=" + "a" * 2013
        self.assertEqual(len(long_pw), 2048)
        cases = [
            ("x" * 2049, "ValidationException", "length"),
            ("builtin:password" + "x" * 2033, "ValidationException", "length"),
            (long_pw + "a", "ValidationException", "length"),
            ("x" * 2048, "InvalidParameterException", "names no rotator"),
            ("builtin:passwordx", "InvalidParameterException", "names no rotator"),
            ("builtin:pass", "InvalidParameterException", "names no rotator"),
            ("builtin:password\x00", "InvalidParameterException", "NUL"),
        ]
        for lam, exc, text in cases:
            with self.subTest(length=len(lam), start=lam[:20]):
                e = self.fails("RotateSecret", secret_id=name, client_request_token=token(),
                               rotation_lambda_arn=lam)
                self.assertEqual(e[0], exc, e)
                self.assertIn(text, e[1])
        d = self.call("DescribeSecret", secret_id=name)
        self.assertFalse(d.HasField("rotation_enabled"))
        self.assertEqual(list(self.stages(name).values()), [["AWSCURRENT"]])
        # 2,048 characters naming a rotator still rotate.
        tok = token()
        self.call("RotateSecret", secret_id=name, client_request_token=tok,
                  rotation_lambda_arn=long_pw)
        self.until(lambda: self.rotated(name, tok), "the rotation never finished")

    def test_stale_pending_blocks_rotation(self):
        name = self.secret()
        self.call("PutSecretValue", secret_id=name, secret_string="left-over",
                  client_request_token=token(), version_stages=["AWSPENDING"])
        e = self.fails("RotateSecret", secret_id=name, client_request_token=token(),
                       rotation_lambda_arn="builtin:password")
        self.assertEqual(e, ("InvalidRequestException",
                             "Previous rotation request is still in progress."))

    def test_cancel_keeps_rules_and_pending(self):
        name = self.secret()
        self.sql("UPDATE secrets SET rotation_lease_owner = 'elsewhere', "
                 "rotation_lease_until = now() + interval '1 hour' "
                 f"WHERE name = '{name}'")
        tok = token()
        self.call("RotateSecret", secret_id=name, client_request_token=tok,
                  rotation_lambda_arn="builtin:password",
                  rotation_rules={"automatically_after_days": 7})
        r = self.call("CancelRotateSecret", secret_id=name)
        self.assertEqual(r.version_id, tok)
        d = self.call("DescribeSecret", secret_id=name)
        self.assertFalse(d.rotation_enabled)
        self.assertEqual(d.rotation_rules.automatically_after_days, 7)
        self.assertEqual(d.rotation_lambda_arn, "builtin:password")
        self.assertEqual(self.stages(name)[tok], ["AWSPENDING"])
        # The scheduler leaves it alone once the lease frees.
        self.sql("UPDATE secrets SET rotation_lease_until = NULL, "
                 f"rotation_lease_owner = NULL WHERE name = '{name}'")
        time.sleep(2.5)
        self.assertEqual(self.stages(name)[tok], ["AWSPENDING"])
        # The caller cleans up; then a new rotation may start.
        cur = self.call("GetSecretValue", secret_id=name).version_id
        self.call("UpdateSecretVersionStage", secret_id=name, version_stage="AWSPENDING",
                  remove_from_version_id=tok)
        tok2 = token()
        self.call("RotateSecret", secret_id=name, client_request_token=tok2)
        self.until(lambda: self.rotated(name, tok2), "the new rotation never finished")
        self.assertEqual(self.stages(name)[cur], ["AWSPREVIOUS"])
        # Cancel on a secret that never rotated.
        other = self.secret()
        self.assertEqual(self.fails("CancelRotateSecret", secret_id=other)[0],
                         "InvalidRequestException")

    def test_manual_change_counts_as_rotation(self):
        name = self.secret()
        tok = token()
        self.call("RotateSecret", secret_id=name, client_request_token=tok,
                  rotation_lambda_arn="builtin:password",
                  rotation_rules={"automatically_after_days": 5})
        self.until(lambda: self.rotated(name, tok), "the rotation never finished")
        self.sql("UPDATE secrets SET last_rotated_date = now() - interval '3 days', "
                 "next_rotation_date = now() + interval '2 days' "
                 f"WHERE name = '{name}'")
        self.call("PutSecretValue", secret_id=name, secret_string="by-hand",
                  client_request_token=token())
        d = self.call("DescribeSecret", secret_id=name)
        day = 86400000
        self.assertGreater(d.last_rotated_date, time.time() * 1000 - 60000)
        self.assertEqual(d.next_rotation_date, (d.last_rotated_date // day + 5) * day)

    def test_failed_step_keeps_current_and_retries(self):
        name = self.secret()
        tok = token()
        # A rotator that cannot work (edited in the database by hand): the
        # password parameters are checked at RotateSecret, not after.
        self.call("RotateSecret", secret_id=name, client_request_token=token(),
                  rotation_lambda_arn="builtin:password", rotate_immediately=False)
        self.until(lambda: len(self.stages(name)) == 1, "the test run never ended")
        self.sql("UPDATE secrets SET rotation_lambda_arn = "
                 "'builtin:password?PasswordLength=5000' WHERE name = "
                 f"'{name}'")
        cur = self.call("GetSecretValue", secret_id=name)
        self.call("RotateSecret", secret_id=name, client_request_token=tok)
        self.until(lambda: self.sql("SELECT rotation_attempts FROM secrets WHERE "
                                    f"name = '{name}'") not in ("", "0"),
                   "the failure was never recorded")
        now = self.call("GetSecretValue", secret_id=name)
        self.assertEqual(now.version_id, cur.version_id)
        self.assertEqual(self.stages(name)[tok], ["AWSPENDING"])
        err = self.sql(f"SELECT rotation_error FROM secrets WHERE name = '{name}'")
        self.assertIn("passwordLength", err)
        self.assertIn("Rotation/createSecret|ValidationException",
                      self.sql("SELECT operation || '|' || outcome FROM audit_events "
                               f"WHERE version_id = '{tok}'"))
        # Fixed, the retry (after its backoff) finishes it.
        self.sql("UPDATE secrets SET rotation_lambda_arn = 'builtin:password', "
                 f"rotation_retry_at = now() WHERE name = '{name}'")
        self.until(lambda: self.rotated(name, tok), "the retry never finished")


class ExecRotatorTest(Helpers, unittest.TestCase):
    """exec:/path rotators: an operator's program per step, through the API."""

    @classmethod
    def setUpClass(cls):
        # It runs as rotator_user, who may write to state/ only.
        cls.user = rotator_user()
        cls.dir, _ = rotator_dirs(cls.user)
        with open(os.path.join(h.ROOT, "tests/e2e/rotators/shell-rotator.in")) as f:
            text = f.read().replace("@COFFER@", os.path.join(h.BUILD, "coffer"))
        cls.prog = os.path.join(cls.dir, "shell-rotator")
        with open(cls.prog, "w") as f:
            f.write(text)
        os.chmod(cls.prog, 0o755)
        cls.db = h.fresh_database("execrot")
        cls.server = h.Server(cls.db, extra_env={**FAST, "COFFER_ROTATOR_DIR": cls.dir,
                                                 "COFFER_ROTATOR_USER": cls.user,
                                                 "COFFER_ROTATOR_TIMEOUT": "3"}).start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)
        if rc != 0:
            raise AssertionError(f"cofferd exited {rc}:\n{cls.server.output()}")

    def setUp(self):
        for f in ("fail-at", "sleep-at"):
            try:
                os.unlink(os.path.join(self.dir, f))
            except FileNotFoundError:
                pass

    def steer(self, what, step):
        with open(os.path.join(self.dir, what), "w") as f:
            f.write(step)

    call = RotationCase.call

    def start(self, name):
        self.call("CreateSecret", name=name, secret_string="before",
                  client_request_token=token())
        tok = token()
        self.call("RotateSecret", secret_id=name, client_request_token=tok,
                  rotation_lambda_arn="exec:" + self.prog)
        return tok

    def attempts(self, name):
        return h.psql(h.admin(self.db), "SELECT rotation_attempts FROM secrets "
                                        f"WHERE name = '{name}'")

    def test_rotation_through_the_api(self):
        tok = self.start("exec-ok")
        # Done: the program moved AWSCURRENT, cofferd took AWSPENDING off.
        self.until(lambda: self.stages("exec-ok").get(tok) == ["AWSCURRENT"],
                   "the rotation never finished")
        v = self.call("GetSecretValue", secret_id="exec-ok")
        self.assertTrue(v.secret_string.startswith("exec-"))
        self.assertEqual(self.stages("exec-ok")[tok], ["AWSCURRENT"])
        # Its output is in cofferd's log, not in the audit trail.
        self.assertIn("createSecret: step createSecret of arn:", self.server.output())
        self.assertEqual(h.psql(h.admin(self.db), "SELECT count(*) FROM audit_events "
                                                  "WHERE operation LIKE '%step%' OR "
                                                  "outcome LIKE '%step%'"), "0")
        # Its environment: the contract, and nothing of cofferd's own.
        with open(os.path.join(self.dir, "state", "last-env")) as f:
            env = dict(line.split("=", 1) for line in f.read().splitlines() if "=" in line)
        self.assertEqual(env["COFFER_ROTATION_STEP"], "finishSecret")
        self.assertEqual(json.loads(env["COFFER_ROTATION_EVENT"])["ClientRequestToken"], tok)
        self.assertTrue(env["COFFER_ENDPOINT"].startswith("http://127.0.0.1:"))
        for leaked in ("COFFER_DATABASE", "COFFER_PIN_FILE", "COFFER_TEST_PG",
                       "COFFER_ADMIN_DATABASE", "SOFTHSM2_CONF"):
            self.assertNotIn(leaked, env)

    def test_failure_then_retry(self):
        self.steer("fail-at", "setSecret")
        tok = self.start("exec-fail")
        self.until(lambda: self.attempts("exec-fail") not in ("", "0"), "no failure")
        self.assertEqual(self.call("GetSecretValue", secret_id="exec-fail").secret_string,
                         "before")
        self.assertEqual(self.stages("exec-fail")[tok], ["AWSPENDING"])
        self.assertIn("failing on purpose at setSecret", self.server.output())
        os.unlink(os.path.join(self.dir, "fail-at"))
        h.psql(h.admin(self.db), "UPDATE secrets SET rotation_retry_at = now() "
                                 "WHERE name = 'exec-fail'")
        self.until(lambda: "AWSCURRENT" in self.stages("exec-fail").get(tok, []),
                   "the retry never finished")

    def test_time_limit(self):
        self.steer("sleep-at", "testSecret")
        tok = self.start("exec-slow")
        self.until(lambda: rotator_pids("exec-slow") != [], "the rotator never ran")
        self.until(lambda: self.attempts("exec-slow") not in ("", "0"), "no timeout")
        err = h.psql(h.admin(self.db), "SELECT rotation_error FROM secrets "
                                       "WHERE name = 'exec-slow'")
        self.assertIn("ran out of time", err)
        # The hung program was killed, with its process group.
        time.sleep(0.5)
        self.assertEqual(rotator_pids("exec-slow"), [], "the rotator was left running")
        self.assertEqual(self.stages("exec-slow")[tok], ["AWSPENDING"])

    def test_only_programs_in_rotator_dir(self):
        self.call("CreateSecret", name="exec-bad", secret_string="x",
                  client_request_token=token())
        for path in ("/bin/sh", "relative/path", self.dir + "/../etc/passwd",
                     self.dir + "/missing"):
            with self.subTest(path=path):
                sm, _ = pb()
                with self.assertRaises(grpc.RpcError) as cm:
                    self.call("RotateSecret", secret_id="exec-bad",
                              client_request_token=token(),
                              rotation_lambda_arn="exec:" + path)
                self.assertEqual(error_type(cm.exception), "InvalidParameterException")


class ExecOffTest(RotationCase):
    """Without rotator_dir, exec: rotators are refused outright."""

    def test_refused_without_rotator_dir(self):
        name = self.secret()
        e = self.fails("RotateSecret", secret_id=name, client_request_token=token(),
                       rotation_lambda_arn="exec:/bin/true")
        self.assertEqual(e[0], "InvalidParameterException")
        self.assertIn("rotator_dir", e[1])


class CliRotationTest(RotationCase):
    """coffer rotate-secret / cancel-rotate-secret with the AWS CLI's flags."""

    def test_cli(self):
        name = self.secret()
        ep = self.server.endpoint
        r = h.coffer(ep, "rotate-secret", "--secret-id", name, "--rotation-lambda-arn",
                     "builtin:password?PasswordLength=16", "--rotation-rules",
                     "AutomaticallyAfterDays=7")
        self.assertEqual(r.returncode, 0, r.stderr)
        tok = json.loads(r.stdout)["VersionId"]
        self.until(lambda: self.stages(name).get(tok) == ["AWSCURRENT"], "no rotation")
        r = h.coffer(ep, "rotate-secret", "--secret-id", name, "--rotation-rules",
                     '{"ScheduleExpression": "cron(0 4 ? * SUN *)", "Duration": "3h"}',
                     "--no-rotate-immediately")
        self.assertEqual(r.returncode, 0, r.stderr)
        test_tok = json.loads(r.stdout)["VersionId"]
        self.until(lambda: test_tok not in self.stages(name), "the test never ended")
        d = json.loads(h.coffer(ep, "describe-secret", "--secret-id", name).stdout)
        self.assertEqual(d["RotationRules"], {"ScheduleExpression": "cron(0 4 ? * SUN *)",
                                              "Duration": "3h"})
        self.assertTrue(d["NextRotationDate"].endswith("T04:00:00+00:00"), d)
        self.assertEqual(d["RotationPrincipal"], "anonymous")
        self.assertEqual(len(self.call("GetSecretValue", secret_id=name).secret_string), 16)
        r = h.coffer(ep, "cancel-rotate-secret", "--secret-id", name)
        self.assertEqual(r.returncode, 0, r.stderr)
        d = json.loads(h.coffer(ep, "describe-secret", "--secret-id", name).stdout)
        self.assertFalse(d["RotationEnabled"])
        r = h.coffer(ep, "rotate-secret", "--secret-id", name, "--rotation-rules",
                     "AutomaticallyAfterDays=7,ScheduleExpression=rate(10 days)")
        self.assertEqual(r.returncode, 254)
        self.assertIn("InvalidParameterException", r.stderr)


if __name__ == "__main__":
    unittest.main()
