"""End-to-end tests of rotation (issue 6): RotateSecret and CancelRotateSecret
semantics, the builtin:password rotator run by cofferd's scheduler, every
step in the audit trail, a rotation resumed after its server died, and two
servers rotating one due secret exactly once.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import grpc

from tests.e2e import harness as h
from tests.e2e.harness import error_type, pb, token
from tests.e2e.test_rotator_exec import rotator_dirs, rotator_user

FAST = {"COFFER_ROTATION_INTERVAL": "1"}


def setUpModule():
    pb()


class Helpers:
    """What every rotation test class asks: labels by version, and waiting."""

    def stages(self, name):
        d = self.call("DescribeSecret", secret_id=name)
        return {e.version_id: sorted(e.version_stages) for e in d.version_ids_to_stages}

    def until(self, pred, what, timeout=60):
        h.until(pred, what, timeout)


class RotationCase(Helpers, unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.db = h.fresh_database("rotation")
        cls.server = h.Server(cls.db, extra_env=FAST).start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        if rc != 0:
            raise AssertionError(f"cofferd exited {rc}:\n{cls.server.output()}")

    def call(self, op, server=None, **fields):
        sm, _ = pb()
        return (server or self.server).call(op, getattr(sm, op + "Request")(**fields))[0]

    def fails(self, op, **fields):
        try:
            self.call(op, **fields)
        except grpc.RpcError as e:
            return error_type(e), e.details()
        raise AssertionError(f"{op} succeeded")

    def secret(self, value="initial-value"):
        name = f"rot-{self._testMethodName}-{token()[:8]}"
        self.call("CreateSecret", name=name, secret_string=value,
                  client_request_token=token())
        return name

    def rotated(self, name, tok):
        return "AWSCURRENT" in self.stages(name).get(tok, [])

    def sql(self, q):
        return h.psql(h.admin(self.db), q)


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
                        "AND operation LIKE 'Rotation/%' ORDER BY event_time, seq")
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
        ops = self.sql("SELECT string_agg(operation, ',' ORDER BY event_time, seq) "
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


class ResumeTest(RotationCase):

    def test_resumes_where_a_dead_server_stopped(self):
        name = self.secret()
        tok = token()
        # Let the steps stop after setSecret, as if the server died then:
        # hold the lease as another server, rotate, then play that server.
        self.sql("UPDATE secrets SET rotation_lease_owner = 'dead-server', "
                 "rotation_lease_until = now() + interval '1 hour' "
                 f"WHERE name = '{name}'")
        self.call("RotateSecret", secret_id=name, client_request_token=tok,
                  rotation_lambda_arn="builtin:password")
        # The dead server had done createSecret and setSecret: a value, step 3.
        self.sql(f"UPDATE secrets SET rotation_step = 3 WHERE name = '{name}'")
        self.assertEqual(self.fails("GetSecretValue", secret_id=name,
                                    version_stage="AWSPENDING")[0],
                         "ResourceNotFoundException")
        # Its lease runs out: this server resumes at testSecret, which finds
        # no value (createSecret never committed) and fails; then...
        self.sql("UPDATE secrets SET rotation_lease_until = now() - interval '1 s' "
                 f"WHERE name = '{name}'")
        self.until(lambda: self.sql("SELECT rotation_attempts FROM secrets WHERE "
                                    f"name = '{name}'") == "1", "no resume")
        # ... a rotation resumed at a consistent step finishes.
        self.sql(f"UPDATE secrets SET rotation_step = 1, rotation_retry_at = now() "
                 f"WHERE name = '{name}'")
        self.until(lambda: self.rotated(name, tok), "the rotation never finished")
        ops = self.sql("SELECT string_agg(operation || ':' || outcome, ',' ORDER BY "
                       f"event_time, seq) FROM audit_events WHERE version_id = '{tok}' "
                       "AND principal = 'anonymous' AND operation LIKE 'Rotation/%'")
        self.assertEqual(ops, "Rotation/testSecret:InvalidRequestException,"
                              "Rotation/createSecret:OK,Rotation/setSecret:OK,"
                              "Rotation/testSecret:OK,Rotation/finishSecret:OK")


class TwoServersTest(unittest.TestCase):

    def test_due_rotation_runs_once(self):
        db = h.fresh_database("rotation2")
        s1 = h.Server(db, extra_env=FAST).start()
        self.addCleanup(s1.stop)
        s2 = h.Server(db, extra_env=FAST).start()
        self.addCleanup(s2.stop)
        sm, _ = pb()
        names = [f"due-{i}" for i in range(8)]
        for n in names:
            s1.call("CreateSecret", sm.CreateSecretRequest(
                name=n, secret_string="v0", client_request_token=token()))
            s1.call("RotateSecret", sm.RotateSecretRequest(
                secret_id=n, client_request_token=token(), rotate_immediately=False,
                rotation_lambda_arn="builtin:password",
                rotation_rules=sm.RotationRulesType(automatically_after_days=1)))
        admin = h.admin(db)
        deadline = time.time() + 30
        while time.time() < deadline and h.psql(
                admin, "SELECT count(*) FROM secrets WHERE rotation_token IS NOT NULL") != "0":
            time.sleep(0.1)
        # All due now, inside today's window: both servers race for them.
        h.psql(admin, "UPDATE secrets SET next_rotation_date = "
                      "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'")
        deadline = time.time() + 60
        while time.time() < deadline and h.psql(
                admin, "SELECT count(*) FROM secrets WHERE last_rotated_date IS NULL") != "0":
            time.sleep(0.2)
        self.assertEqual(h.psql(admin, "SELECT count(*) FROM secrets WHERE "
                                       "last_rotated_date IS NULL"), "0")
        # Exactly one rotation each: two versions, one createSecret event.
        for n in names:
            self.assertEqual(h.psql(admin, "SELECT count(*) FROM secret_versions v "
                                           "JOIN secrets s ON s.uuid = v.secret_uuid "
                                           f"WHERE s.name = '{n}'"), "2", n)
        self.assertEqual(h.psql(admin, "SELECT count(*) FROM audit_events WHERE "
                                       "operation = 'Rotation/createSecret'"), "8")
        chains = h.psql(admin, "SELECT count(DISTINCT chain_id) FROM audit_events "
                               "WHERE operation = 'Rotation/finishSecret'")
        self.assertIn(chains, ("1", "2"))


if __name__ == "__main__":
    unittest.main()


class TcpCluster(h.Cluster):
    """The password-only cluster of the rotator tests, listening on
    127.0.0.1 too: the PostgreSQL rotators never use a Unix socket unless
    the operator allows it.  ${hba}: lines before the SCRAM one."""

    def __init__(self, hba=""):
        self.hba = hba
        super().__init__(passwords=True)

    def start(self):
        hba = os.path.join(self.data, "pg_hba.conf")
        with open(hba) as f:
            lines = f.read()
        if "host " not in lines:
            with open(hba, "a") as f:
                f.write(self.hba + "host all all 127.0.0.1/32 scram-sha-256\n")
        self.pg("pg_ctl", "-D", self.data, "-w", "-l", os.path.join(self.sock, "log"),
                "-o", f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1",
                "start")


class PostgresRotatorTest(Helpers, unittest.TestCase):
    """builtin:postgresql-single-user and -alternating-users against a real
    second PostgreSQL cluster whose roles log in with passwords, over TCP."""

    @classmethod
    def setUpClass(cls):
        cls.target = TcpCluster()
        cls.db = h.fresh_database("pgrot")
        cls.server = h.Server(cls.db, extra_env=FAST).start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        cls.target.destroy()
        if rc != 0:
            raise AssertionError(f"cofferd exited {rc}:\n{cls.server.output()}")

    def call(self, op, **fields):
        sm, _ = pb()
        return self.server.call(op, getattr(sm, op + "Request")(**fields))[0]

    def creds(self, user, password, **extra):
        return {"engine": "postgres", "host": "127.0.0.1", "port": self.target.port,
                "username": user, "password": password, "dbname": "coffer", **extra}

    def login(self, value):
        """True if ${value}'s credentials log in to the target."""
        v = json.loads(value) if isinstance(value, str) else value
        r = subprocess.run(["psql", f"host={v['host']} port={v['port']} "
                            f"user={v['username']} dbname={v['dbname']} "
                            "passfile=/dev/null",
                            "-qtAc", "SELECT 1"], capture_output=True, text=True,
                           env={**os.environ, "PGPASSWORD": v["password"]}, timeout=30)
        return r.returncode == 0 and r.stdout.strip() == "1"

    def su(self, sql):
        return h.psql(self.target.conninfo, sql)

    def rotate(self, name, lam=None):
        tok = token()
        kw = {"rotation_lambda_arn": lam} if lam else {}
        self.call("RotateSecret", secret_id=name, client_request_token=tok, **kw)
        self.until(lambda: "AWSCURRENT" in self.stages(name).get(tok, []),
                   "the rotation never finished")
        return tok

    def test_single_user(self):
        self.su("CREATE ROLE single_app LOGIN PASSWORD 'first-password'")
        old = self.creds("single_app", "first-password")
        self.assertTrue(self.login(old))
        self.call("CreateSecret", name="pg-single", secret_string=json.dumps(old),
                  client_request_token=token())
        self.rotate("pg-single", "builtin:postgresql-single-user")
        new = json.loads(self.call("GetSecretValue", secret_id="pg-single").secret_string)
        self.assertEqual({k: v for k, v in new.items() if k != "password"},
                         {k: v for k, v in old.items() if k != "password"})
        self.assertEqual(len(new["password"]), 32)
        self.assertTrue(self.login(new), "the new password does not log in")
        self.assertFalse(self.login(old), "the old password still logs in")
        # The password went to the server as a SCRAM verifier.
        self.assertTrue(self.su("SELECT rolpassword FROM pg_authid WHERE rolname = "
                                "'single_app'").startswith("SCRAM-SHA-256$"))
        # AWSPREVIOUS holds the old credentials.
        prev = self.call("GetSecretValue", secret_id="pg-single",
                         version_stage="AWSPREVIOUS").secret_string
        self.assertEqual(json.loads(prev), old)

    def test_failed_set_secret_then_retry(self):
        self.su("CREATE ROLE flaky_app LOGIN PASSWORD 'real-password'")
        # The secret holds a password the database does not accept.
        self.call("CreateSecret", name="pg-flaky",
                  secret_string=json.dumps(self.creds("flaky_app", "wrong-password")),
                  client_request_token=token())
        cur = self.call("GetSecretValue", secret_id="pg-flaky")
        tok = token()
        self.call("RotateSecret", secret_id="pg-flaky", client_request_token=tok,
                  rotation_lambda_arn="builtin:postgresql-single-user")
        admin = h.admin(self.db)
        self.until(lambda: h.psql(admin, "SELECT rotation_attempts FROM secrets "
                                         "WHERE name = 'pg-flaky'") not in ("", "0"),
                   "setSecret never failed")
        self.assertEqual(h.psql(admin, "SELECT rotation_step FROM secrets WHERE "
                                       "name = 'pg-flaky'"), "2")
        self.assertEqual(self.call("GetSecretValue", secret_id="pg-flaky").version_id,
                         cur.version_id)
        self.assertEqual(self.stages("pg-flaky")[tok], ["AWSPENDING"])
        self.assertIn("Rotation/setSecret|InvalidRequestException",
                      h.psql(admin, "SELECT operation || '|' || outcome FROM "
                                    f"audit_events WHERE version_id = '{tok}'"))
        # The database is fixed; the retry finishes the same rotation.
        self.su("ALTER ROLE flaky_app PASSWORD 'wrong-password'")
        h.psql(admin, "UPDATE secrets SET rotation_retry_at = now() "
                      "WHERE name = 'pg-flaky'")
        self.until(lambda: "AWSCURRENT" in self.stages("pg-flaky").get(tok, []),
                   "the retry never finished")
        new = self.call("GetSecretValue", secret_id="pg-flaky").secret_string
        self.assertTrue(self.login(new))

    def test_alternating_users_never_break_readers(self):
        self.su("CREATE ROLE alt_master LOGIN CREATEROLE PASSWORD 'master-password'")
        self.su("CREATE ROLE alt_app LOGIN PASSWORD 'app-password'")
        self.su("GRANT alt_app TO alt_master WITH ADMIN OPTION")
        self.call("CreateSecret", name="pg-master",
                  secret_string=json.dumps(self.creds("alt_master", "master-password")),
                  client_request_token=token())
        master_arn = self.call("DescribeSecret", secret_id="pg-master").arn
        self.call("CreateSecret", name="pg-alt", client_request_token=token(),
                  secret_string=json.dumps(self.creds("alt_app", "app-password",
                                                      masterarn=master_arn)))
        # A client reads AWSCURRENT and logs in, over and over.
        failures, logins, stop = [], [0], threading.Event()

        def reader():
            while not stop.is_set():
                v = self.call("GetSecretValue", secret_id="pg-alt").secret_string
                if self.login(v):
                    logins[0] += 1
                else:
                    failures.append(json.loads(v)["username"])

        t = threading.Thread(target=reader)
        t.start()
        try:
            users = []
            for _ in range(3):
                self.rotate("pg-alt", "builtin:postgresql-alternating-users")
                v = json.loads(self.call("GetSecretValue", secret_id="pg-alt").secret_string)
                users.append(v["username"])
                self.assertTrue(self.login(v))
                self.assertEqual(v["masterarn"], master_arn)
        finally:
            stop.set()
            t.join()
        self.assertEqual(users, ["alt_app_clone", "alt_app", "alt_app_clone"])
        self.assertEqual(failures, [])
        self.assertGreater(logins[0], 3)
        # The clone is a member of the user, so it has its privileges.
        self.assertEqual(self.su("SELECT count(*) FROM pg_auth_members m JOIN pg_roles "
                                 "r ON r.oid = m.roleid JOIN pg_roles u ON "
                                 "u.oid = m.member WHERE r.rolname = 'alt_app' AND "
                                 "u.rolname = 'alt_app_clone'"), "1")
        # AWSPREVIOUS (the other user) still logs in: nothing broke mid-way.
        prev = self.call("GetSecretValue", secret_id="pg-alt",
                         version_stage="AWSPREVIOUS").secret_string
        self.assertEqual(json.loads(prev)["username"], "alt_app")
        self.assertTrue(self.login(prev))


