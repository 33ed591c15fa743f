"""Start real cofferd processes against the ci/testenv.sh environment.

Nothing here is a mock: each server is the real binary, talking to the real
PostgreSQL cluster and SoftHSM token that ci/test started.  Python stubs are
generated from schema/ at test time with protoc, and calls go through
grpcio's generic unary_unary, which proves the wire format independently of
the C code.
"""
import importlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import grpc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("COFFER_BUILD_DIR", os.path.join(ROOT, "build"))
SERVICE = "/coffer.v1.SecretsManager/"

# The order in which audit events were written.  One cofferd writes
# several chains (audit lanes) side by side, so two events of the same
# millisecond may be in different chains, whose seqs say nothing about
# each other.  Events committed one after the other (the steps of one
# rotation: each step's event is committed before the next is submitted)
# were inserted by transactions in that order, so their xmin orders them;
# events of one batch share it and their seq orders them.
AUDIT_ORDER = "event_time, xmin::text::bigint, seq"


def default_audit_lanes():
    """cofferd's default audit_lanes (server/config.c): one per four online
    CPUs, at least 1, at most 8."""
    n = os.sysconf("SC_NPROCESSORS_ONLN")
    return 1 if n < 4 else min(n // 4, 8)


def audit_mark(db):
    """Where each audit chain ends now.  audit_after(mark) is the SQL
    condition (on audit_events) for the events written since: a chain's
    seq is its own, so "seq > the largest seq" misses the chains that are
    behind the longest one."""
    out = psql(admin(db), "SELECT chain_id, max(seq) FROM audit_events "
               "GROUP BY chain_id")
    return {l.split("|")[0]: int(l.split("|")[1]) for l in out.splitlines() if l}


def audit_after(mark):
    """The SQL condition for events after ${mark} (audit_mark)."""
    if not mark:
        return "true"
    cases = " ".join(f"WHEN '{c}' THEN {s}" for c, s in sorted(mark.items()))
    return f"seq > (CASE chain_id::text {cases} ELSE 0 END)"


def env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run the tests through ci/test")
    return value


_pb = None


def pb():
    """The generated message module (secrets_manager_pb2), built once."""
    global _pb
    if _pb is None:
        out = tempfile.mkdtemp(prefix="coffer-pb2-")
        subprocess.run(["protoc", "-I", os.path.join(ROOT, "schema"),
                        "--python_out", out,
                        "coffer/v1/secrets_manager.proto",
                        "grpc/health/v1/health.proto"], check=True)
        # Loaded by path: a generated "grpc" package would shadow grpcio.
        mods = []
        for name, rel in (("coffer_sm_pb2", "coffer/v1/secrets_manager_pb2.py"),
                          ("coffer_health_pb2", "grpc/health/v1/health_pb2.py")):
            spec = importlib.util.spec_from_file_location(name, os.path.join(out, rel))
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            mods.append(mod)
        _pb = tuple(mods)
    return _pb


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_database(prefix, migrate=True):
    """Create a database, migrate it as its owner (unless told not to) and
    return the conninfo cofferd uses: the restricted role coffer_app."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    psql(env("COFFER_TEST_PG_ADMIN"), f"CREATE DATABASE {name}")
    app = (f"host={env('COFFER_TEST_PGHOST')} port={env('COFFER_TEST_PGPORT')} "
           f"user=coffer_app dbname={name}")
    if migrate:
        migrate_database(app)
    return app


def migrate_database(app):
    """Run `cofferd migrate` on ${app}'s database as its owner (which
    also creates the role coffer_app in that cluster, migration 0004)."""
    r = subprocess.run([os.path.join(BUILD, "cofferd"), "migrate"],
                       env={**os.environ, "COFFER_DATABASE": admin(app)},
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"cofferd migrate: {r.stderr}")


def admin(conninfo):
    """The same database as its owner (the superuser "postgres")."""
    return conninfo.replace("user=coffer_app", "user=postgres")


def psql(conninfo, sql):
    r = subprocess.run(["psql", conninfo, "-v", "ON_ERROR_STOP=1", "-qtAc", sql],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"psql: {r.stderr}")
    return r.stdout.strip()


class Certs:
    """A throwaway PKI made with ci/mkcert: a CA, a server certificate and
    client certificates on demand, in a temporary directory."""

    def __init__(self, name="ca"):
        self.dir = tempfile.mkdtemp(prefix="coffer-pki-")
        self.ca = os.path.join(self.dir, name)
        self.mkcert("ca", self.ca)
        self.server = os.path.join(self.dir, "server")
        self.mkcert("server", self.ca, self.server)
        self._n = 0

    def mkcert(self, *args):
        r = subprocess.run([os.path.join(ROOT, "ci", "mkcert"), *args], cwd=ROOT,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"ci/mkcert {args}: {r.stderr}")

    def client(self, cn, uri=None, *more_uris):
        """(cert path, key path) of a new client certificate."""
        self._n += 1
        out = os.path.join(self.dir, f"client{self._n}")
        self.mkcert("client", self.ca, out, cn, *([uri] if uri else []),
                    *more_uris)
        return out + ".pem", out + ".key"

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def channel(self, endpoint, client=None):
        """A grpcio channel over TLS, with ${client} = (cert, key) or none."""
        creds = grpc.ssl_channel_credentials(
            root_certificates=self.read(self.ca + ".pem"),
            private_key=self.read(client[1]) if client else None,
            certificate_chain=self.read(client[0]) if client else None)
        return grpc.secure_channel(endpoint, creds)

    def destroy(self):
        shutil.rmtree(self.dir, ignore_errors=True)


ADMIN = "spiffe://coffer.test/admin"


class Server:
    """One cofferd process on a loopback port.  Plaintext by default (every
    caller is "anonymous", which is then the bootstrap admin); with ${tls}
    (a Certs) mutual TLS, with the bootstrap admin ADMIN, whose certificate
    the harness's own channel uses."""

    def __init__(self, database, extra_env=None, workers=2, tls=None):
        self.port = free_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        self.tls = tls
        self.admin_cert = tls.client("coffer-admin", ADMIN) if tls else None
        self.env = dict(os.environ)
        self.env.update({
            "COFFER_LISTEN": self.endpoint,
            "COFFER_DATABASE": database,
            "COFFER_ADMIN_DATABASE": admin(database),
            "COFFER_PKCS11_MODULE": env("COFFER_TEST_MODULE"),
            "COFFER_TOKEN_LABEL": env("COFFER_TEST_TOKEN"),
            "COFFER_PIN_FILE": env("COFFER_TEST_PIN_FILE"),
            "COFFER_WORKERS": str(workers),
        })
        if tls:
            self.env.update({
                "COFFER_TLS_CERT": tls.server + ".pem",
                "COFFER_TLS_KEY": tls.server + ".key",
                "COFFER_TLS_CLIENT_CA": tls.ca + ".pem",
                "COFFER_ADMIN_PRINCIPAL": ADMIN,
            })
        else:
            self.env.update({"COFFER_PLAINTEXT": "on",
                             "COFFER_ADMIN_PRINCIPAL": "anonymous"})
        self.env.pop("COFFER_CONFIG", None)
        # A test runner started by systemd must not be told about our
        # servers (e2e.notify sets its own socket in extra_env).
        self.env.pop("NOTIFY_SOCKET", None)
        self.env.update(extra_env or {})
        self.log = tempfile.NamedTemporaryFile(prefix="cofferd-", suffix=".log",
                                               delete=False)
        self.proc = None
        self.channel = None

    def command(self):
        wrapper = os.environ.get("COFFER_SERVER_WRAPPER", "").split()
        return wrapper + [os.path.join(BUILD, "cofferd"), "serve"]

    def init_token(self):
        """`cofferd init-token` with this server's settings: its KEK
        (kek_label) and the audit key, each made unless the token has it."""
        r = subprocess.run([os.path.join(BUILD, "cofferd"), "init-token"],
                           env=self.env, capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"cofferd init-token: {r.stderr}")

    def start(self, wait=True):
        self.proc = subprocess.Popen(self.command(), env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=120):
        sm, health = pb()
        deadline = time.time() + timeout
        # The port first: a channel that tried before cofferd listened
        # waits out gRPC's reconnect backoff (seconds) after it does.
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cofferd exited {self.proc.returncode}:\n{self.output()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.02)
        self.channel = self.open_channel()
        check = self.channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health.HealthCheckRequest.SerializeToString,
            response_deserializer=health.HealthCheckResponse.FromString)
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cofferd exited {self.proc.returncode}:\n{self.output()}")
            try:
                r = check(health.HealthCheckRequest(), timeout=2)
                if r.status == health.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"cofferd not ready:\n{self.output()}")

    def open_channel(self, client=None):
        """A channel to this server: plaintext, or TLS as ${client}
        (default: the admin's certificate)."""
        if not self.tls:
            return grpc.insecure_channel(self.endpoint)
        return self.tls.channel(self.endpoint, client or self.admin_cert)

    def audit_lanes(self):
        """This server's audit_lanes: its COFFER_AUDIT_LANES as started,
        else cofferd's default.  That many queue lanes (reads, failures,
        summaries, taken in turn); see audit_chain_count()."""
        v = self.env.get("COFFER_AUDIT_LANES")
        return int(v) if v else default_audit_lanes()

    def change_lanes(self):
        """This server's change lanes (a change's event, in the change's own
        transaction): one per worker and one for the rotation scheduler."""
        return int(self.env["COFFER_WORKERS"]) + 1

    def audit_chain_count(self):
        """How many audit chains this process writes (audit/DESIGN.md,
        "Lanes and group commit"): one per queue lane and one per change
        lane, audit_lanes + workers + 1.  Every chain begins with its own
        ServerStart and has its own head object in the token.  The one
        place the tests know this rule."""
        return self.audit_lanes() + self.change_lanes()

    def audit_server(self):
        """This process as audit_chains.server names it: host:pid."""
        return f"{socket.gethostname()[:63]}:{self.proc.pid}"

    def audit_chains(self, database):
        """The chains this process registered in audit_chains (ids, sorted)."""
        out = psql(admin(database), "SELECT chain_id FROM audit_chains WHERE "
                   f"server = '{self.audit_server()}' ORDER BY 1")
        return out.split() if out else []

    def url(self):
        """The endpoint as coffer's --endpoint-url wants it."""
        return ("https://" if self.tls else "http://") + self.endpoint

    def output(self):
        self.log.flush()
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def call(self, op, request, timeout=30, metadata=None, raw=False,
             service=None):
        """Call ${op}; return (response, initial metadata, trailing metadata)."""
        sm, _ = pb()
        resp_type = getattr(sm, op + "Response")
        method = self.channel.unary_unary(
            (service or SERVICE) + op,
            request_serializer=(lambda b: b) if raw else (lambda m: m.SerializeToString()),
            response_deserializer=resp_type.FromString)
        resp, c = method.with_call(request, timeout=timeout, metadata=metadata)
        return resp, dict(c.initial_metadata()), dict(c.trailing_metadata())

    def stop(self, sig=signal.SIGTERM, timeout=120):
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


