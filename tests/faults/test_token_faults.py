"""The token failing under a running cofferd (issue 11 item 13, issue 12
item 1; audit/DESIGN.md, "Heads in the token").

Each audit chain's head lives in a token object that its head keeper moves
after each batch; cofferd writes one chain per audit lane, queue lanes and
change lanes (audit_lanes + workers + 1), and so keeps that many such objects.  Here
the token fails underneath a real server while it serves a light load:

- one lane's head object file is moved away for a moment (the PKCS#11
  handle then fails with CKR_OBJECT_HANDLE_INVALID, as in the field
  report): that lane's keeper must find or remake its one object, never
  fork the head, and catch up once the file is back, so that a tail cut
  afterwards shows in that chain;
- the same, and the token directory made immutable (chattr +i: no object
  can be created, not even by root), for longer than audit_head_max_lag:
  calls fail with ServiceUnavailable (one lane's chain unanchored is
  enough), health says NOT_SERVING, and both come back by themselves once
  the token does.

Renaming the whole token directory away is not used: SoftHSM 2.6 marks a
token whose directory it cannot list invalid for the rest of the process
(OSToken::index), which no client can undo short of re-initialising the
module.  chmod 000 does not stop root, which the tests run as.
"""
import glob
import os
import signal
import subprocess
import threading
import time
import unittest
from collections import Counter

import grpc

from tests.e2e import harness as h
from tests.e2e.harness import error_type, pb, token

AUDIT = "/coffer.v1.Audit/"


def setUpModule():
    pb()


def token_dir():
    """The one token's directory in the testenv's SoftHSM store."""
    base = os.path.join(os.path.dirname(h.env("SOFTHSM2_CONF")), "tokens")
    dirs = [d for d in glob.glob(os.path.join(base, "*")) if os.path.isdir(d)]
    if len(dirs) != 1:
        raise AssertionError(f"expected one token directory in {base}: {dirs}")
    return dirs[0]


def objects(d):
    """The token's object files (token.object is the token itself)."""
    return {f for f in os.listdir(d)
            if f.endswith(".object") and f != "token.object"}


class Load:
    """A light load of audited calls on its own thread, until stopped."""

    def __init__(self, server, name):
        self.server, self.name = server, name
        self.outcomes = Counter()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        sm, _ = pb()
        i = 0
        while not self.stopping.is_set():
            i += 1
            if i % 4 == 0:
                req = ("PutSecretValue", sm.PutSecretValueRequest(
                    secret_id=self.name, secret_string=f"v{i}",
                    client_request_token=token()))
            else:
                req = ("GetSecretValue", sm.GetSecretValueRequest(secret_id=self.name))
            try:
                self.server.call(*req, timeout=10)
                self.outcomes["OK"] += 1
            except grpc.RpcError as e:
                self.outcomes[error_type(e) or str(e.code())] += 1
            time.sleep(0.02)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(60)


