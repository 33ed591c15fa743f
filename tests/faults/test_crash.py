"""kill -9 of cofferd under concurrent writes: nothing acknowledged is lost.

Each round starts cofferd, lets client threads create secrets and put
values with their own ClientRequestTokens, and kills cofferd with SIGKILL
at a random moment.  Every call the server acknowledged is recorded; every
call cut off by the kill is retried after the restart with the same token
and value.  Then:

- every acknowledged or retried write is there and decrypts to its value;
- a retry is idempotent (same token, same value: success, one version);
- each secret's AWSCURRENT is the last write its thread made;
- every acknowledged write has its audit event (outcome OK, its request id);
- every version has an OK event for it, and every OK event for a version
  has its version: a change and its event commit in one transaction;
- at the end, the audit trail of every chain (audit_lanes + workers + 1 of them per
  cofferd process: queue lanes and change lanes, each registered before
  the process served a call) verifies.

Two servers on one database (TwoServersCrashTest): Puts from both race on
the same secrets, and each round one of them (in turn) is killed with
SIGKILL.  The other must serve every one of its calls throughout; the
killed one is restarted and the Puts it cut off retried there.  Then
every acknowledged write is there, versions and OK events match one for
one, and every chain of every process, both servers', verifies.  Both
servers start fresh each round and the survivors stop cleanly, as in the
test above: a kill during a head keeper's token write can leave a chain
without a readable head, which verify accepts for a dead server's chain
only while it spans at most audit_head_max_lag + 1 s (audit/DESIGN.md,
"A head lost to a crash"); a server killed after running longer could
fail verify for that reason alone.

Rounds: COFFER_FAULTS_ROUNDS (default 10; `tests/faults/run --long` uses 100).
"""
import os
import random
import signal
import threading
import time
import unittest

import grpc

from tests.e2e import harness as h
from tests.e2e.harness import error_type, pb, token

ROUNDS = int(os.environ.get("COFFER_FAULTS_ROUNDS", "10"))
THREADS = 8
AUDIT = "/coffer.v1.Audit/"


class Writer(threading.Thread):
    """One client: creates a secret, then puts values on it, until a call
    fails (the server died).  Records acknowledged writes and the one that
    was cut off."""

    def __init__(self, endpoint, round_no, n):
        super().__init__(daemon=True)
        self.endpoint = endpoint
        self.name = f"crash-{round_no}-{n}-{token()[:6]}"
        self.acked = []        # (op, token, value, request id)
        self.cut = None        # (op, token, value) of the call the kill cut

    def run(self):
        sm, _ = pb()
        ch = grpc.insecure_channel(self.endpoint)
        try:
            create = ch.unary_unary(h.SERVICE + "CreateSecret",
                                    request_serializer=lambda m: m.SerializeToString(),
                                    response_deserializer=sm.CreateSecretResponse.FromString)
            put = ch.unary_unary(h.SERVICE + "PutSecretValue",
                                 request_serializer=lambda m: m.SerializeToString(),
                                 response_deserializer=sm.PutSecretValueResponse.FromString)
            i = 0
            while True:
                tok, value = token(), f"value-{self.name}-{i}"
                if i == 0:
                    op, method = "CreateSecret", create
                    req = sm.CreateSecretRequest(name=self.name, secret_string=value,
                                                 client_request_token=tok)
                else:
                    op, method = "PutSecretValue", put
                    req = sm.PutSecretValueRequest(secret_id=self.name,
                                                   secret_string=value,
                                                   client_request_token=tok)
                try:
                    _, call = method.with_call(req, timeout=10)
                except grpc.RpcError:
                    self.cut = (op, tok, value)
                    return
                rid = dict(call.initial_metadata())["coffer-request-id"]
                self.acked.append((op, tok, value, rid))
                i += 1
        finally:
            ch.close()