class StallingProxy:
    """A TCP port in front of a PostgreSQL unix socket that holds every
    connection until released, then relays it: a database that hangs."""

    def __init__(self, unix_path):
        self.unix_path = unix_path
        self.release = threading.Event()
        self.arrived = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        self.arrived.set()
        while not self.release.wait(0.1):
            if self.closed:
                c.close()
                return
        u = socket.socket(socket.AF_UNIX)
        try:
            u.connect(self.unix_path)
        except OSError:
            c.close()
            u.close()
            return
        def pump(a, b):
            try:
                while True:
                    d = a.recv(65536)
                    if not d:
                        break
                    b.sendall(d)
            except OSError:
                pass
            finally:
                for x in (a, b):
                    try:
                        x.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    x.close()
        threading.Thread(target=pump, args=(u, c), daemon=True).start()
        pump(c, u)

    def close(self):
        self.closed = True
        self.sock.close()


class CrashTest(unittest.TestCase):

    def test_kill_9_mid_rotation_then_restart(self):
        target = h.Cluster(passwords=True)
        self.addCleanup(target.destroy)
        h.psql(target.conninfo, "CREATE ROLE crash_app LOGIN PASSWORD 'before-crash'")
        proxy = StallingProxy(os.path.join(target.sock, f".s.PGSQL.{target.port}"))
        self.addCleanup(proxy.close)
        db = h.fresh_database("pgcrash")
        admin = h.admin(db)
        s = h.Server(db, extra_env=FAST).start()
        sm, _ = pb()
        value = {"engine": "postgres", "host": "127.0.0.1", "port": proxy.port,
                 "username": "crash_app", "password": "before-crash", "dbname": "coffer"}
        s.call("CreateSecret", sm.CreateSecretRequest(
            name="crash", secret_string=json.dumps(value), client_request_token=token()))
        tok = token()
        s.call("RotateSecret", sm.RotateSecretRequest(
            secret_id="crash", client_request_token=tok,
            rotation_lambda_arn="builtin:postgresql-single-user"))
        # createSecret done, setSecret stuck logging in: kill -9 now.
        self.assertTrue(proxy.arrived.wait(60), "setSecret never reached the database")
        self.assertEqual(h.psql(admin, "SELECT rotation_step FROM secrets "
                                       "WHERE name = 'crash'"), "2")
        s.stop(signal.SIGKILL)
        proxy.release.set()
        # Its lease would run out in five minutes; make it so now.
        h.psql(admin, "UPDATE secrets SET rotation_lease_until = now() - "
                      "interval '1 second' WHERE name = 'crash'")
        s2 = h.Server(db, extra_env=FAST).start()
        self.addCleanup(s2.stop)
        deadline = time.time() + 60
        while time.time() < deadline and h.psql(
                admin, "SELECT rotation_token IS NULL FROM secrets WHERE name = 'crash'") != "t":
            time.sleep(0.1)
        cur = s2.call("GetSecretValue", sm.GetSecretValueRequest(secret_id="crash"))[0]
        self.assertEqual(cur.version_id, tok)
        new = json.loads(cur.secret_string)
        r = subprocess.run(["psql", f"host={target.sock} port={target.port} "
                            "user=crash_app dbname=coffer", "-qtAc", "SELECT 1"],
                           capture_output=True, text=True,
                           env={**os.environ, "PGPASSWORD": new["password"]})
        self.assertEqual(r.stdout.strip(), "1", r.stderr)
        # Once: one createSecret, one finishSecret; two versions in all.
        ops = h.psql(admin, "SELECT operation || ':' || outcome FROM audit_events "
                            f"WHERE version_id = '{tok}' AND principal = 'anonymous' "
                            "ORDER BY event_time, seq").split("\n")
        self.assertEqual(ops.count("Rotation/createSecret:OK"), 1, ops)
        self.assertEqual(ops.count("Rotation/setSecret:OK"), 1, ops)
        self.assertEqual(ops.count("Rotation/finishSecret:OK"), 1, ops)
        self.assertEqual(h.psql(admin, "SELECT count(*) FROM secret_versions"), "2")


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

    call = PostgresRotatorTest.call

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
        self.until(lambda: self.attempts("exec-slow") not in ("", "0"), "no timeout")
        err = h.psql(h.admin(self.db), "SELECT rotation_error FROM secrets "
                                       "WHERE name = 'exec-slow'")
        self.assertIn("ran out of time", err)
        # The hung program was killed, with its process group.
        time.sleep(0.5)
        r = subprocess.run(["pgrep", "-f", "sleep 300"], capture_output=True, text=True)
        self.assertEqual(r.stdout.strip(), "", "the rotator was left running")
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


