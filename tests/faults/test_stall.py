"""Head-of-line stalls: long calls (audit verification, listings, batch
reads) and changes waiting for a lock or a commit must not hold the
workers that reads need.

The long calls are made to hang for as long as the test likes, without
timing: a session of the database owner holds an ACCESS EXCLUSIVE lock on
audit_chains, which only VerifyAuditLog reads (the audit writer inserts
into audit_events alone).  While they hang, short calls must be served;
more long calls than the pool queues are refused with ThrottlingException;
a long call whose deadline passes in the queue is answered without being
run; every one of them is audited."""
import os
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


class RowLock:
    """A row lock on secret ${name}'s row (SELECT ... FOR UPDATE), held by
    a psql session of the database owner until release(): every change to
    that secret waits for it."""

    def __init__(self, db, name):
        self.db = db
        self.proc = subprocess.Popen(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", h.admin(db)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        self.proc.stdin.write("SET application_name = 'stall-test-row';\n"
                              "BEGIN; SELECT 1 FROM secrets WHERE name = "
                              f"'{name}' FOR UPDATE;\n"
                              "SELECT pg_advisory_lock(4242);\n")
        self.proc.stdin.flush()
        # The advisory lock is taken after the row's: once it is held, so
        # is the row.
        h.until(lambda: h.psql(h.admin(db),
                               "SELECT count(*) FROM pg_locks WHERE locktype = "
                               "'advisory' AND objid = 4242 AND granted") == "1",
                "the row lock")

    def waiting(self):
        """How many sessions wait for a lock (the changes held here)."""
        return int(h.psql(h.admin(self.db),
                          "SELECT count(*) FROM pg_locks WHERE NOT granted"))

    def release(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("COMMIT;\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
            self.proc.stderr.close()


class WriteStallTest(unittest.TestCase):
    """Changes run on the write pool (write_workers threads, write_queue
    waiting at most), not on the workers reads need: with every change of
    the pool held by a row lock, reads are served by the one worker; a
    change beyond the pool waits in the queue; beyond the queue it is
    refused with ThrottlingException, audited."""

    WRITE_WORKERS = 2
    WRITE_QUEUE = 2

    def setUp(self):
        self.db = h.fresh_database("stallwrite")
        self.server = h.Server(self.db, workers=1, extra_env={
            "COFFER_WRITE_WORKERS": str(self.WRITE_WORKERS),
            "COFFER_WRITE_QUEUE": str(self.WRITE_QUEUE),
            # The held changes must wait for the lock, not time out.
            "COFFER_STATEMENT_TIMEOUT_MS": "600000",
            "COFFER_DB_TIMEOUT": "600",
        }).start()
        self.addCleanup(self.stop)
        sm, _ = pb()
        self.held, self.free = "held-" + token()[:6], "free-" + token()[:6]
        for name in (self.held, self.free):
            self.server.call("CreateSecret", sm.CreateSecretRequest(
                name=name, secret_string="v0", client_request_token=token()))
        self.channel = self.server.open_channel()
        self.addCleanup(self.channel.close)
        self.put_rpc = self.channel.unary_unary(
            h.SERVICE + "PutSecretValue",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=sm.PutSecretValueResponse.FromString)
        self.get_rpc = self.channel.unary_unary(
            h.SERVICE + "GetSecretValue",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=sm.GetSecretValueResponse.FromString)

    def stop(self):
        rc = self.server.stop()
        if rc != 0:
            raise AssertionError(f"cofferd exited {rc}:\n{self.server.output()}")

    def put(self, name):
        sm, _ = pb()
        return self.put_rpc.future(sm.PutSecretValueRequest(
            secret_id=name, secret_string="v-" + token()[:8],
            client_request_token=token()), timeout=600)

    def threads(self):
        """cofferd's threads by name."""
        task = f"/proc/{self.server.proc.pid}/task"
        names = []
        for t in os.listdir(task):
            with open(os.path.join(task, t, "comm")) as f:
                names.append(f.read().strip())
        return names

    def test_reads_are_served_while_every_change_waits(self):
        sm, _ = pb()
        names = self.threads()
        self.assertEqual(names.count("coffer-worker"), 1)
        self.assertEqual(names.count("coffer-write"), self.WRITE_WORKERS)
        lock = RowLock(self.db, self.held)
        self.addCleanup(lock.release)
        held = [self.put(self.held) for _ in range(self.WRITE_WORKERS)]
        h.until(lambda: lock.waiting() >= self.WRITE_WORKERS,
                "every write thread waiting on the row lock")
        # The one worker reads on (before the write pool, the first held
        # Put held it, and every read waited behind the lock).
        for _ in range(20):
            r = self.get_rpc(sm.GetSecretValueRequest(secret_id=self.free),
                             timeout=10)
            self.assertEqual(r.secret_string, "v0")
        # A change to another secret waits for a write thread.
        queued = self.put(self.free)
        time.sleep(2)
        self.assertFalse(queued.done(), "a change ran with every write thread held")
        self.assertFalse(any(c.done() for c in held))
        lock.release()
        for c in held + [queued]:
            self.assertTrue(c.result().version_id)

    def test_full_write_queue_is_throttled_and_audited(self):
        lock = RowLock(self.db, self.held)
        self.addCleanup(lock.release)
        calls = [self.put(self.held) for _ in range(self.WRITE_WORKERS)]
        h.until(lambda: lock.waiting() >= self.WRITE_WORKERS,
                "every write thread waiting on the row lock")
        calls += [self.put(self.held) for _ in range(self.WRITE_QUEUE)]
        time.sleep(2)
        self.assertFalse(any(c.done() for c in calls), "the queue refused a change")
        refused = self.put(self.held).exception(timeout=30)
        self.assertIsNotNone(refused)
        self.assertEqual(error_type(refused), "ThrottlingException", refused)
        self.assertEqual(refused.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertIn("write_queue", refused.details())
        lock.release()
        for c in calls:
            self.assertTrue(c.result().version_id)
        sm, _ = pb()
        r, _, _ = self.server.call("ListAuditEvents", sm.ListAuditEventsRequest(
            operation="PutSecretValue", outcome="ThrottlingException",
            max_results=100), service=AUDIT)
        self.assertEqual(len(r.events), 1)


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