class Caller:
    """One principal's channel to one server (tests subclass it)."""

    def __init__(self, server, cert):
        self.server = server
        self.channel = server.open_channel(cert)

    def call(self, op, service=SERVICE, **fields):
        sm, _ = pb()
        req = getattr(sm, op + "Request")(**fields)
        return method(self.channel, op, service)(req, timeout=30)

    def close(self):
        self.channel.close()


def method(channel, op, service=SERVICE):
    """${service}'s ${op} on ${channel}: grpcio's generic unary_unary with
    its request and response messages."""
    sm, _ = pb()
    return channel.unary_unary(
        service + op, request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=getattr(sm, op + "Response").FromString)


def unpaired_versions(db):
    """A change and its event commit together: (versions without an OK
    event for them, OK events claiming a version that is not there), as
    sets of "ARN version-id"; both empty when every version and every
    CreateSecret or PutSecretValue event match one for one.  (A retried
    write adds an event, never a version: sets, not counts.)"""
    made = set(psql(admin(db), "SELECT s.arn || ' ' || v.version_id "
                    "FROM secret_versions v JOIN secrets s ON "
                    "s.uuid = v.secret_uuid").split("\n"))
    claimed = set(psql(admin(db), "SELECT secret_arn || ' ' || version_id "
                       "FROM audit_events WHERE outcome = 'OK' AND operation "
                       "IN ('CreateSecret', 'PutSecretValue') AND "
                       "version_id IS NOT NULL").split("\n"))
    return made - claimed, claimed - made


