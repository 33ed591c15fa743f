"""systemd's readiness protocol (server/notify.c, sd_notify(3)) for real:
cofferd is started with NOTIFY_SOCKET naming a datagram socket this test
binds, as systemd does for a Type=notify unit (etc/systemd/cofferd.service).

- READY=1 arrives once, from cofferd's own pid (systemd's NotifyAccess=main
  checks the sender's credentials), and only once the gRPC and AWS
  listeners are up: when it arrives, cofferd has already printed both
  listeners' lines (each printed after its listener accepts), both ports
  accept a connection at the first try, and a health check answers
  SERVING.
- STOPPING=1 arrives on SIGTERM (and on SIGINT), before cofferd exits 0.
- A NOTIFY_SOCKET no one listens on is warned about once and cofferd
  serves regardless.
"""
import os
import signal
import socket
import struct
import tempfile
import time
import unittest

import grpc

from tests.e2e import harness as h
from tests.e2e.harness import pb


def setUpModule():
    pb()


class NotifySocket:
    """A bound AF_UNIX datagram socket that receives sd_notify messages
    with their senders' credentials (SO_PASSCRED), as systemd's does."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="coffer-notify-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(self.path)

    def receive(self, timeout):
        """(fields, sender pid) of the next message, or None at timeout."""
        self.sock.settimeout(timeout)
        try:
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return None
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid, _, _ = struct.unpack("iII", payload[:12])
        fields = dict(line.split("=", 1)
                      for line in data.decode().split("\n") if line)
        return fields, pid

    def close(self):
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


class NotifyTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.db = h.fresh_database("notify")
        cls.pki = h.Certs()

    @classmethod
    def tearDownClass(cls):
        cls.pki.destroy()

    def setUp(self):
        self.notify = NotifySocket()
        self.server = None

    def tearDown(self):
        if self.server is not None:
            self.server.stop()
        self.notify.close()

    def start(self, extra=None):
        """cofferd over TLS with aws_listen, told to notify our socket."""
        self.aws_port = h.free_port()
        self.server = h.Server(self.db, tls=self.pki, extra_env={
            "NOTIFY_SOCKET": self.notify.path,
            "COFFER_AWS_LISTEN": f"127.0.0.1:{self.aws_port}",
            **(extra or {})})
        self.server.start(wait=False)
        return self.server

    def next_message(self, timeout=120):
        """The next message, failing the test if none comes."""
        got = self.notify.receive(timeout)
        if got is None:
            self.fail("no sd_notify message within "
                      f"{timeout} s:\n{self.server.output()}")
        return got

    def assert_serving_now(self):
        """Both ports accept at once, and health answers SERVING."""
        for port in (self.server.port, self.aws_port):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
            except OSError as e:
                self.fail(f"READY=1 before port {port} accepted: {e}")
        _, health = pb()
        with self.server.open_channel() as ch:
            check = ch.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=health.HealthCheckRequest.SerializeToString,
                response_deserializer=health.HealthCheckResponse.FromString)
            r = check(health.HealthCheckRequest(), timeout=10)
        self.assertEqual(r.status, health.HealthCheckResponse.SERVING)

    def test_ready_then_stopping_on_sigterm(self):
        s = self.start()
        fields, pid = self.next_message()
        self.assertEqual(fields.get("READY"), "1", fields)
        self.assertEqual(fields.get("STATUS"), "serving", fields)
        # cofferd prints each listener's line once it accepts (stderr is
        # unbuffered): both are there when READY=1 arrives.
        out = s.output()
        self.assertIn("cofferd: AWS JSON protocol on https://127.0.0.1:"
                      f"{self.aws_port} ", out)
        self.assertIn(f"cofferd: listening on 127.0.0.1:{s.port} ", out)
        self.assertEqual(pid, s.proc.pid, "sent by cofferd's main process")
        self.assert_serving_now()
        self.assertIsNone(s.proc.poll())

        # Nothing more while it serves.
        self.assertIsNone(self.notify.receive(1), "a second message")

        s.proc.send_signal(signal.SIGTERM)
        fields, pid = self.next_message(timeout=60)
        self.assertEqual(fields.get("STOPPING"), "1", fields)
        self.assertEqual(pid, s.proc.pid)
        self.assertEqual(s.proc.wait(timeout=120), 0, s.output())
        self.assertIn("SIGTERM received, draining", s.output())
        self.assertIsNone(self.notify.receive(0.2), "a message after exit")
        self.assertNotIn("could not notify", s.output())

    def test_stopping_on_sigint(self):
        s = self.start()
        fields, _ = self.next_message()
        self.assertEqual(fields.get("READY"), "1", fields)
        s.proc.send_signal(signal.SIGINT)
        fields, _ = self.next_message(timeout=60)
        self.assertEqual(fields.get("STOPPING"), "1", fields)
        self.assertEqual(s.proc.wait(timeout=120), 0, s.output())

    def test_no_ready_when_start_fails(self):
        """A start that fails (no such token) never says READY=1."""
        s = self.start({"COFFER_TOKEN_LABEL": "no-such-token"})
        self.assertNotEqual(s.proc.wait(timeout=120), 0)
        self.assertIsNone(self.notify.receive(0.5), s.output())

    def test_unreachable_socket_warns_and_serves(self):
        """No one listening on NOTIFY_SOCKET: one warning, and it serves."""
        gone = os.path.join(self.notify.dir, "nobody")
        s = self.start({"NOTIFY_SOCKET": gone})
        s.wait_ready()
        sm, _ = pb()
        s.call("ListSecrets", sm.ListSecretsRequest())
        s.proc.send_signal(signal.SIGTERM)
        self.assertEqual(s.proc.wait(timeout=120), 0, s.output())
        # The stopping message failed too, and is not warned about again.
        self.assertEqual(s.output().count("could not notify the service "
                                          "manager"), 1, s.output())


if __name__ == "__main__":
    unittest.main()