class CrashTest(unittest.TestCase):

    def test_kill_9_under_write_load(self):
        db = h.fresh_database("faults_crash")
        s = h.Server(db, workers=4)
        sm, _ = pb()
        acked = 0
        retried = 0
        writers = []
        servers = []        # audit_chains.server of every process started
        try:
            for rnd in range(ROUNDS):
                s.start()
                servers.append(s.audit_server())
                ws = [Writer(s.endpoint, rnd, n) for n in range(THREADS)]
                for w in ws:
                    w.start()
                time.sleep(random.uniform(0.3, 1.5))
                s.proc.send_signal(signal.SIGKILL)
                s.proc.wait()
                s.channel.close()
                s.channel = None
                for w in ws:
                    w.join(timeout=30)
                    self.assertFalse(w.is_alive(), "a client hung after the kill")

                # Restart and retry what the kill cut off, same token and value.
                s.start()
                servers.append(s.audit_server())
                for w in ws:
                    if w.cut is None:
                        continue
                    op, tok, value = w.cut
                    if op == "CreateSecret":
                        req = sm.CreateSecretRequest(name=w.name, secret_string=value,
                                                     client_request_token=tok)
                    else:
                        req = sm.PutSecretValueRequest(secret_id=w.name,
                                                       secret_string=value,
                                                       client_request_token=tok)
                    r, md, _ = s.call(op, req)
                    self.assertEqual(r.version_id, tok)
                    w.acked.append((op, tok, value, md["coffer-request-id"]))
                    retried += 1
                    # Once more: the same version, nothing new (checked by
                    # the version count below).
                    r, _, _ = s.call(op, req)
                    self.assertEqual(r.version_id, tok)
                self.check(s, db, ws)
                acked += sum(len(w.acked) for w in ws)
                writers += ws
                s.stop()

            # Every chain, audit_lanes + workers + 1 per process, verifies.
            s.start()
            servers.append(s.audit_server())
            per = s.audit_chain_count()
            v = s.call("VerifyAuditLog", sm.VerifyAuditLogRequest(),
                       service=AUDIT)[0]
            self.assertTrue(v.ok, v)
            per_server = dict(line.split("|") for line in h.psql(
                h.admin(db), "SELECT server, count(*) FROM audit_chains "
                "GROUP BY server").split())
            self.assertEqual(per_server, {srv: str(per) for srv in servers})
            self.assertEqual(len(v.chains), len(servers) * per)
            self.assertEqual(sorted(c.chain_id for c in v.chains), sorted(h.psql(
                h.admin(db), "SELECT chain_id FROM audit_chains").split()))
            # Over the whole run the clients really were cut off, and wrote.
            self.assertGreater(acked, ROUNDS * THREADS)
            self.assertGreater(retried, 0)
            print(f"\n{ROUNDS} rounds: {acked} acknowledged writes, "
                  f"{retried} cut off and retried, none lost")
        finally:
            rc = s.stop()
            if rc not in (0, None, -signal.SIGKILL):
                raise AssertionError(f"cofferd exited {rc}:\n{s.output()}")

    def check(self, s, db, ws):
        sm, _ = pb()
        audited = set(h.psql(h.admin(db), "SELECT operation || ':' || request_id "
                             "FROM audit_events WHERE outcome = 'OK' AND operation IN "
                             "('CreateSecret', 'PutSecretValue')").split())
        versions = dict(line.split("|") for line in h.psql(
            h.admin(db), "SELECT s.name, count(*) FROM secret_versions v JOIN "
            "secrets s ON s.uuid = v.secret_uuid GROUP BY s.name").split())
        for w in ws:
            self.assertTrue(w.acked, "the retry of a cut-off CreateSecret is acked")
            for op, tok, value, rid in w.acked:
                r = s.call("GetSecretValue", sm.GetSecretValueRequest(
                    secret_id=w.name, version_id=tok))[0]
                self.assertEqual(r.secret_string, value, (w.name, tok))
                self.assertIn(f"{op}:{rid}", audited,
                              f"no audit event for acknowledged {op} {rid}")
            # The last write is current; one version per write, no more.
            cur = s.call("GetSecretValue", sm.GetSecretValueRequest(secret_id=w.name))[0]
            self.assertEqual(cur.version_id, w.acked[-1][1])
            self.assertEqual(int(versions[w.name]), len(w.acked), w.name)

        # A change and its event commit together (one transaction): the
        # kill left no version without an OK event for it, and no OK event
        # for a version that is not there.
        orphans, claims = h.unpaired_versions(db)
        self.assertEqual(orphans, set(), "versions without their event")
        self.assertEqual(claims, set(), "events claiming a version that "
                         "did not commit")


class SharedWriter(threading.Thread):
    """One client of one server: Puts to secrets it shares with other
    clients (of both servers), each with its own token and value, until
    stopped or until its server is killed (${killed} set)."""

    def __init__(self, endpoint, names, killed):
        super().__init__(daemon=True)
        self.endpoint, self.names, self.killed = endpoint, names, killed
        self.stop_ev = threading.Event()
        self.acked = []        # (name, token, value, request id)
        self.cut = None        # (name, token, value) the kill cut off
        self.failed = []       # failures while the server was alive

    def run(self):
        sm, _ = pb()
        ch = grpc.insecure_channel(self.endpoint)
        put = h.method(ch, "PutSecretValue")
        try:
            while not self.stop_ev.is_set():
                name, tok = random.choice(self.names), token()
                value = f"{name}-{tok[:8]}"
                try:
                    _, call = put.with_call(sm.PutSecretValueRequest(
                        secret_id=name, secret_string=value,
                        client_request_token=tok), timeout=10)
                except grpc.RpcError as e:
                    if self.killed.is_set():
                        self.cut = (name, tok, value)
                        return
                    self.failed.append((name, error_type(e) or e.code().name,
                                        e.details()))
                    continue
                rid = dict(call.initial_metadata())["coffer-request-id"]
                self.acked.append((name, tok, value, rid))
        finally:
            ch.close()


