"""Faults in the middle of key changes: UpdateSecret with a new KmsKeyId
reseals every version of a secret before its one transaction (engine
DESIGN.md, "Sealed first"), while Puts to the same secret race it.

Two faults, each with key changes and Puts running on several secrets:

- kill -9 of cofferd at a random moment, several rounds; a Put cut off
  by the kill is retried after the restart with its token and value;
- PostgreSQL stopped (immediate shutdown) and started again under a
  running cofferd, which must answer ServiceUnavailable meanwhile and
  serve again without a restart.

After each fault, for every secret:

- every version with a value is sealed under the key the secret names:
  a key change moved all of them or none, and no racing Put left a new
  version under the old key;
- every value written (the first ones, and every acknowledged or retried
  Put) reads back unchanged;
- the key the secret names is the one its last OK UpdateSecret event
  names, and every acknowledged key change has its OK event: the change
  and its event commit together or not at all;
- every version has its OK event and no OK event claims a missing one.

At the end the audit trail of every chain verifies.  Rounds:
COFFER_FAULTS_ROUNDS (default 10).
"""
import os
import random
import signal
import threading
import time
import unittest
import urllib.request

import grpc

from tests.e2e import harness as h
from tests.e2e.harness import error_type, pb, token

ROUNDS = int(os.environ.get("COFFER_FAULTS_ROUNDS", "10"))
SECRETS = 4
FIRST_VERSIONS = 6
# Puts per secret per round: enough to race the key changes; few enough
# that checking every version after each round stays quick (no version
# is pruned: PutSecretValue prunes only versions over a day old).
PUTS_PER_ROUND = 8
EK = "/coffer.v1.EncryptionKeys/"
AUDIT = "/coffer.v1.Audit/"
# As test_database: cofferd's own bound on a database call, and the most a
# call may wait for its answer during a database fault.
DB_TIMEOUT_S = 2
REQUEST_BOUND_S = 3 * DB_TIMEOUT_S + 3


def setUpModule():
    pb()


def label(kms_key_id):
    return kms_key_id[len("alias/"):]


class Racer(threading.Thread):
    """Key changes to one secret, back and forth between two keys, and
    Puts to it from a second channel, until stopped or the server dies.
    Records what was acknowledged, and what a dead server cut off."""

    def __init__(self, server, name, keys, server_alive):
        super().__init__(daemon=True)
        self.server, self.name, self.keys = server, name, keys
        self.server_alive = server_alive
        self.stop_ev = threading.Event()
        self.key_acks = []       # (kms_key_id, request id)
        self.put_acks = []       # (token, value)
        self.put_cut = None      # (token, value) the kill cut off
        self.outcomes = []       # every failure's exception name

    def run(self):
        puts = threading.Thread(target=self.put_loop, daemon=True)
        puts.start()
        try:
            self.key_loop()
        finally:
            puts.join(REQUEST_BOUND_S + 30)

    def done(self):
        return self.stop_ev.is_set() or not self.server_alive()

    def key_loop(self):
        sm, _ = pb()
        ch = self.server.open_channel()
        update = h.method(ch, "UpdateSecret")
        try:
            i = random.randrange(2)
            while not self.done():
                key = "alias/" + self.keys[i % 2]
                i += 1
                try:
                    _, call = update.with_call(sm.UpdateSecretRequest(
                        secret_id=self.name, kms_key_id=key),
                        timeout=REQUEST_BOUND_S + 20)
                    rid = dict(call.initial_metadata())["coffer-request-id"]
                    self.key_acks.append((key, rid))
                except grpc.RpcError as e:
                    if self.done():
                        return
                    self.outcomes.append(error_type(e) or e.code().name)
                    time.sleep(0.05)
        finally:
            ch.close()

    def put_loop(self):
        sm, _ = pb()
        ch = self.server.open_channel()
        put = h.method(ch, "PutSecretValue")
        try:
            n = 0
            while n < PUTS_PER_ROUND and not self.done():
                tok = token()
                value = f"{self.name}-{tok[:8]}"
                try:
                    put(sm.PutSecretValueRequest(secret_id=self.name,
                                                 secret_string=value,
                                                 client_request_token=tok),
                        timeout=REQUEST_BOUND_S + 20)
                    self.put_acks.append((tok, value))
                except grpc.RpcError as e:
                    if not self.server_alive():
                        self.put_cut = (tok, value)
                        return
                    # A database fault: the Put may have landed or not;
                    # it is retried below with the same token.
                    self.outcomes.append(error_type(e) or e.code().name)
                    self.put_cut = (tok, value)
                    return
                n += 1
                time.sleep(random.uniform(0, 0.1))
        finally:
            ch.close()


class KeyChangeFaultTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.cluster = h.Cluster()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.destroy()

    def setUp(self):
        self.metrics_port = h.free_port()
        self.server = h.Server(self.cluster.conninfo, workers=2, extra_env={
            "COFFER_DB_TIMEOUT": str(DB_TIMEOUT_S),
            "COFFER_STATEMENT_TIMEOUT_MS": "1000",
            "COFFER_METRICS_LISTEN": f"127.0.0.1:{self.metrics_port}"})
        self.processes = []
        self.killed = threading.Event()
        self.start()
        self.addCleanup(self.stop)
        sm, _ = pb()
        self.keys = ["kc-" + token()[:8], "kc-" + token()[:8]]
        for k in self.keys:
            self.server.call("CreateEncryptionKey", sm.CreateEncryptionKeyRequest(
                key_id=k), service=EK)
        self.values = {}         # name -> {version id: value}
        self.names = [f"keyfault-{token()[:8]}-{i}" for i in range(SECRETS)]
        for name in self.names:
            self.values[name] = {}
            for j in range(FIRST_VERSIONS):
                tok, value = token(), f"{name}-first-{j}"
                if j == 0:
                    self.server.call("CreateSecret", sm.CreateSecretRequest(
                        name=name, secret_string=value, client_request_token=tok,
                        kms_key_id="alias/" + self.keys[0]))
                else:
                    self.server.call("PutSecretValue", sm.PutSecretValueRequest(
                        secret_id=name, secret_string=value,
                        client_request_token=tok))
                self.values[name][tok] = value
        self.key_changes = 0
        self.sent_back = 0

    def start(self):
        self.server.start()
        self.processes.append(self.server.audit_server())

    def stop(self):
        rc = self.server.stop()
        if rc not in (0, None, -signal.SIGKILL):
            raise AssertionError(f"cofferd exited {rc}:\n{self.server.output()}")

    def sql(self, q):
        return h.psql(h.admin(self.cluster.conninfo), q)

    def alive(self):
        # Not proc.poll(): while this thread waits for the killed process,
        # Popen.poll() in another thread answers None (Popen's wait lock).
        return not self.killed.is_set()

    def racers(self):
        rs = [Racer(self.server, n, self.keys, self.alive) for n in self.names]
        for r in rs:
            r.start()
        return rs

    def sealed_first(self):
        """{held: count} of this process's key changes sealed first."""
        body = urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10).read().decode()
        out = {"true": 0, "false": 0}
        for line in body.splitlines():
            if line.startswith('coffer_put_sealed_first_total{call="UpdateSecret/KmsKeyId"'):
                held = line.split('held="')[1].split('"')[0]
                out[held] += int(float(line.split()[-1]))
        return out

    def settle(self, racers):
        """Retry the Puts a fault cut off, with their token and value, and
        record every value written."""
        sm, _ = pb()
        for r in racers:
            if r.put_cut is not None:
                tok, value = r.put_cut
                resp = self.server.call("PutSecretValue", sm.PutSecretValueRequest(
                    secret_id=r.name, secret_string=value,
                    client_request_token=tok))[0]
                self.assertEqual(resp.version_id, tok)
                r.put_acks.append(r.put_cut)
            self.values[r.name].update(dict(r.put_acks))
            self.key_changes += len(r.key_acks)

    def check(self, racers):
        sm, _ = pb()
        for r in racers:
            name = r.name
            kms = self.sql(f"SELECT kms_key_id FROM secrets WHERE name = '{name}'")
            sealed = self.sql(
                "SELECT v.version_id || ' ' || v.kek_label FROM secret_versions v "
                f"JOIN secrets s ON s.uuid = v.secret_uuid WHERE s.name = '{name}' "
                "AND v.value_type <> 0").splitlines()
            under = {line.split()[1] for line in sealed}
            self.assertEqual(under, {label(kms)},
                             f"{name}: versions under {under}, the secret names {kms}")
            self.assertEqual({line.split()[0] for line in sealed},
                             set(self.values[name]), name)
            for vid, value in self.values[name].items():
                got = self.server.call("GetSecretValue", sm.GetSecretValueRequest(
                    secret_id=name, version_id=vid))[0]
                self.assertEqual(got.secret_string, value, (name, vid))

            # The key it names is the last OK key change's, and every
            # acknowledged key change has its event.
            events = self.sql(
                "SELECT e.request_id || ' ' || (e.request_params::json->>'KmsKeyId') "
                "FROM audit_events e JOIN secrets s ON s.arn = e.secret_arn "
                f"WHERE s.name = '{name}' AND e.operation = 'UpdateSecret' "
                "AND e.outcome = 'OK' AND e.request_params::json->>'KmsKeyId' "
                "IS NOT NULL ORDER BY e.event_time").splitlines()
            if events:
                self.assertEqual(events[-1].split()[1], kms, name)
            else:
                self.assertEqual(kms, "alias/" + self.keys[0], name)
            rids = {line.split()[0] for line in events}
            for key, rid in r.key_acks:
                self.assertIn(rid, rids, f"{name}: no event for key change {rid}")

        orphans, claims = h.unpaired_versions(self.cluster.conninfo)
        self.assertEqual(orphans, set(), "versions without their event")
        self.assertEqual(claims, set(), "events claiming a missing version")

    def verify_audit(self):
        sm, _ = pb()
        v = self.server.call("VerifyAuditLog", sm.VerifyAuditLogRequest(),
                             service=AUDIT)[0]
        self.assertTrue(v.ok, v)
        # Every chain of every process verified, this test's processes
        # each with all of theirs (the cluster is the class's: the other
        # test's chains are there too).
        self.assertEqual(sorted(c.chain_id for c in v.chains),
                         sorted(self.sql("SELECT chain_id FROM audit_chains").split()))
        per = dict(line.split("|") for line in self.sql(
            "SELECT server, count(*) FROM audit_chains GROUP BY server").split())
        for p in self.processes:
            self.assertEqual(int(per[p]), self.server.audit_chain_count(), p)

    def test_kill_9_mid_key_changes(self):
        cut = 0
        for _ in range(ROUNDS):
            racers = self.racers()
            time.sleep(random.uniform(0.3, 1.5))
            seen = self.sealed_first()
            self.killed.set()
            self.server.proc.send_signal(signal.SIGKILL)
            self.server.proc.wait()
            for r in racers:
                r.join(REQUEST_BOUND_S + 60)
                self.assertFalse(r.is_alive(), "a client hung after the kill")
                self.assertEqual(r.outcomes, [], r.name)
            cut += sum(1 for r in racers if r.put_cut is not None)
            self.sent_back += seen["false"]
            self.server.stop()
            self.start()
            self.killed.clear()
            self.settle(racers)
            self.check(racers)
        self.verify_audit()
        # The rounds did what they are for: key changes were acknowledged,
        # and some had to redo their sealing under the lock because a Put
        # got in first.
        self.assertGreater(self.key_changes, ROUNDS)
        print(f"\n  {ROUNDS} kill -9 rounds: {self.key_changes} key changes "
              f"acknowledged, {self.sent_back} sent back to the lock before "
              f"the kills, {cut} Puts cut off and retried; every secret "
              "under one key")

    def test_database_stopped_mid_key_changes(self):
        racers = self.racers()
        time.sleep(0.5)
        self.cluster.pg("pg_ctl", "-D", self.cluster.data, "-m", "immediate", "stop")
        time.sleep(3)
        self.cluster.start()
        # Served again without a restart: a key change succeeds.
        sm, _ = pb()
        deadline = time.monotonic() + 60
        while True:
            try:
                self.server.call("UpdateSecret", sm.UpdateSecretRequest(
                    secret_id=self.names[0], description="after"), timeout=10)
                break
            except grpc.RpcError as e:
                self.assertEqual(error_type(e), "ServiceUnavailable")
                self.assertLess(time.monotonic(), deadline, "never recovered")
                time.sleep(0.1)
        time.sleep(0.5)
        for r in racers:
            r.stop_ev.set()
        for r in racers:
            r.join(REQUEST_BOUND_S + 60)
            self.assertFalse(r.is_alive())
        self.assertIsNone(self.server.proc.poll(), "cofferd died")
        failed = [o for r in racers for o in r.outcomes]
        self.assertTrue(failed, "the stopped database failed no call")
        self.assertEqual(set(failed), {"ServiceUnavailable"}, failed)
        self.settle(racers)
        self.check(racers)
        self.verify_audit()
        print(f"\n  database stopped 3 s: {self.key_changes} key changes "
              f"acknowledged, {len(failed)} calls ServiceUnavailable; "
              "every secret under one key")


if __name__ == "__main__":
    unittest.main()