class PgRotatorCase(Helpers, unittest.TestCase):
    """Issue 11: what a caller can make the PostgreSQL rotators do.  A TCP
    target cluster; ${hba} and ${env} per class."""

    hba = ""
    env = {}

    @classmethod
    def setUpClass(cls):
        cls.target = TcpCluster(hba=cls.hba)
        cls.db = h.fresh_database("pgsec")
        cls.server = h.Server(cls.db, extra_env={**FAST, **cls.env}).start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        cls.target.destroy()
        if rc != 0:
            raise AssertionError(f"cofferd exited {rc}:\n{cls.server.output()}")

    def call(self, op, **fields):
        sm, _ = pb()
        return self.server.call(op, getattr(sm, op + "Request")(**fields))[0]

    def su(self, sql):
        return h.psql(self.target.conninfo, sql)

    def sql(self, q):
        return h.psql(h.admin(self.db), q)

    def creds(self, user, password, host="127.0.0.1", **extra):
        return {"engine": "postgres", "host": host, "port": self.target.port,
                "username": user, "password": password, "dbname": "coffer", **extra}

    def logs_in(self, user, password):
        r = subprocess.run(["psql", f"host=127.0.0.1 port={self.target.port} user={user} "
                            "dbname=coffer passfile=/dev/null", "-qtAc", "SELECT 1"],
                           capture_output=True, text=True,
                           env={**os.environ, "PGPASSWORD": password}, timeout=30)
        return r.returncode == 0

    def role(self, name, password, extra=""):
        self.su(f"CREATE ROLE {name} LOGIN {extra} PASSWORD '{password}'")

    def secret(self, name, value):
        self.call("CreateSecret", name=name, secret_string=json.dumps(value),
                  client_request_token=token())
        return self.call("DescribeSecret", secret_id=name).arn

    def rotate(self, name, lam=None):
        tok = token()
        kw = {"rotation_lambda_arn": lam} if lam else {}
        self.call("RotateSecret", secret_id=name, client_request_token=tok, **kw)
        return tok

    def finished(self, name, tok):
        self.until(lambda: "AWSCURRENT" in self.stages(name).get(tok, []),
                   "the rotation never finished")

    def step_failed(self, name, tok, step, exc, text):
        """Wait until ${step} of rotation ${tok} failed with ${exc}."""
        self.until(lambda: f"Rotation/{step}|{exc}" in self.sql(
            "SELECT string_agg(operation || '|' || outcome, ' ') FROM audit_events "
            f"WHERE version_id = '{tok}'"), f"{step} never failed with {exc}")
        err = self.sql(f"SELECT rotation_error FROM secrets WHERE name = '{name}'")
        self.assertIn(text, err)
        self.assertNotIn("AWSCURRENT", self.stages(name).get(tok, []))