def until(pred, what, timeout=30):
    """Wait for ${pred}() to be true; fail the test with ${what} if it is
    not within ${timeout} seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(what)


def error_type(exc):
    """The AWS exception name a failed call carried."""
    return dict(exc.trailing_metadata() or ()).get("coffer-error-type")


def coffer(endpoint, *args, input_env=None):
    """Run the coffer CLI; return CompletedProcess (text)."""
    e = dict(os.environ)
    # A bare HOST:PORT means TLS to coffer; the plaintext servers want http://.
    e["COFFER_ENDPOINT"] = endpoint if "://" in endpoint else "http://" + endpoint
    e.update(input_env or {})
    return subprocess.run([os.path.join(BUILD, "coffer"), *args], env=e,
                          capture_output=True, text=True, timeout=60)


def token():
    return str(uuid.uuid4())


class Cluster:
    """A second, private PostgreSQL cluster that a test may stop and start."""

    def __init__(self, passwords=False, initdb_args=(), standby_of=None,
                 standby_name="standby"):
        """${passwords}: every role but postgres logs in with a password
        (SCRAM), as a rotator's target database does.  ${initdb_args}:
        more options for initdb.  ${standby_of}: instead of a new cluster,
        a streaming standby of that Cluster, made from its base backup
        (pg_basebackup -R writes primary_conninfo and standby.signal); it
        streams over the primary's socket as application_name
        ${standby_name}, which the primary's synchronous_standby_names
        can name."""
        self.dir = tempfile.mkdtemp(prefix="coffer-pg-")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        os.mkdir(self.data)
        os.mkdir(self.sock)
        # (PostgreSQL refuses a data directory others may read.)
        os.chmod(self.data, 0o700)
        shutil.chown(self.data, "postgres", "postgres")
        shutil.chown(self.sock, "postgres", "postgres")
        self.port = free_port()
        if standby_of is not None:
            self.pg("pg_basebackup", "-D", self.data, "-R", "-X", "stream",
                    "-c", "fast", "--no-sync", "-d",
                    f"host={standby_of.sock} port={standby_of.port} "
                    f"user=postgres application_name={standby_name}")
            self.start()
            self.conninfo = (f"host={self.sock} port={self.port} "
                             "user=postgres dbname=coffer")
            return
        self.pg("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync",
                *initdb_args)
        if passwords:
            hba = os.path.join(self.data, "pg_hba.conf")
            with open(hba, "w") as f:
                f.write("local all postgres trust\n"
                        "local all all scram-sha-256\n")
            shutil.chown(hba, "postgres", "postgres")
        self.start()
        subprocess.run(["runuser", "-u", "postgres", "--", "createdb", "-h", self.sock,
                        "-p", str(self.port), "coffer"], check=True)
        self.conninfo = f"host={self.sock} port={self.port} user=postgres dbname=coffer"

    def pg(self, tool, *args):
        binary = os.path.join("/usr/lib/postgresql/15/bin", tool)
        cmd = [binary, *args]
        if os.getuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def start(self):
        self.pg("pg_ctl", "-D", self.data, "-w", "-l", os.path.join(self.sock, "log"),
                "-o", f"-p {self.port} -k {self.sock} -c listen_addresses=''", "start")

    def stop(self):
        self.pg("pg_ctl", "-D", self.data, "-m", "immediate", "stop")

    def pids(self):
        """The postmaster and every child of it."""
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            pm = int(f.readline())
        out = subprocess.run(["pgrep", "-P", str(pm)], capture_output=True,
                             text=True).stdout.split()
        return [pm] + [int(p) for p in out]

    def app(self):
        """The conninfo cofferd uses on this cluster's "coffer" database:
        the restricted role (created by migration 0004, or by a restore)."""
        return self.conninfo.replace("user=postgres", "user=coffer_app")

    def destroy(self):
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class Token:
    """A private SoftHSM token: its own token directory and softhsm2.conf,
    for a test that copies, removes or restores a token, which it must
    not do to the one every test shares.  With ${init}, a token with the
    label ci/testenv.sh gives its own and fresh PINs; without, an empty
    token directory that a backup's token files (and its PIN file) are
    copied into."""

    def __init__(self, init=True):
        self.dir = tempfile.mkdtemp(prefix="coffer-token-")
        self.tokendir = os.path.join(self.dir, "tokens")
        os.mkdir(self.tokendir)
        self.conf = os.path.join(self.dir, "softhsm2.conf")
        with open(self.conf, "w") as f:
            f.write(f"directories.tokendir = {self.tokendir}\n"
                    "objectstore.backend = file\nlog.level = ERROR\n"
                    "slots.removable = false\n")
        self.label = env("COFFER_TEST_TOKEN")
        self.pin_file = os.path.join(self.dir, "pin")
        if init:
            pin = os.urandom(12).hex()
            fd = os.open(self.pin_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(pin)
            r = subprocess.run(["softhsm2-util", "--init-token", "--free",
                                "--label", self.label,
                                "--so-pin", os.urandom(12).hex(), "--pin", pin],
                               env={**os.environ, "SOFTHSM2_CONF": self.conf},
                               capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                raise RuntimeError(f"softhsm2-util --init-token: {r.stderr}")

    def env(self):
        """cofferd's settings for this token (a Server's extra_env)."""
        return {"SOFTHSM2_CONF": self.conf, "COFFER_TOKEN_LABEL": self.label,
                "COFFER_PIN_FILE": self.pin_file}

    def destroy(self):
        shutil.rmtree(self.dir, ignore_errors=True)
