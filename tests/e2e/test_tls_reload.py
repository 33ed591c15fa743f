"""End-to-end tests of certificate rotation without a restart (issue 17,
item 3): cofferd reads tls_cert, tls_key and tls_client_ca again when
they change (tls_reload_interval) and on SIGHUP; new connections, gRPC and
the AWS listener alike, get the new certificate and client CAs, while
connections already made keep theirs; a set that does not fit together is
logged and the old one kept.

Under load throughout: clients that open a new connection for every call,
and one that keeps its connection, none of them may see a failed call
while the server certificate and then the client CA are rotated the way an
operator (or a SPIFFE agent) does it: the CA bundle first carries the old
and the new CA, clients move to certificates of the new one, then the old
CA goes.
"""
import os
import shutil
import signal
import socket
import ssl
import tempfile
import threading
import time
import unittest

import grpc

from tests.e2e import harness as h
from tests.e2e.harness import error_type, token


def setUpModule():
    h.pb()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def der_of(pem_path):
    """The DER of the first certificate in ${pem_path}."""
    return ssl.PEM_cert_to_DER_cert(read(pem_path).decode())


def served_cert(port, client=None):
    """The DER of the certificate a new TLS connection to ${port} is
    served (a client certificate, if given, so that cofferd's verifier
    lets the handshake finish)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if client:
        ctx.load_cert_chain(client[0], client[1])
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw) as s:
            return s.getpeercert(binary_form=True)


def write(path, *sources, mode=None):
    """${path} made of the files ${sources}, written in place (not
    renamed), as cp does it: a reader may catch it half-written."""
    data = b"".join(read(s) for s in sources)
    with open(path, "wb") as f:
        f.write(data)
    if mode is not None:
        os.chmod(path, mode)


class Caller(h.Caller):
    """A principal's own connection, trusting ${roots} (both server CAs):
    the harness's trusts the first CA only."""

    def __init__(self, port, roots, client):
        creds = grpc.ssl_channel_credentials(
            root_certificates=read(roots), private_key=read(client[1]),
            certificate_chain=read(client[0]))
        self.channel = grpc.secure_channel(
            f"127.0.0.1:{port}", creds,
            options=[("grpc.use_local_subchannel_pool", 1)])


class Load(threading.Thread):
    """Calls GetSecretValue until stopped, each on a new connection (new
    credentials, a local subchannel pool: nothing shared), as ${client}
    (a list whose first element the test may swap), trusting ${roots}."""

    def __init__(self, port, roots, client, name):
        super().__init__(daemon=True)
        self.port, self.roots, self.client, self.name = port, roots, client, name
        self.stop_ev = threading.Event()
        self.calls, self.failures = 0, []

    def run(self):
        sm, _ = h.pb()
        while not self.stop_ev.is_set():
            cert, key = self.client[0]
            creds = grpc.ssl_channel_credentials(
                root_certificates=read(self.roots), private_key=read(key),
                certificate_chain=read(cert))
            ch = grpc.secure_channel(f"127.0.0.1:{self.port}", creds,
                                     options=[("grpc.use_local_subchannel_pool", 1)])
            try:
                m = ch.unary_unary(h.SERVICE + "GetSecretValue",
                                   request_serializer=lambda r: r.SerializeToString(),
                                   response_deserializer=sm.GetSecretValueResponse.FromString)
                r = m(sm.GetSecretValueRequest(secret_id=self.name), timeout=20)
                if r.secret_string != "v":
                    self.failures.append("wrong value")
            except grpc.RpcError as e:
                self.failures.append((e.code(), e.details(), self.client[0][0]))
            finally:
                ch.close()
            self.calls += 1


