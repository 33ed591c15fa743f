"""End-to-end tests of rotation across servers (issue 6): kill -9 of
cofferd while setSecret hangs on the database, a rotation resumed after its
server's lease ran out, and two servers rotating due secrets exactly once.
"""
import json
import os
import signal
import socket
import subprocess
import threading
import time
import unittest

from tests.e2e import harness as h
from tests.e2e.harness import pb, token
from tests.e2e import rotation_base
from tests.e2e.rotation_base import FAST, RotationCase

# unittest runs a module's setUpModule: the rotation tests' shared one.
setUpModule = rotation_base.setUpModule


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
                       f"{h.AUDIT_ORDER}) FROM audit_events WHERE version_id = '{tok}' "
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
        # Run by either server or both (each writes audit_lanes + workers + 1 chains:
        # a step's event is in one of its change lanes' chains).
        servers = h.psql(admin, "SELECT DISTINCT c.server FROM audit_events e JOIN "
                                "audit_chains c USING (chain_id) WHERE "
                                "e.operation = 'Rotation/finishSecret'").split()
        self.assertTrue(servers, "no finishSecret event")
        self.assertLessEqual(set(servers), {s1.audit_server(), s2.audit_server()}, servers)
        for s in (s1, s2):
            self.assertEqual(len(s.audit_chains(db)), s.audit_chain_count())


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
                            f"ORDER BY {h.AUDIT_ORDER}").split("\n")
        self.assertEqual(ops.count("Rotation/createSecret:OK"), 1, ops)
        self.assertEqual(ops.count("Rotation/setSecret:OK"), 1, ops)
        self.assertEqual(ops.count("Rotation/finishSecret:OK"), 1, ops)
        self.assertEqual(h.psql(admin, "SELECT count(*) FROM secret_versions"), "2")


if __name__ == "__main__":
    unittest.main()