class PgPinsTest(PgRotatorCase):
    """Item 1: the master secret, the user and the server are pinned when
    rotation is configured; a later PutSecretValue cannot change them."""

    def alternating(self, prefix):
        self.role(f"{prefix}_master", "master-password", "CREATEROLE")
        self.role(f"{prefix}_app", "app-password")
        self.role(f"{prefix}_victim", "victim-password")
        self.su(f"GRANT {prefix}_app TO {prefix}_master WITH ADMIN OPTION")
        master = self.secret(f"{prefix}-master",
                             self.creds(f"{prefix}_master", "master-password"))
        self.secret(f"{prefix}-app", self.creds(f"{prefix}_app", "app-password",
                                                masterarn=master))
        tok = self.rotate(f"{prefix}-app", "builtin:postgresql-alternating-users")
        self.finished(f"{prefix}-app", tok)
        return master, json.loads(self.call("GetSecretValue",
                                            secret_id=f"{prefix}-app").secret_string)

    def test_put_cannot_change_the_user(self):
        master, v = self.alternating("pa")
        # Whoever may PutSecretValue names another role the master may alter.
        self.call("PutSecretValue", secret_id="pa-app", client_request_token=token(),
                  secret_string=json.dumps({**v, "username": "pa_victim"}))
        tok = self.rotate("pa-app")
        self.step_failed("pa-app", tok, "createSecret", "InvalidRequestException",
                         '"username"')
        self.assertTrue(self.logs_in("pa_victim", "victim-password"))
        self.assertEqual(self.su("SELECT count(*) FROM pg_roles WHERE rolname "
                                 "LIKE 'pa_victim%'"), "1")

    def test_put_cannot_change_the_master(self):
        master, v = self.alternating("pm")
        self.role("pm_other", "other-password", "CREATEROLE")
        other = self.secret("pm-other", self.creds("pm_other", "other-password"))
        self.call("PutSecretValue", secret_id="pm-app", client_request_token=token(),
                  secret_string=json.dumps({**v, "masterarn": other}))
        tok = self.rotate("pm-app")
        self.step_failed("pm-app", tok, "createSecret", "InvalidRequestException",
                         '"masterarn"')
        self.assertTrue(self.logs_in(v["username"], v["password"]))

    def test_put_cannot_change_the_server(self):
        self.role("ph_app", "app-password")
        self.secret("ph-app", self.creds("ph_app", "app-password"))
        tok = self.rotate("ph-app", "builtin:postgresql-single-user")
        self.finished("ph-app", tok)
        v = json.loads(self.call("GetSecretValue", secret_id="ph-app").secret_string)
        self.call("PutSecretValue", secret_id="ph-app", client_request_token=token(),
                  secret_string=json.dumps({**v, "host": "localhost"}))
        tok = self.rotate("ph-app")
        self.step_failed("ph-app", tok, "createSecret", "InvalidRequestException",
                         '"host"')
        self.assertTrue(self.logs_in("ph_app", v["password"]))

    def test_pending_value_cannot_change_the_user(self):
        """The pending version is a value too: filling it through the API
        with another user is refused at setSecret."""
        master, v = self.alternating("pp")
        # Hold the scheduler off (a lease), start a rotation, and fill its
        # empty pending version first, as a rotator program would.
        self.sql("UPDATE secrets SET rotation_lease_until = now() + interval '1 hour', "
                 "rotation_lease_owner = 'test' WHERE name = 'pp-app'")
        tok = self.rotate("pp-app")
        self.call("PutSecretValue", secret_id="pp-app", client_request_token=tok,
                  version_stages=["AWSPENDING"], secret_string=json.dumps(
                      {**v, "username": "pp_victim", "password": "Stolen-password-1"}))
        self.sql("UPDATE secrets SET rotation_lease_until = NULL, "
                 "rotation_lease_owner = NULL WHERE name = 'pp-app'")
        self.step_failed("pp-app", tok, "setSecret", "InvalidRequestException",
                         '"username"')
        self.assertTrue(self.logs_in("pp_victim", "victim-password"))

    def test_master_on_another_server(self):
        self.role("po_master", "master-password", "CREATEROLE")
        self.role("po_app", "app-password")
        self.su("GRANT po_app TO po_master WITH ADMIN OPTION")
        # "localhost" reaches the same cluster, but is not the user's host.
        master = self.secret("po-master", self.creds("po_master", "master-password",
                                                     host="localhost"))
        self.secret("po-app", self.creds("po_app", "app-password", masterarn=master))
        tok = self.rotate("po-app", "builtin:postgresql-alternating-users")
        self.step_failed("po-app", tok, "setSecret", "InvalidRequestException",
                         '"host" and "port"')
        self.assertEqual(self.su("SELECT count(*) FROM pg_roles WHERE rolname = "
                                 "'po_app_clone'"), "0")