class TlsReloadTest(unittest.TestCase):

    def setUp(self):
        self.old = h.Certs()
        self.new = h.Certs("ca2")
        self.addCleanup(self.old.destroy)
        self.addCleanup(self.new.destroy)
        # The files cofferd is configured with, which the test rewrites.
        self.dir = tempfile.mkdtemp(prefix="coffer-tls-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.cert = os.path.join(self.dir, "server.pem")
        self.key = os.path.join(self.dir, "server.key")
        self.ca = os.path.join(self.dir, "clients.pem")
        write(self.cert, self.old.server + ".pem")
        write(self.key, self.old.server + ".key", mode=0o600)
        write(self.ca, self.old.ca + ".pem")
        # Clients trust both server CAs throughout.
        self.roots = os.path.join(self.dir, "roots.pem")
        write(self.roots, self.old.ca + ".pem", self.new.ca + ".pem")
        self.db = h.fresh_database("tlsreload")

    def server(self, interval):
        self.aws_port = h.free_port()
        s = h.Server(self.db, tls=self.old, extra_env={
            "COFFER_TLS_CERT": self.cert, "COFFER_TLS_KEY": self.key,
            "COFFER_TLS_CLIENT_CA": self.ca,
            "COFFER_TLS_RELOAD_INTERVAL": str(interval),
            "COFFER_AWS_LISTEN": f"127.0.0.1:{self.aws_port}"}).start()
        self.addCleanup(s.stop)
        self.s = s
        return s

    def until_served(self, want_pem, client, what, timeout=30):
        """Wait until new connections, gRPC and AWS, get ${want_pem}."""
        want = der_of(want_pem)
        h.until(lambda: served_cert(self.s.port, client) == want and
                served_cert(self.aws_port) == want, what, timeout)

    def log_has(self, text, after=0):
        return text in self.s.output()[after:]

    def test_rotation_under_load(self):
        s = self.server(interval=1)
        s.call("CreateSecret", h.pb()[0].CreateSecretRequest(
            name="tls/one", secret_string="v", client_request_token=token()))
        old_admin = [s.admin_cert]
        new_admin = [self.new.client("coffer-admin", h.ADMIN)]
        client = list(old_admin)
        loads = [Load(s.port, self.roots, client, "tls/one") for _ in range(3)]
        for t in loads:
            t.start()
        # One connection made before any rotation, kept throughout.
        kept = h.Caller(s, s.admin_cert)
        self.addCleanup(kept.close)
        self.assertEqual(kept.call("GetSecretValue", secret_id="tls/one").secret_string, "v")
        self.assertEqual(served_cert(s.port, s.admin_cert), der_of(self.old.server + ".pem"))

        # 1. A new server certificate (of the new CA): key, then chain,
        # written in place; for a moment they do not fit together.
        write(self.key, self.new.server + ".key")
        write(self.cert, self.new.server + ".pem")
        self.until_served(self.new.server + ".pem", s.admin_cert,
                          "new connections never got the new certificate")
        self.assertTrue(self.log_has("cofferd: tls: reloaded"), s.output())

        # 2. A key that is not the certificate's: kept the old pair, said why.
        mark = len(s.output())
        write(self.key, self.old.server + ".key")
        h.until(lambda: self.log_has("kept the certificate, key and client CAs "
                                     "in use", mark), "a bad key was not reported")
        self.assertIn("tls_key", s.output()[mark:])
        self.assertEqual(served_cert(s.port, s.admin_cert), der_of(self.new.server + ".pem"))
        self.assertEqual(served_cert(self.aws_port), der_of(self.new.server + ".pem"))
        write(self.key, self.new.server + ".key")
        h.until(lambda: self.log_has("cofferd: tls: reloaded", mark),
                "the good key again was not taken")

        # 3. The client CA: both, then clients move, then only the new one.
        write(self.ca, self.old.ca + ".pem", self.new.ca + ".pem")
        time.sleep(2.5)
        client[0] = new_admin[0]
        time.sleep(1)
        mark = len(s.output())
        write(self.ca, self.new.ca + ".pem")
        h.until(lambda: self.log_has("cofferd: tls: reloaded", mark),
                "the new client CA was not taken")

        def refused_old_client():
            c = Caller(s.port, self.roots, old_admin[0])
            try:
                c.call("GetSecretValue", secret_id="tls/one")
                return False
            except grpc.RpcError as e:
                return e.code() == grpc.StatusCode.UNAVAILABLE
            finally:
                c.close()
        h.until(refused_old_client, "a certificate of the retired CA still got in")
        # The connection made before it all still works.
        self.assertEqual(kept.call("GetSecretValue", secret_id="tls/one").secret_string, "v")
        time.sleep(1)

        for t in loads:
            t.stop_ev.set()
        for t in loads:
            t.join(60)
        calls = sum(t.calls for t in loads)
        failures = [f for t in loads for f in t.failures]
        self.assertGreater(calls, 50)
        self.assertEqual(failures, [], f"{len(failures)} of {calls} calls failed")
        self.assertEqual(s.proc.poll(), None)

    def test_sighup_and_nothing_else(self):
        """With a long interval the files are read again on SIGHUP only."""
        s = self.server(interval=86400)
        write(self.key, self.new.server + ".key")
        write(self.cert, self.new.server + ".pem")
        time.sleep(3)
        self.assertEqual(served_cert(s.port, s.admin_cert), der_of(self.old.server + ".pem"))
        s.proc.send_signal(signal.SIGHUP)
        self.until_served(self.new.server + ".pem", s.admin_cert,
                          "SIGHUP did not reload the certificate")
        self.assertIn("SIGHUP received", s.output())
        # Calls go on, on a new connection, and the server still runs.
        c = Caller(s.port, self.roots, s.admin_cert)
        self.addCleanup(c.close)
        with self.assertRaises(grpc.RpcError) as e:
            c.call("GetSecretValue", secret_id="tls/none")
        self.assertEqual(error_type(e.exception), "ResourceNotFoundException")
        self.assertEqual(s.proc.poll(), None)


if __name__ == "__main__":
    unittest.main()
