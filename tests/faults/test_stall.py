"""Head-of-line stalls: long calls (audit verification, listings, batch
reads) must not hold the workers that short calls need.

The long calls are made to hang for as long as the test likes, without
timing: a session of the database owner holds an ACCESS EXCLUSIVE lock on
audit_chains, which only VerifyAuditLog reads (the audit writer inserts
into audit_events alone).  While they hang, short calls must be served;
more long calls than the pool queues are refused with ThrottlingException;
a long call whose deadline passes in the queue is answered without being
run; every one of them is audited."""
import subprocess
import time
import unittest

import grpc

from tests.e2e import harness as h
from tests.e2e.harness import error_type, pb, token

AUDIT = "/coffer.v1.Audit/"
LONG_QUEUE = 2        # long_queue in these tests (long_workers: 1)


class TableLock:
    """An ACCESS EXCLUSIVE lock on ${table}, held by a psql session of the
    database owner until release()."""

    def __init__(self, db, table):
        self.db = db
        self.proc = subprocess.Popen(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", h.admin(db)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        self.proc.stdin.write("SET application_name = 'stall-test-lock';\n"
                              f"BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE;\n")
        self.proc.stdin.flush()
        h.until(lambda: h.psql(h.admin(db),
                               "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a "
                               "USING (pid) WHERE a.application_name = 'stall-test-lock' "
                               f"AND l.relation = '{table}'::regclass AND l.granted") == "1",
                "the table lock")

    def waiting(self):
        """How many other sessions wait for the lock."""
        return int(h.psql(h.admin(self.db),
                          "SELECT count(*) FROM pg_locks WHERE NOT granted"))

    def release(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("COMMIT;\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
            self.proc.stderr.close()


class StallTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.db = h.fresh_database("stall")
        cls.server = h.Server(cls.db, workers=2, extra_env={
            "COFFER_LONG_WORKERS": "1",
            "COFFER_LONG_QUEUE": str(LONG_QUEUE),
            # The blocked statements must wait for the lock, not time out.
            "COFFER_LIST_STATEMENT_TIMEOUT_MS": "600000",
            "COFFER_STATEMENT_TIMEOUT_MS": "600000",
        }).start()
        sm, _ = pb()
        cls.secret = "stall-" + token()[:6]
        cls.server.call("CreateSecret", sm.CreateSecretRequest(
            name=cls.secret, secret_string="short", client_request_token=token()))

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        if rc != 0:
            raise AssertionError(f"cofferd exited {rc}:\n{cls.server.output()}")

    def setUp(self):
        self.channel = self.server.open_channel()
        sm, _ = pb()
        self.verify_rpc = self.channel.unary_unary(
            AUDIT + "VerifyAuditLog",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=sm.VerifyAuditLogResponse.FromString)
        self.get_rpc = self.channel.unary_unary(
            h.SERVICE + "GetSecretValue",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=sm.GetSecretValueResponse.FromString)
        self.lock = None
        self.addCleanup(self.channel.close)
        self.addCleanup(self.unlock)

    def unlock(self):
        if self.lock is not None:
            self.lock.release()

    def verify(self, timeout=600):
        sm, _ = pb()
        return self.verify_rpc.future(sm.VerifyAuditLogRequest(), timeout=timeout)

    def hold_long_calls(self, n):
        """Lock audit_chains and start ${n} verifications behind it; wait
        until the first has reached the lock."""
        self.lock = TableLock(self.db, "audit_chains")
        calls = [self.verify() for _ in range(n)]
        h.until(lambda: self.lock.waiting() >= 1, "a verification waiting on the lock")
        return calls

    def events(self, outcome):
        sm, _ = pb()
        r, _, _ = self.server.call("ListAuditEvents", sm.ListAuditEventsRequest(
            operation="VerifyAuditLog", outcome=outcome, max_results=1000),
            service=AUDIT)
        return r.events

    def test_short_calls_pass_long_ones(self):
        """With both workers' worth of verifications hanging, reads are
        still served (before the long-call pool, every read waited behind
        them until its deadline)."""
        sm, _ = pb()
        calls = self.hold_long_calls(2)
        for _ in range(20):
            r = self.get_rpc(sm.GetSecretValueRequest(secret_id=self.secret),
                             timeout=10)
            self.assertEqual(r.secret_string, "short")
        self.assertFalse(any(c.done() for c in calls),
                         "the verifications were not held by the lock")
        self.lock.release()
        for c in calls:
            self.assertTrue(c.result().ok)

    def test_full_long_queue_is_throttled_and_audited(self):
        """One long call runs, LONG_QUEUE wait; the next is refused at once
        with ThrottlingException, audited; the others complete."""
        before = len(self.events("ThrottlingException"))
        calls = self.hold_long_calls(1)
        # Add calls until one is refused.  One that is not answered within
        # a few seconds is taking a place in the queue (the lock holds the
        # one that runs); one that is refused is answered at once.
        refused = None
        for _ in range(2 * LONG_QUEUE + 2):
            extra = self.verify(timeout=600)
            try:
                e = extra.exception(timeout=5)
            except grpc.FutureTimeoutError:
                calls.append(extra)
                continue
            self.assertIsNotNone(e, "a verification ran while the table was locked")
            self.assertEqual(error_type(e), "ThrottlingException", e)
            refused = e
            break
        self.assertIsNotNone(refused, "no call was throttled")
        self.assertEqual(refused.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertIn("Rate exceeded", refused.details())
        self.assertEqual(len(calls), 1 + LONG_QUEUE,
                         "one call runs and long_queue wait")
        self.assertFalse(any(c.done() for c in calls))
        self.lock.release()
        for c in calls:
            self.assertTrue(c.result().ok)
        self.assertGreater(len(self.events("ThrottlingException")), before)

    def test_expired_in_queue_is_answered_unrun_and_audited(self):
        """A long call whose deadline passes while it waits is answered
        with RequestTimeoutException when its turn comes, not run."""
        before = len(self.events("RequestTimeoutException"))
        calls = self.hold_long_calls(1)
        # Long enough to reach the server's queue on a loaded machine (a
        # call whose deadline passes before the server reads it is never
        # seen, so never audited); the lock outlasts it.
        late = self.verify(timeout=5)
        with self.assertRaises(grpc.RpcError) as cm:
            late.result()
        self.assertEqual(cm.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        # The server's deadline is the client's plus the request's transit:
        # a few milliseconds later.  Released at once, the lock let the
        # call be taken just before it (seen: 5 ms early), and run.
        time.sleep(1)
        self.lock.release()
        self.assertTrue(calls[0].result().ok)
        h.until(lambda: len(self.events("RequestTimeoutException")) > before,
                "the expired call's audit event")


class DefaultQueueTest(unittest.TestCase):
    """With the default settings, a client with many listings in flight
    waits for them; it is not throttled.  (A 32-call default queue made
    coffer-bench's 64 in-flight listings fail with ThrottlingException.)"""

    IN_FLIGHT = 100

    def setUp(self):
        self.db = h.fresh_database("stalldefault")
        self.server = h.Server(self.db, workers=2, extra_env={
            "COFFER_LIST_STATEMENT_TIMEOUT_MS": "600000",
        }).start()
        self.addCleanup(self.stop)

    def stop(self):
        rc = self.server.stop()
        if rc != 0:
            raise AssertionError(f"cofferd exited {rc}:\n{self.server.output()}")

    def test_many_listings_in_flight_wait_and_succeed(self):
        sm, _ = pb()
        channel = self.server.open_channel()
        self.addCleanup(channel.close)
        list_rpc = channel.unary_unary(
            h.SERVICE + "ListSecrets",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=sm.ListSecretsResponse.FromString)
        lock = TableLock(self.db, "secrets")
        self.addCleanup(lock.release)
        calls = [list_rpc.future(sm.ListSecretsRequest(), timeout=600)
                 for _ in range(self.IN_FLIGHT)]
        h.until(lambda: lock.waiting() >= 1, "a listing waiting on the lock")
        # Every call is in by now or refused at once; none may be refused.
        time.sleep(2)
        refused = [c.exception() for c in calls if c.done()]
        self.assertEqual(refused, [], "listings refused while others waited")
        lock.release()
        for c in calls:
            c.result()


if __name__ == "__main__":
    unittest.main()