class PgAmbientTest(PgRotatorCase):
    """Item 2: the rotators never log in with cofferd's own credentials:
    not its password file, not a trust or peer login, not a socket."""

    hba = "host all trust_app 127.0.0.1/32 trust\n"

    @classmethod
    def setUpClass(cls):
        cls.pgpass = tempfile.NamedTemporaryFile("w", prefix="coffer-pgpass-",
                                                 delete=False)
        cls.pgpass.write("*:*:*:pass_app:file-password\n")
        cls.pgpass.close()
        os.chmod(cls.pgpass.name, 0o600)
        cls.env = {"PGPASSFILE": cls.pgpass.name}
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        os.unlink(cls.pgpass.name)

    def test_no_password_file(self):
        self.role("pass_app", "file-password")
        self.secret("pass-app", self.creds("pass_app", ""))
        tok = self.rotate("pass-app", "builtin:postgresql-single-user")
        self.step_failed("pass-app", tok, "setSecret", "InvalidRequestException",
                         "non-empty")
        self.assertTrue(self.logs_in("pass_app", "file-password"))

    def test_no_login_without_the_password(self):
        """A server that lets the user in without asking for the password
        (trust here; peer, GSS or a certificate alike) is refused."""
        self.role("trust_app", "real-password")
        before = self.su("SELECT rolpassword FROM pg_authid WHERE rolname = 'trust_app'")
        self.secret("trust-app", self.creds("trust_app", "any-password"))
        tok = self.rotate("trust-app", "builtin:postgresql-single-user")
        self.step_failed("trust-app", tok, "setSecret", "InvalidRequestException",
                         "without asking for the password")
        self.assertEqual(self.su("SELECT rolpassword FROM pg_authid WHERE "
                                 "rolname = 'trust_app'"), before)

    def test_no_socket_by_default(self):
        self.role("sock_app", "sock-password")
        self.secret("sock-app", self.creds("sock_app", "sock-password",
                                           host=self.target.sock))
        tok = self.rotate("sock-app", "builtin:postgresql-single-user")
        self.step_failed("sock-app", tok, "setSecret", "InvalidRequestException",
                         "Unix socket")
        self.assertTrue(self.logs_in("sock_app", "sock-password"))

    def test_sslmode_of_the_value(self):
        """A value's "sslmode" is used: require fails on this server without
        TLS; one below the configured floor is refused."""
        self.role("ssl_app", "ssl-password")
        self.secret("ssl-app", self.creds("ssl_app", "ssl-password", sslmode="require"))
        tok = self.rotate("ssl-app", "builtin:postgresql-single-user")
        self.step_failed("ssl-app", tok, "setSecret", "InvalidRequestException",
                         "SSL")
        self.assertTrue(self.logs_in("ssl_app", "ssl-password"))


