"""End-to-end tests of the PostgreSQL rotators (issues 6 and 11):
builtin:postgresql-single-user and -alternating-users against a second,
password-only cluster, and what a caller can make them do: the master,
user and server pinned, no ambient credentials, the rotation's principal.
"""
import json
import os
import subprocess
import tempfile
import threading
import time
import unittest

from tests.e2e import harness as h
from tests.e2e.harness import pb, token
from tests.e2e import rotation_base
from tests.e2e.rotation_base import FAST, Helpers

# unittest runs a module's setUpModule: the rotation tests' shared one.
setUpModule = rotation_base.setUpModule


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
                         f"{h.AUDIT_ORDER}) FROM audit_events WHERE version_id = '{tok}' "
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


if __name__ == "__main__":
    unittest.main()
