"""What the rotation test modules (test_rotation, test_rotation_pg,
test_rotation_servers) share: FAST, the scheduler's one-second interval;
Helpers, what every rotation test class asks; RotationCase, one cofferd on
a fresh database; and setUpModule, which each module takes as its own.
"""
import unittest

import grpc

from tests.e2e import harness as h
from tests.e2e.harness import error_type, pb, token

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