class TokenFaultTest(unittest.TestCase):

    def start(self, max_lag=None):
        self.db = h.fresh_database("faults")
        extra = {"COFFER_AUDIT_HEAD_MAX_LAG": str(max_lag)} if max_lag else {}
        s = h.Server(self.db, extra_env=extra).start()
        self.addCleanup(self.stop, s)
        sm, _ = pb()
        self.name = "fault-" + token()[:8]
        s.call("CreateSecret", sm.CreateSecretRequest(
            name=self.name, secret_string="v0", client_request_token=token()))
        return s

    def stop(self, s):
        rc = s.stop()
        if rc != 0 and not getattr(s, "killed", False):
            raise AssertionError(f"cofferd exited {rc}:\n{s.output()}")

    def verify(self, s):
        sm, _ = pb()
        return s.call("VerifyAuditLog", sm.VerifyAuditLogRequest(), service=AUDIT)[0]

    def health(self, s):
        _, health = pb()
        check = s.channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health.HealthCheckRequest.SerializeToString,
            response_deserializer=health.HealthCheckResponse.FromString)
        r = check(health.HealthCheckRequest(), timeout=10)
        return health.HealthCheckResponse.ServingStatus.Name(r.status)

    def sql(self, q):
        return h.psql(h.admin(self.db), q)

    def head_file(self, s, d):
        """One lane's head object file, and that lane's chain: with the
        server idle, one call; the one object the token then rewrites is
        the head of the chain that call's event went to (the keys never
        change; SoftHSM rewrites an object's file in place).  A read: its
        event goes to a queue lane."""
        sm, _ = pb()
        chains = s.audit_chains(self.db)
        self.assertEqual(len(chains), s.audit_chain_count(), chains)

        def mtimes():
            return {f: os.stat(os.path.join(d, f)).st_mtime_ns for f in objects(d)}
        deadline = time.time() + 30
        while time.time() < deadline:
            before = mtimes()
            time.sleep(0.3)
            if mtimes() != before:
                continue        # not idle yet
            _, md, _ = s.call("GetSecretValue",
                              sm.GetSecretValueRequest(secret_id=self.name))
            time.sleep(0.5)     # the keeper writes within 20 ms
            after = mtimes()
            moved = [f for f in after if f in before and after[f] != before[f]]
            if len(moved) == 1 and set(after) == set(before):
                chain = self.sql("SELECT chain_id FROM audit_events WHERE "
                                 f"request_id = '{md['coffer-request-id']}'")
                self.assertIn(chain, chains)
                return moved[0], chain
        raise AssertionError(f"no single head object is rewritten after a call in {d}")

    def verify_chain(self, s, chain):
        """VerifyAuditLog, and ${chain}'s report in it."""
        v = self.verify(s)
        return v, [c for c in v.chains if c.chain_id == chain][0]

    def caught_up(self, s, chain, timeout=20):
        """Verify, until the token's head is the chain's end (the server's
        own verify waits for its head; this waits for the retries)."""
        deadline = time.time() + timeout
        while True:
            v, c = self.verify_chain(s, chain)
            if (c.ok and c.head_in_token and c.token_head_sequence >= c.last_sequence) \
                    or time.time() > deadline:
                return v, c
            time.sleep(0.5)

    def cut_tail(self, s, chain):
        """Delete the newest events of ${chain} as the owner, triggers off;
        verify must see it in that chain, and in no other."""
        last = int(self.sql(f"SELECT max(seq) FROM audit_events WHERE chain_id = '{chain}'"))
        h.psql(h.admin(self.db), "SET session_replication_role = replica; "
               f"DELETE FROM audit_events WHERE chain_id = '{chain}' AND seq > {last - 3}")
        v, c = self.verify_chain(s, chain)
        self.assertFalse(v.ok, v)
        self.assertFalse(c.ok, c)
        self.assertIn("cut off", c.reason)
        self.assertEqual(c.broken_sequence, last - 2)
        self.assertTrue(all(o.ok for o in v.chains if o.chain_id != chain), v)
        return last - 2

    def test_brief_fault_one_head_that_catches_up(self):
        s = self.start()
        d = token_dir()
        n_objects = len(objects(d))
        head, chain = self.head_file(s, d)
        with Load(s, self.name) as load:
            os.rename(os.path.join(d, head), os.path.join(d, head + ".away"))
            time.sleep(2)
            os.rename(os.path.join(d, head + ".away"), os.path.join(d, head))
            time.sleep(2)
        self.assertGreater(load.outcomes["OK"], 20, load.outcomes)

        # The head catches up; the chain verifies; a tail cut now shows.
        v, c = self.caught_up(s, chain)
        self.assertTrue(v.ok, f"{v}\n{s.output()}")
        self.assertTrue(c.head_in_token, c)
        self.assertGreaterEqual(c.token_head_sequence, c.last_sequence, c)
        cut = self.cut_tail(s, chain)

        # One head object per chain.  SoftHSM never shows this process
        # the file that came back, so the keeper had to make a new object;
        # the next cofferd sees both and destroys the superseded one, and
        # adds one head per lane of its own.
        s2 = h.Server(self.db).start()
        self.addCleanup(self.stop, s2)
        self.assertEqual(len(objects(d)), n_objects + s2.audit_chain_count(),
                         f"a chain's head is forked:\n{s.output()}\n{s2.output()}")
        v, c = self.verify_chain(s2, chain)
        self.assertFalse(c.ok, c)
        self.assertEqual(c.broken_sequence, cut, c)
        self.assertTrue(all(o.ok for o in v.chains if o.chain_id != chain), v)
        self.assertEqual(len(v.chains), s.audit_chain_count() + s2.audit_chain_count(), v)

    def test_long_fault_fails_closed_then_recovers(self):
        sm, _ = pb()
        s = self.start(max_lag=2)
        d = token_dir()
        head, chain = self.head_file(s, d)
        with Load(s, self.name):
            os.rename(os.path.join(d, head), os.path.join(d, head + ".away"))
            subprocess.run(["chattr", "+i", d], check=True)
            try:
                # Past the bound: refused, and not serving.
                time.sleep(4)
                with self.assertRaises(grpc.RpcError) as cm:
                    s.call("GetSecretValue", sm.GetSecretValueRequest(secret_id=self.name))
                self.assertEqual(error_type(cm.exception), "ServiceUnavailable")
                self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
                self.assertIn("audit", cm.exception.details())
                self.assertEqual(self.health(s), "NOT_SERVING")
            finally:
                subprocess.run(["chattr", "-i", d], check=True)
                os.rename(os.path.join(d, head + ".away"), os.path.join(d, head))

        # The token is back: serving again, no restart.
        deadline = time.time() + 20
        while self.health(s) != "SERVING" and time.time() < deadline:
            time.sleep(0.2)
        self.assertEqual(self.health(s), "SERVING", s.output())
        r = s.call("GetSecretValue", sm.GetSecretValueRequest(secret_id=self.name))[0]
        self.assertTrue(r.secret_string.startswith("v"))
        self.assertIn("refusing audited calls", s.output())
        v, c = self.caught_up(s, chain)
        self.assertTrue(v.ok, f"{v}\n{s.output()}")
        self.assertGreaterEqual(c.token_head_sequence, c.last_sequence, c)
        self.cut_tail(s, chain)

    def test_unanchored_tail_is_a_finding(self):
        """A server that died after its head lagged for longer than the
        verifier's bound (here the dead server allowed 60 s, the verifier
        1 s) leaves events the token never anchored in time: verify says
        so instead of calling the chain intact.  (A tail shorter than the
        bound is what any kill -9 leaves: test_crash checks it verifies.)"""
        sm, _ = pb()
        s = self.start(max_lag=60)
        d = token_dir()
        head, chain = self.head_file(s, d)
        base = int(self.sql(f"SELECT max(seq) FROM audit_events WHERE chain_id = '{chain}'"))
        os.rename(os.path.join(d, head), os.path.join(d, head + ".away"))
        subprocess.run(["chattr", "+i", d], check=True)
        try:
            # Unanchored calls in that lane's chain over 3 s: longer than
            # the verifier's 1 s bound plus its 1 s for writes in flight.
            # (The queue lanes take the reads in turn.)
            deadline = time.time() + 60
            while True:
                s.call("GetSecretValue", sm.GetSecretValueRequest(secret_id=self.name))
                n, span = self.sql("SELECT count(*), coalesce(extract(epoch FROM "
                                   "max(event_time) - min(event_time)), 0) FROM "
                                   f"audit_events WHERE chain_id = '{chain}' AND "
                                   f"seq > {base}").split("|")
                if (int(n) >= 3 and float(span) >= 3.0) or time.time() > deadline:
                    break
                time.sleep(0.2)
            self.assertGreaterEqual(float(span), 3.0, n)
            s.killed = True
            s.stop(signal.SIGKILL)
        finally:
            subprocess.run(["chattr", "-i", d], check=True)
            os.rename(os.path.join(d, head + ".away"), os.path.join(d, head))

        # Another server, later than any write in flight could explain.
        time.sleep(3)
        s2 = h.Server(self.db, extra_env={"COFFER_AUDIT_HEAD_MAX_LAG": "1"}).start()
        self.addCleanup(self.stop, s2)
        v, c = self.verify_chain(s2, chain)
        self.assertFalse(v.ok, v)
        self.assertFalse(c.ok, c)
        self.assertLess(c.token_head_sequence, c.last_sequence, c)
        self.assertEqual(c.token_head_sequence, base, c)
        self.assertEqual(c.broken_sequence, c.token_head_sequence + 1, c)
        self.assertIn("not anchored", c.reason)


if __name__ == "__main__":
    unittest.main()