class PgSocketAllowedTest(PgRotatorCase):
    """rotator_pg_allow_hosts: a socket directory the operator lists may be
    used (with the password all the same); other hosts may not."""

    @classmethod
    def setUpClass(cls):
        cls.target = TcpCluster()
        cls.db = h.fresh_database("pgsock")
        cls.server = h.Server(cls.db, extra_env={
            **FAST, "COFFER_ROTATOR_PG_ALLOW_HOSTS": f"127.0.0.1, {cls.target.sock}",
            "COFFER_ROTATOR_PG_SSLMODE": "allow"}).start()

    def test_listed_socket_and_host(self):
        self.role("ok_app", "ok-password")
        self.secret("ok-app", self.creds("ok_app", "ok-password", host=self.target.sock))
        tok = self.rotate("ok-app", "builtin:postgresql-single-user")
        self.finished("ok-app", tok)
        new = json.loads(self.call("GetSecretValue", secret_id="ok-app").secret_string)
        self.assertTrue(self.logs_in("ok_app", new["password"]))
        # localhost is not listed; a value below the sslmode floor is refused.
        for name, extra, text in (("lh", {"host": "localhost"}, "rotator_pg_allow_hosts"),
                                  ("sm", {"sslmode": "disable"}, "at least allow")):
            self.role(f"{name}_app", "pw")
            self.secret(f"{name}-app", self.creds(f"{name}_app", "pw", **extra))
            tok = self.rotate(f"{name}-app", "builtin:postgresql-single-user")
            self.step_failed(f"{name}-app", tok, "setSecret", "InvalidRequestException",
                             text)

    def test_bad_sslmode_stops_the_server(self):
        s = h.Server(self.db, extra_env={"COFFER_ROTATOR_PG_SSLMODE": "verify-none"})
        self.addCleanup(s.stop)
        with self.assertRaises(RuntimeError) as e:
            s.start()
        self.assertIn("rotator_pg_sslmode", str(e.exception))