class TwoServersCrashTest(unittest.TestCase):

    def test_kill_9_of_one_of_two_servers_racing_on_the_same_secrets(self):
        db = h.fresh_database("faults_crash2")
        servers = [h.Server(db, workers=2), h.Server(db, workers=2)]
        processes = []          # audit_chains.server of every process
        sm, _ = pb()
        names = [f"shared-{token()[:8]}-{i}" for i in range(8)]
        try:
            acked, retried = [], 0
            for rnd in range(ROUNDS):
                for s in servers:
                    s.start()
                    processes.append(s.audit_server())
                if rnd == 0:
                    for name in names:
                        servers[0].call("CreateSecret", sm.CreateSecretRequest(
                            name=name, secret_string="v0",
                            client_request_token=token()))
                victim, survivor = servers[rnd % 2], servers[(rnd + 1) % 2]
                killed = threading.Event()
                never = threading.Event()
                ws = ([SharedWriter(victim.endpoint, names, killed) for _ in range(3)]
                      + [SharedWriter(survivor.endpoint, names, never) for _ in range(3)])
                for w in ws:
                    w.start()
                time.sleep(random.uniform(0.3, 1.5))
                killed.set()
                victim.proc.send_signal(signal.SIGKILL)
                victim.proc.wait()
                victim.channel.close()
                victim.channel = None
                # The survivor goes on serving while its peer is dead.
                time.sleep(0.5)
                for w in ws:
                    w.stop_ev.set()
                for w in ws:
                    w.join(timeout=30)
                    self.assertFalse(w.is_alive(), "a client hung")
                for w in ws[3:]:
                    self.assertEqual(w.failed, [], "the surviving server failed calls")
                    self.assertIsNone(w.cut)
                    self.assertTrue(w.acked, "the surviving server served nothing")
                for w in ws[:3]:
                    self.assertEqual(w.failed, [], "calls failed before the kill")

                # Restart the victim; retry there what the kill cut off.
                victim.start()
                processes.append(victim.audit_server())
                for w in ws:
                    if w.cut is None:
                        continue
                    name, tok, value = w.cut
                    req = sm.PutSecretValueRequest(secret_id=name, secret_string=value,
                                                   client_request_token=tok)
                    r, md, _ = victim.call("PutSecretValue", req)
                    self.assertEqual(r.version_id, tok)
                    w.acked.append((name, tok, value, md["coffer-request-id"]))
                    retried += 1
                mine = [a for w in ws for a in w.acked]
                acked.extend(mine)
                self.check(servers, db, names, acked, mine)
                for s in servers:
                    self.assertEqual(s.stop(), 0, s.output())

            for s in servers:
                s.start()
                processes.append(s.audit_server())
            for s in servers:
                v = s.call("VerifyAuditLog", sm.VerifyAuditLogRequest(),
                           service=AUDIT)[0]
                self.assertTrue(v.ok, v)
                self.assertEqual(sorted(c.chain_id for c in v.chains), sorted(
                    h.psql(h.admin(db), "SELECT chain_id FROM audit_chains").split()))
            per_server = dict(line.split("|") for line in h.psql(
                h.admin(db), "SELECT server, count(*) FROM audit_chains "
                "GROUP BY server").split())
            per = servers[0].audit_chain_count()
            self.assertEqual(per_server, {p: str(per) for p in processes})
            self.assertGreater(retried, 0)
            print(f"\n{ROUNDS} rounds, one of two servers killed each: "
                  f"{len(acked)} acknowledged Puts to {len(names)} shared "
                  f"secrets, {retried} cut off and retried, none lost; the "
                  "other server failed no call")
        finally:
            for s in servers:
                rc = s.stop()
                if rc not in (0, None, -signal.SIGKILL):
                    raise AssertionError(f"cofferd exited {rc}:\n{s.output()}")

    def check(self, servers, db, names, acked, new):
        """Every write acknowledged (${acked}) is there once, with its
        event; the ${new} ones of this round read back through either
        server."""
        sm, _ = pb()
        audited = set(h.psql(h.admin(db), "SELECT request_id FROM audit_events "
                             "WHERE outcome = 'OK' AND operation = "
                             "'PutSecretValue'").split())
        for name, tok, value, rid in acked:
            self.assertIn(rid, audited, f"no audit event for acknowledged Put {rid}")
        for i, (name, tok, value, rid) in enumerate(new):
            # Read back through either server.
            r = servers[i % 2].call("GetSecretValue", sm.GetSecretValueRequest(
                secret_id=name, version_id=tok))[0]
            self.assertEqual(r.secret_string, value, (name, tok))
            self.assertIn(rid, audited, f"no audit event for acknowledged Put {rid}")
        # One version per acknowledged token (and the first one), no more.
        versions = dict(line.split("|") for line in h.psql(
            h.admin(db), "SELECT s.name, count(*) FROM secret_versions v JOIN "
            "secrets s ON s.uuid = v.secret_uuid GROUP BY s.name").split())
        for name in names:
            want = 1 + len({tok for n, tok, _, _ in acked if n == name})
            self.assertEqual(int(versions[name]), want, name)
        orphans, claims = h.unpaired_versions(db)
        self.assertEqual(orphans, set(), "versions without their event")
        self.assertEqual(claims, set(), "events claiming a missing version")


if __name__ == "__main__":
    unittest.main()
