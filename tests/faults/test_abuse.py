"""Abuse from the network: descriptor exhaustion, idle TCP floods over TLS,
half-sent requests.  A well-behaved client with a valid certificate keeps
being served, and cofferd accepts again once the flood is gone."""
import socket
import time
import unittest

import grpc

from tests.e2e import harness as h
from tests.e2e.harness import pb, token

NOFILE = 256          # the open-file limit cofferd runs under here
HANDSHAKE_S = 2       # handshake_timeout in these tests


class LimitedServer(h.Server):
    """cofferd under a hard open-file limit of NOFILE (prlimit)."""

    def command(self):
        return ["prlimit", f"--nofile={NOFILE}:{NOFILE}", "--"] + super().command()


def idle_connections(port, n):
    """${n} TCP connections that never send a byte (as many as connect)."""
    out = []
    for _ in range(n):
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        out.append(s)
    return out


def closed_by_peer(s):
    """Nonzero if the server closed (or reset) ${s}."""
    s.settimeout(0.2)
    try:
        return s.recv(1) == b""
    except socket.timeout:
        return False
    except OSError:
        return True


class FloodTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.pki = h.Certs()
        cls.db = h.fresh_database("abuse")
        cls.server = LimitedServer(cls.db, tls=cls.pki, extra_env={
            "COFFER_HANDSHAKE_TIMEOUT": str(HANDSHAKE_S)}).start()
        sm, _ = pb()
        cls.secret = "abuse-" + token()[:6]
        cls.server.call("CreateSecret", sm.CreateSecretRequest(
            name=cls.secret, secret_string="still-here", client_request_token=token()))

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        if rc != 0:
            raise AssertionError(f"cofferd exited {rc}:\n{cls.server.output()}")

    def read_ok(self, timeout=10):
        """A fresh client with a valid certificate reads the secret."""
        sm, _ = pb()
        ch = self.server.open_channel()
        try:
            get = ch.unary_unary(h.SERVICE + "GetSecretValue",
                                 request_serializer=lambda m: m.SerializeToString(),
                                 response_deserializer=sm.GetSecretValueResponse.FromString)
            return get(sm.GetSecretValueRequest(secret_id=self.secret),
                       timeout=timeout).secret_string == "still-here"
        except grpc.RpcError:
            return False
        finally:
            ch.close()

    def served_again(self, within):
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.read_ok(timeout=3):
                return True
            time.sleep(0.2)
        return False

    def test_more_idle_connections_than_descriptors(self):
        """More silent TCP connections than cofferd has descriptors: the
        excess is shed, the silent ones are closed at the handshake
        deadline, and cofferd accepts again (it used to stop accepting
        for good after one EMFILE)."""
        flood = idle_connections(self.server.port, NOFILE + 150)
        try:
            self.assertGreater(len(flood), NOFILE)
            # Past the handshake deadline every silent connection is closed
            # by cofferd, and a real client is served.
            time.sleep(HANDSHAKE_S + 1.5)
            self.assertTrue(self.served_again(within=15),
                            "cofferd stopped accepting after the flood:\n"
                            + self.server.output()[-2000:])
            closed = sum(1 for s in flood if closed_by_peer(s))
            self.assertGreater(closed, len(flood) * 0.9,
                               "silent connections were not closed at the deadline")
        finally:
            for s in flood:
                s.close()
        self.assertTrue(self.served_again(within=15))
        self.assertIn("shed", self.server.output())

    def test_idle_flood_does_not_lock_out_a_valid_client(self):
        """A steady flood of silent connections: each is closed at the
        handshake deadline, so a valid client gets in within about that."""
        flood = idle_connections(self.server.port, NOFILE * 2)
        try:
            self.assertTrue(self.served_again(within=HANDSHAKE_S + 12))
        finally:
            for s in flood:
                s.close()


if __name__ == "__main__":
    unittest.main()