class PgPrincipalTest(Helpers, unittest.TestCase):
    """Item 1: a rotation runs as the principal who configured it: reading
    the master secret needs that principal's GetSecretValue on it, checked
    at RotateSecret and at every setSecret; DescribeSecret and the audit
    events of every step name that principal."""

    A = "spiffe://coffer.test/ns/prod/sa/alice"

    @classmethod
    def setUpClass(cls):
        cls.target = TcpCluster()
        cls.pki = h.Certs()
        cls.db = h.fresh_database("pgprin")
        cls.server = h.Server(cls.db, tls=cls.pki, extra_env=FAST).start()
        cls.a_cert = cls.pki.client("alice", cls.A)

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        cls.target.destroy()
        cls.pki.destroy()
        if rc != 0:
            raise AssertionError(f"cofferd exited {rc}:\n{cls.server.output()}")

    def setUp(self):
        from tests.e2e.test_authz import Caller
        self.admin = Caller(self.server, self.server.admin_cert)
        self.alice = Caller(self.server, self.a_cert)
        self.addCleanup(self.admin.close)
        self.addCleanup(self.alice.close)

    def call(self, op, **fields):
        return self.admin.call(op, **fields)

    def su(self, sql):
        return h.psql(self.target.conninfo, sql)

    def sql(self, q):
        return h.psql(h.admin(self.db), q)

    def creds(self, user, password, **extra):
        return {"engine": "postgres", "host": "127.0.0.1", "port": self.target.port,
                "username": user, "password": password, "dbname": "coffer", **extra}

    def policy(self, name, *statements):
        self.admin.call("PutIdentityPolicy", service="/coffer.v1.IdentityPolicies/",
                        principal=self.A, policy_name=name, policy_document=json.dumps(
                            {"Version": "2012-10-17", "Statement": list(statements)}))

    def setup_pair(self, prefix, master_readable):
        self.su(f"CREATE ROLE {prefix}_master LOGIN CREATEROLE PASSWORD 'master-pw'")
        self.su(f"CREATE ROLE {prefix}_app LOGIN PASSWORD 'app-pw'")
        self.su(f"GRANT {prefix}_app TO {prefix}_master WITH ADMIN OPTION")
        master = self.admin.call("CreateSecret", name=f"{prefix}-master",
                                 client_request_token=token(), secret_string=json.dumps(
                                     self.creds(f"{prefix}_master", "master-pw"))).arn
        app = self.admin.call("CreateSecret", name=f"{prefix}-app",
                              client_request_token=token(), secret_string=json.dumps(
                                  self.creds(f"{prefix}_app", "app-pw",
                                             masterarn=master))).arn
        stmts = [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": app}]
        if master_readable:
            stmts.append({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                          "Resource": master})
        self.policy(f"{prefix}-policy", *stmts)
        return master, app

    def test_rotate_without_reading_the_master_is_denied(self):
        master, app = self.setup_pair("pd", master_readable=False)
        e = self.alice.fails("RotateSecret", secret_id=app, client_request_token=token(),
                             rotation_lambda_arn="builtin:postgresql-alternating-users")
        self.assertEqual(e[0], "AccessDeniedException", e)
        self.assertIn("secretsmanager:GetSecretValue", e[2])
        time.sleep(3)
        self.assertEqual(self.su("SELECT count(*) FROM pg_roles WHERE rolname = "
                                 "'pd_app_clone'"), "0")
        d = self.admin.call("DescribeSecret", secret_id=app)
        self.assertFalse(d.HasField("rotation_enabled"))

    def test_steps_run_as_the_configuring_principal(self):
        master, app = self.setup_pair("pr", master_readable=True)
        tok = token()
        self.alice.call("RotateSecret", secret_id=app, client_request_token=tok,
                        rotation_lambda_arn="builtin:postgresql-alternating-users")
        self.until(lambda: "AWSCURRENT" in self.stages(app).get(tok, []),
                   "the rotation never finished")
        d = self.admin.call("DescribeSecret", secret_id=app)
        self.assertEqual(d.rotation_principal, self.A)
        steps = self.sql("SELECT string_agg(principal || '|' || operation, ' ' ORDER BY "
                         f"event_time, seq) FROM audit_events WHERE version_id = '{tok}' "
                         "AND operation LIKE 'Rotation/%'").split(" ")
        self.assertEqual(sorted(steps), sorted(
            f"{self.A}|Rotation/{s}" for s in
            ("createSecret", "setSecret", "testSecret", "finishSecret")))

    def test_master_read_denied_once_the_right_is_gone(self):
        master, app = self.setup_pair("dn", master_readable=True)
        tok = token()
        self.alice.call("RotateSecret", secret_id=app, client_request_token=tok,
                        rotation_lambda_arn="builtin:postgresql-alternating-users")
        self.until(lambda: "AWSCURRENT" in self.stages(app).get(tok, []),
                   "the rotation never finished")
        # Alice loses the right to read the master: the next setSecret is
        # denied, audited as her, and the database is not touched, even
        # when someone else starts the rotation.
        self.policy("dn-policy", {"Effect": "Allow", "Action": "secretsmanager:*",
                                  "Resource": app})
        before = self.su("SELECT rolpassword FROM pg_authid WHERE rolname = 'dn_app'")
        tok = token()
        self.admin.call("RotateSecret", secret_id=app, client_request_token=tok)
        self.until(lambda: f"{self.A}|Rotation/setSecret|AccessDeniedException" in self.sql(
            "SELECT string_agg(principal || '|' || operation || '|' || outcome, ' ') "
            f"FROM audit_events WHERE version_id = '{tok}'"),
            "setSecret was not denied as alice")
        self.assertEqual(self.su("SELECT rolpassword FROM pg_authid WHERE "
                                 "rolname = 'dn_app'"), before)
        self.assertEqual(self.su("SELECT count(*) FROM pg_roles WHERE rolname LIKE "
                                 "'dn_app%'"), "2")
