"""End-to-end tests of the audit trail (issue 4, audit/DESIGN.md): one
durable event per call, append-only tables, tamper evidence rooted in the
token, fail-closed writes, ListAuditEvents, two servers' chains, and the
lanes: one server writing audit_lanes + workers + 1 chains side by side
(queue lanes for reads and failures, change lanes for changes' events).

The tampering is done as the database superuser with triggers disabled
(session_replication_role = replica), which is exactly the power the
hash chain and the token's HMAC exist to defeat.
"""
import contextlib
import hashlib
import json
import os
import struct
import subprocess
import tempfile
import threading
import time
import unittest

import grpc

from tests.e2e import harness as h
from tests.e2e.harness import coffer, error_type, pb, token

AUDIT = "/coffer.v1.Audit/"


@contextlib.contextmanager
def audit_token():
    """A logged-in PyKCS11 session on the test token, from outside
    cofferd, as someone holding the PIN and a copy of the token could."""
    import PyKCS11
    lib = PyKCS11.PyKCS11Lib()
    lib.load(h.env("COFFER_TEST_MODULE"))
    slot = [x for x in lib.getSlotList(tokenPresent=True)
            if lib.getTokenInfo(x).label.strip() == h.env("COFFER_TEST_TOKEN")][0]
    sess = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
    try:
        with open(h.env("COFFER_TEST_PIN_FILE")) as f:
            sess.login(f.read().strip())
        yield sess
        sess.logout()
    finally:
        sess.closeSession()


def audit_key_objects(sess, version):
    """The token objects of ${version} of the audit key (version 1 has no
    CKA_ID, version N the ID "N")."""
    import PyKCS11
    want = b"" if version == 1 else str(version).encode()
    return [k for k in sess.findObjects([
        (PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY),
        (PyKCS11.CKA_LABEL, "coffer-audit")])
        if bytes(sess.getAttributeValue(k, [PyKCS11.CKA_ID])[0] or b"") == want]


def setUpModule():
    pb()


def row_hash(chain_id, seq, time_ms, strings, prev, params=None,
             transport=None, key_id=None):
    """audit/DESIGN.md's canonical encoding, written again independently:
    format v1 without request parameters, v2 (its magic, and the parameters
    after the outcome) with them; v3 (its magic, then the parameters, NULL
    or not, the transport and the access key id after the outcome) for an
    event that names its transport (or, edited, a key id alone)."""
    if transport is not None or key_id is not None:
        magic, tail = b"coffer-audit-v3\0", [params, transport, key_id]
    elif params is not None:
        magic, tail = b"coffer-audit-v2\0", [params]
    else:
        magic, tail = b"coffer-audit-v1\0", []
    b = magic + chain_id.encode() + struct.pack(">Qq", seq, time_ms)
    for s in strings + tail:
        if s is None:
            b += b"\0"
        else:
            e = s.encode()
            b += b"\1" + struct.pack(">I", len(e)) + e
    return hashlib.sha256(b + prev).digest()


class AuditCase(unittest.TestCase):

    def start(self, db=None, **kw):
        db = db or h.fresh_database("audit")
        s = h.Server(db, **kw).start()
        self.addCleanup(self.stop, s)
        return db, s

    def stop(self, s):
        rc = s.stop()
        if rc != 0:
            raise AssertionError(f"cofferd exited {rc}:\n{s.output()}")

    def call(self, s, op, **fields):
        sm, _ = pb()
        return s.call(op, getattr(sm, op + "Request")(**fields))

    def audit(self, s, op, **fields):
        sm, _ = pb()
        return s.call(op, getattr(sm, op + "Request")(**fields), service=AUDIT)[0]

    def verify(self, s):
        return self.audit(s, "VerifyAuditLog")

    def sql(self, db, q):
        return h.psql(h.admin(db), q)

    def tamper(self, db, q):
        h.psql(h.admin(db), "SET session_replication_role = replica; " + q)

    def own_chains(self, db, s):
        """${s}'s chains, each registered by it: one per queue lane and
        one per change lane (h.Server.audit_chain_count)."""
        chains = s.audit_chains(db)
        self.assertEqual(len(chains), s.audit_chain_count(), chains)
        return chains

    def last_seqs(self, db, chains):
        """{chain: its last seq} of ${chains}."""
        ids = ", ".join(f"'{c}'" for c in chains)
        out = self.sql(db, "SELECT chain_id, max(seq) FROM audit_events "
                       f"WHERE chain_id IN ({ids}) GROUP BY chain_id")
        return {l.split("|")[0]: int(l.split("|")[1]) for l in out.splitlines()}

    def only_broken(self, v, chain, n_chains):
        """${chain}'s report in VerifyAuditLog's ${v}, which must find it,
        and it alone of the ${n_chains} chains, broken."""
        self.assertFalse(v.ok, v)
        self.assertEqual(len(v.chains), n_chains, v)
        c = [c for c in v.chains if c.chain_id == chain][0]
        self.assertFalse(c.ok, v)
        self.assertTrue(all(o.ok for o in v.chains if o.chain_id != chain), v)
        return c

    def events(self, db, where="true"):
        out = self.sql(db, "SELECT json_agg(e ORDER BY chain_id, seq) FROM "
                       f"(SELECT chain_id, seq, request_id, principal, peer, operation, "
                       f"secret_arn, version_id, outcome FROM audit_events WHERE {where}) e")
        return json.loads(out) if out else []

    def busy(self, s, n=6):
        """A few calls of several kinds; returns the secret's name."""
        name = "audit-" + token()[:8]
        self.call(s, "CreateSecret", name=name, secret_string="v0",
                  client_request_token=token())
        for i in range(n):
            self.call(s, "PutSecretValue", secret_id=name, secret_string=f"v{i + 1}",
                      client_request_token=token())
            self.call(s, "GetSecretValue", secret_id=name)
        return name


class EventsTest(AuditCase):

    def test_every_call_leaves_one_event(self):
        db, s = self.start()
        sm, _ = pb()
        marker = "AUDIT-PLAINTEXT-" + token()
        ctoken = token()
        name = "ev-" + token()[:8]

        # A change, a read, a failure, a malformed request, an unknown method.
        r, md, _ = self.call(s, "CreateSecret", name=name, secret_string=marker,
                             client_request_token=ctoken)
        rid_create = md["coffer-request-id"]
        r2, md, _ = self.call(s, "GetSecretValue", secret_id=name)
        rid_get = md["coffer-request-id"]
        self.assertEqual(r2.secret_string, marker)
        with self.assertRaises(grpc.RpcError) as cm:
            self.call(s, "GetSecretValue", secret_id="no-such-" + token()[:8])
        rid_missing = dict(cm.exception.initial_metadata())["coffer-request-id"]
        with self.assertRaises(grpc.RpcError) as cm:
            s.call("GetSecretValue", b"\xff\xff\xff", raw=True)
        self.assertEqual(error_type(cm.exception), "InvalidParameterException")
        rid_bad = dict(cm.exception.initial_metadata())["coffer-request-id"]
        with self.assertRaises(grpc.RpcError) as cm:
            s.channel.unary_unary("/coffer.v1.SecretsManager/NoSuchOperation")(b"")
        rid_unknown = dict(cm.exception.initial_metadata())["coffer-request-id"]
        # Characters the batch insert must escape (quotes, backslashes, commas,
        # braces) and a non-ASCII one, in the one field a caller controls freely.
        odd = '/coffer.v1.SecretsManager/Odd"Op\\,{x}é'
        with self.assertRaises(grpc.RpcError) as cm:
            s.channel.unary_unary(odd)(b"")
        rid_odd = dict(cm.exception.initial_metadata())["coffer-request-id"]

        ev = {e["request_id"]: e for e in self.events(db)}
        self.assertEqual(len(ev), len(self.events(db)), "one event per request id")
        c = ev[rid_create]
        self.assertEqual((c["operation"], c["outcome"], c["version_id"]),
                         ("CreateSecret", "OK", ctoken))
        self.assertEqual(c["secret_arn"], r.arn)
        self.assertEqual(c["principal"], "anonymous")
        self.assertTrue(c["peer"].startswith("ipv4:127.0.0.1:"), c["peer"])
        g = ev[rid_get]
        self.assertEqual((g["operation"], g["outcome"], g["secret_arn"], g["version_id"]),
                         ("GetSecretValue", "OK", r.arn, ctoken))
        self.assertEqual((ev[rid_missing]["outcome"], ev[rid_missing]["secret_arn"]),
                         ("ResourceNotFoundException", None))
        self.assertEqual(ev[rid_bad]["outcome"], "InvalidParameterException")
        self.assertEqual((ev[rid_unknown]["operation"], ev[rid_unknown]["outcome"]),
                         ("/coffer.v1.SecretsManager/NoSuchOperation", "NotImplemented"))
        self.assertEqual(ev[rid_odd]["operation"], odd)
        self.assertTrue(self.verify(s).ok)

        # The value is nowhere in the audit tables.
        dump = subprocess.run(["pg_dump", "--data-only", "-t", "audit_*", h.admin(db)],
                              capture_output=True, check=True).stdout
        self.assertIn(rid_get.encode(), dump)
        self.assertNotIn(marker.encode(), dump)

    def test_batch_get_has_one_event_per_secret(self):
        db, s = self.start()
        a = self.call(s, "CreateSecret", name="b1-" + token()[:6], secret_string="1",
                      client_request_token=token())[0]
        b = self.call(s, "CreateSecret", name="b2-" + token()[:6], secret_string="2",
                      client_request_token=token())[0]
        _, md, _ = self.call(s, "BatchGetSecretValue",
                             secret_id_list=[a.arn, b.arn, "missing-" + token()[:6]])
        rows = self.events(db, f"request_id = '{md['coffer-request-id']}'")
        got = sorted((e["secret_arn"] or "", e["outcome"]) for e in rows)
        self.assertEqual(len(rows), 3)
        self.assertIn((a.arn, "OK"), got)
        self.assertIn((b.arn, "OK"), got)
        self.assertEqual(sum(1 for g in got if g[1] == "ResourceNotFoundException"), 1)

    def test_list_audit_events(self):
        db, s = self.start()
        name = self.busy(s, n=3)
        other = self.busy(s, n=1)
        # By name: 1 create + 3 puts + 3 gets.
        r = self.audit(s, "ListAuditEvents", secret_id=name)
        self.assertEqual(len(r.events), 7)
        self.assertTrue(all(e.secret_arn.split(":")[-1].startswith(name + "-") for e in r.events))
        self.assertEqual(len(r.events[0].hash), 32)
        arn = r.events[0].secret_arn
        self.assertEqual(len(self.audit(s, "ListAuditEvents", secret_id=arn).events), 7)
        r = self.audit(s, "ListAuditEvents", secret_id=name, operation="GetSecretValue")
        self.assertEqual(len(r.events), 3)
        self.assertEqual(len(self.audit(s, "ListAuditEvents", secret_id=other).events), 3)
        self.assertEqual(len(self.audit(s, "ListAuditEvents", principal="nobody").events), 0)
        fails = self.audit(s, "ListAuditEvents", outcome="ResourceNotFoundException")
        self.assertEqual(len(fails.events), 0)

        # Pages of two cover every event once, in time order.
        seen, tok = [], None
        while True:
            kw = {"max_results": 2}
            if tok:
                kw["next_token"] = tok
            page = self.audit(s, "ListAuditEvents", **kw)
            self.assertLessEqual(len(page.events), 2)
            seen += [(e.chain_id, e.sequence) for e in page.events]
            tok = page.next_token
            if not tok:
                break
        self.assertEqual(len(seen), len(set(seen)))
        self.assertGreaterEqual(len(seen), 12)

        # A time range.
        all_ev = self.audit(s, "ListAuditEvents", max_results=1000).events
        mid = all_ev[len(all_ev) // 2].event_date
        before = self.audit(s, "ListAuditEvents", end_date=mid, max_results=1000).events
        after = self.audit(s, "ListAuditEvents", start_date=mid, max_results=1000).events
        self.assertTrue(all(e.event_date < mid for e in before))
        self.assertTrue(all(e.event_date >= mid for e in after))

        sm, _ = pb()
        for kw, exc in (({"next_token": "00"}, "InvalidNextTokenException"),
                        ({"max_results": 0}, "ValidationException"),
                        ({"start_date": 10, "end_date": 5}, "InvalidParameterException")):
            with self.assertRaises(grpc.RpcError) as cm:
                self.audit(s, "ListAuditEvents", **kw)
            self.assertEqual(error_type(cm.exception), exc, kw)


class AppendOnlyTest(AuditCase):

    def test_role_and_triggers_refuse_changes(self):
        db, s = self.start()
        self.busy(s, n=1)
        part = self.sql(db, "SELECT tableoid::regclass FROM audit_events LIMIT 1")
        # cofferd's role: no privilege at all.
        for q in ("UPDATE audit_events SET outcome = 'OK'",
                  "DELETE FROM audit_events",
                  "TRUNCATE audit_events",
                  f"DELETE FROM {part}",
                  "DELETE FROM audit_chains"):
            with self.subTest(role="coffer_app", q=q):
                with self.assertRaisesRegex(RuntimeError, "permission denied"):
                    h.psql(db, q)
        # The owner (a superuser): the triggers refuse.
        for q in ("UPDATE audit_events SET outcome = 'OK'",
                  "DELETE FROM audit_events",
                  "TRUNCATE audit_events",
                  f"TRUNCATE {part}",
                  f"DELETE FROM {part}",
                  "UPDATE audit_chains SET server = 'x'",
                  "TRUNCATE audit_chains"):
            with self.subTest(role="postgres", q=q):
                with self.assertRaisesRegex(RuntimeError, "append-only"):
                    self.sql(db, q)
        self.assertTrue(self.verify(s).ok)


class TamperTest(AuditCase):
    """Each tampering on a fresh deployment; verify names the first broken link."""

    def deployment(self):
        """A server with some calls in each of its chains; the chain the
        test tampers with (the one with the most events) and its last seq."""
        db, s = self.start()
        # The queue lanes take the reads in turn, and the change lanes the
        # changes (one after the other, each takes the next lane): at
        # least 12 calls in each chain.
        self.busy(s, n=12 * s.audit_chain_count())
        chains = self.own_chains(db, s)
        lasts = self.last_seqs(db, chains)
        chain = max(chains, key=lambda c: (lasts[c], c))
        last = lasts[chain]
        self.assertGreaterEqual(min(lasts.values()), 12, lasts)
        v = self.verify(s)
        self.assertTrue(v.ok, v)
        self.assertEqual(sorted(c.chain_id for c in v.chains), chains)
        self.s_chains = chains
        return db, s, chain, last

    def broken(self, s, chain):
        """Verify finds ${chain} broken, and every other chain intact."""
        c = self.only_broken(self.verify(s), chain, len(self.s_chains))
        return c.broken_sequence, c.reason

    def test_delete_an_event(self):
        db, s, chain, last = self.deployment()
        self.tamper(db, f"DELETE FROM audit_events WHERE chain_id = '{chain}' AND seq = 5")
        seq, why = self.broken(s, chain)
        self.assertEqual(seq, 5)
        self.assertIn("missing", why)

    def test_edit_a_field(self):
        db, s, chain, last = self.deployment()
        self.tamper(db, "UPDATE audit_events SET principal = 'someone-else' "
                        f"WHERE chain_id = '{chain}' AND seq = 4")
        seq, why = self.broken(s, chain)
        self.assertEqual(seq, 4)
        self.assertIn("altered", why)

    def test_edit_and_rehash(self):
        """Recomputing the hash (and the next link) does not help: the HMAC."""
        db, s, chain, last = self.deployment()
        row = json.loads(self.sql(db, "SELECT row_to_json(e) FROM (SELECT *, "
                                  "(extract(epoch FROM event_time) * 1000)::bigint AS ms "
                                  f"FROM audit_events WHERE chain_id = '{chain}' AND seq = 6) e"))
        prev = bytes.fromhex(row["prev_hash"][2:])
        new = row_hash(chain, 6, row["ms"], [row["request_id"], row["principal"], row["peer"],
                       row["operation"], row["secret_arn"], row["version_id"], "AccessDeniedException"],
                       prev, row["request_params"], row["transport"], row["access_key_id"])
        self.tamper(db, f"UPDATE audit_events SET outcome = 'AccessDeniedException', "
                        f"hash = '\\x{new.hex()}' WHERE chain_id = '{chain}' AND seq = 6; "
                        f"UPDATE audit_events SET prev_hash = '\\x{new.hex()}' "
                        f"WHERE chain_id = '{chain}' AND seq = 7")
        seq, why = self.broken(s, chain)
        self.assertEqual(seq, 6)
        self.assertIn("HMAC", why)

    def test_reorder_two_events(self):
        db, s, chain, last = self.deployment()
        self.tamper(db, "UPDATE audit_events SET seq = CASE seq WHEN 7 THEN 8 ELSE 7 END "
                        f"WHERE chain_id = '{chain}' AND seq IN (7, 8)")
        seq, why = self.broken(s, chain)
        self.assertEqual(seq, 7)

    def test_truncate_the_tail(self):
        db, s, chain, last = self.deployment()
        # The tail, as of the last verify: its own event is the newest.
        last = int(self.sql(db, f"SELECT max(seq) FROM audit_events WHERE chain_id = '{chain}'"))
        self.tamper(db, f"DELETE FROM audit_events WHERE chain_id = '{chain}' "
                        f"AND seq > {last - 3}")
        seq, why = self.broken(s, chain)
        self.assertEqual(seq, last - 2)
        self.assertIn("cut off", why)

    def test_insert_a_forged_event(self):
        db, s, chain, last = self.deployment()
        last = int(self.sql(db, f"SELECT max(seq) FROM audit_events WHERE chain_id = '{chain}'"))
        prev = bytes.fromhex(self.sql(db, "SELECT encode(hash, 'hex') FROM audit_events "
                                      f"WHERE chain_id = '{chain}' AND seq = {last}"))
        ms = int(self.sql(db, "SELECT (extract(epoch FROM now()) * 1000)::bigint"))
        fields = [token(), "spiffe://corp/admin", "ipv4:127.0.0.1:1", "DeleteSecret",
                  None, None, "OK"]
        hsh = row_hash(chain, last + 1, ms, fields, prev)
        self.tamper(db, "INSERT INTO audit_events VALUES ("
                        f"'{chain}', {last + 1}, to_timestamp({ms} / 1000.0), "
                        f"'{fields[0]}', '{fields[1]}', '{fields[2]}', '{fields[3]}', NULL, "
                        f"NULL, 'OK', '\\x{prev.hex()}', '\\x{hsh.hex()}', "
                        f"'\\x{os.urandom(32).hex()}')")
        seq, why = self.broken(s, chain)
        self.assertEqual(seq, last + 1)

    def test_archived_head_with_anchor(self):
        """The operator's archiving (audit/DESIGN.md): an anchor at the last
        archived event keeps the rest verifiable; an invented one does not."""
        db, s, chain, last = self.deployment()
        # Without the key version the anchor's hmac was made under, the
        # procedure of before is refused at once (migration 0016).
        with self.assertRaisesRegex(RuntimeError, "mac_key_version"):
            self.sql(db, "INSERT INTO audit_anchors (chain_id, seq, hash, hmac, note) "
                         "SELECT chain_id, seq, hash, hmac, 'archived' FROM audit_events "
                         f"WHERE chain_id = '{chain}' AND seq = 5")
        self.sql(db, "INSERT INTO audit_anchors (chain_id, seq, hash, hmac, "
                     "mac_key_version, note) SELECT chain_id, seq, hash, hmac, "
                     "mac_key_version, 'archived' FROM audit_events "
                     f"WHERE chain_id = '{chain}' AND seq = 5")
        self.tamper(db, f"DELETE FROM audit_events WHERE chain_id = '{chain}' AND seq <= 5")
        v = self.verify(s)
        self.assertTrue(v.ok, v)
        c = [c for c in v.chains if c.chain_id == chain][0]
        self.assertTrue(c.anchored)
        self.assertEqual(c.first_sequence, 6)
        # Without the anchor the same database is broken...
        self.tamper(db, "DELETE FROM audit_anchors")
        seq, why = self.broken(s, chain)
        self.assertEqual(seq, 1)
        # ...and an anchor with a made-up HMAC does not help.
        self.sql(db, "INSERT INTO audit_anchors (chain_id, seq, hash, hmac, "
                     f"mac_key_version) SELECT chain_id, seq, hash, "
                     f"'\\x{os.urandom(32).hex()}', mac_key_version "
                     f"FROM audit_events WHERE chain_id = '{chain}' AND seq = 6")
        self.tamper(db, f"DELETE FROM audit_events WHERE chain_id = '{chain}' AND seq = 6")
        seq, why = self.broken(s, chain)
        self.assertEqual(seq, 7)
        self.assertIn("anchor", why)

    def test_delete_a_whole_chain(self):
        db, s, chain, last = self.deployment()
        self.tamper(db, f"DELETE FROM audit_events WHERE chain_id = '{chain}'")
        seq, why = self.broken(s, chain)
        self.assertEqual(seq, 1)


class TwoServersTest(AuditCase):

    def test_each_servers_chain_verifies(self):
        db, a = self.start()
        _, b = self.start(db)
        ca, cb = self.own_chains(db, a), self.own_chains(db, b)
        self.assertFalse(set(ca) & set(cb))
        name = self.busy(a, n=3)
        # Reads and changes on both servers, interleaved: enough of each
        # for more than 5 events in every queue lane's and every change
        # lane's chain.
        n = 6 * max(a.audit_chain_count(), b.audit_chain_count())
        rids = {a: [], b: []}
        for i in range(n):
            for s in (b, a):
                _, md, _ = self.call(s, "GetSecretValue", secret_id=name)
                rids[s].append(md["coffer-request-id"])
                _, md, _ = self.call(s, "PutSecretValue", secret_id=name,
                                     secret_string=f"{i}", client_request_token=token())
                rids[s].append(md["coffer-request-id"])
        # Each server's calls are in its own chains only.
        for s, chains in ((a, ca), (b, cb)):
            ids = ", ".join(f"'{r}'" for r in rids[s])
            where = self.sql(db, "SELECT DISTINCT chain_id FROM audit_events "
                                 f"WHERE request_id IN ({ids})").split()
            self.assertLessEqual(set(where), set(chains), where)
            self.assertEqual(self.sql(db, "SELECT count(*) FROM audit_events WHERE "
                                          f"request_id IN ({ids})"), str(2 * n))
        for s in (a, b):
            v = self.verify(s)
            self.assertTrue(v.ok, v)
            self.assertEqual(sorted(c.chain_id for c in v.chains), sorted(ca + cb))
            self.assertTrue(all(c.ok and c.head_in_token and c.events > 5 for c in v.chains), v)
        chains = self.sql(db, "SELECT count(DISTINCT chain_id) FROM audit_events")
        self.assertEqual(chains, str(len(ca) + len(cb)))


class FailClosedTest(AuditCase):

    def test_no_event_no_change_no_value(self):
        db, s = self.start()
        sm, _ = pb()
        name = self.busy(s, n=1)
        versions = self.sql(db, "SELECT count(*) FROM secret_versions")

        # The audit table refuses every insert from now on.
        self.sql(db, "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                     "$$ BEGIN RAISE EXCEPTION 'audit disk full'; END $$; "
                     "CREATE TRIGGER refuse BEFORE INSERT ON audit_events "
                     "FOR EACH ROW EXECUTE FUNCTION refuse()")
        failed = []
        for op, req in (("PutSecretValue", sm.PutSecretValueRequest(
                            secret_id=name, secret_string="lost", client_request_token=token())),
                        ("GetSecretValue", sm.GetSecretValueRequest(secret_id=name)),
                        ("DeleteSecret", sm.DeleteSecretRequest(secret_id=name)),
                        ("GetSecretValue", sm.GetSecretValueRequest(secret_id="nope"))):
            with self.assertRaises(grpc.RpcError) as cm:
                s.call(op, req)
            self.assertEqual(error_type(cm.exception), "ServiceUnavailable", op)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
            # The reason once, not its prefix twice.
            self.assertLessEqual(cm.exception.details().count(
                "could not record the audit event"), 1, cm.exception.details())
            failed.append(dict(cm.exception.initial_metadata())["coffer-request-id"])
        self.assertEqual(self.sql(db, "SELECT count(*) FROM secret_versions"), versions)
        self.assertEqual(self.sql(db, f"SELECT count(*) FROM secrets WHERE name = '{name}' "
                                      "AND deleted_date IS NULL"), "1")

        # Back to normal: the failures are on record, and the chains are
        # whole.  A queue lane records its failures again (a failed
        # change's too: its change lane wrote nothing, its failure went to
        # a queue lane) before its next batch: as many reads as lanes,
        # taken in turn, give every queue lane one.
        self.sql(db, "DROP TRIGGER refuse ON audit_events")
        for _ in range(s.audit_lanes()):
            self.assertEqual(self.call(s, "GetSecretValue",
                                       secret_id=name)[0].secret_string, "v1")
        for rid in failed:
            rows = self.events(db, f"request_id = '{rid}'")
            self.assertEqual([r["outcome"] for r in rows], ["ServiceUnavailable"], rid)
        # The change lanes whose appends were rolled back go on from their
        # last committed event: a change in each (they take turns).
        for i in range(s.change_lanes()):
            self.call(s, "PutSecretValue", secret_id=name, secret_string=f"after{i}",
                      client_request_token=token())
        v = self.verify(s)
        self.assertTrue(v.ok, v)
        self.assertEqual(len(v.chains), s.audit_chain_count(), v)


class CliAuditTest(AuditCase):
    """coffer list-audit-events, audit export, audit verify (online and offline)."""

    def report(self, r, rc, chain=None):
        """coffer audit verify's JSON report (exit status ${rc}); with
        ${chain}: that chain's part, which must be the one broken."""
        self.assertEqual(r.returncode, rc, r.stdout + r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(out["Ok"], chain is None, out)
        chains = {c["ChainId"]: c for c in out["Chains"]}
        self.assertEqual(len(chains), len(out["Chains"]), out)
        for cid, c in chains.items():
            self.assertEqual(c["Ok"], cid != chain, c)
        return out if chain is None else chains[chain]

    def test_cli(self):
        db, s = self.start()
        # The queue lanes take the reads in turn, the change lanes the
        # changes: at least 4 calls in each chain.
        n = 4 * s.audit_chain_count()
        name = self.busy(s, n=n)
        chains = self.own_chains(db, s)
        ep = s.endpoint

        r = coffer(ep, "list-audit-events", "--secret-id", name, "--operation",
                   "GetSecretValue")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(len(out["Events"]), n)
        e = out["Events"][0]
        self.assertEqual((e["Operation"], e["Outcome"]), ("GetSecretValue", "OK"))
        self.assertEqual(e["Transport"], "grpc")
        self.assertNotIn("AccessKeyId", e)
        self.assertRegex(e["EventDate"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
        r = coffer(ep, "list-audit-events", "--start-date", "2999-01-01T00:00:00Z")
        self.assertEqual(json.loads(r.stdout)["Events"], [], r.stderr)
        r = coffer(ep, "list-audit-events", "--max-items", "3")
        self.assertEqual(len(json.loads(r.stdout)["Events"]), 3, r.stderr)
        self.assertIn("NextToken", json.loads(r.stdout))

        # Online verify: OK, every chain of the server.
        r = coffer(ep, "audit", "verify")
        out = self.report(r, 0)
        self.assertEqual(sorted(c["ChainId"] for c in out["Chains"]), chains)

        # Export, then verify the file offline: hashes only, then with the token.
        d = tempfile.mkdtemp()
        path = os.path.join(d, "audit.jsonl")
        r = coffer(ep, "audit", "export", "--output-file", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(path) as f:
            lines = [json.loads(x) for x in f]
        self.assertGreaterEqual(len(lines), 8)
        self.assertEqual(set(lines[0]) >= {"ChainId", "Sequence", "EventDate", "Principal",
                                           "Operation", "Outcome", "Hash", "Hmac"}, True)
        self.assertEqual(sorted({x["ChainId"] for x in lines}), chains)
        r = coffer(ep, "audit", "verify", "--file", path)
        self.report(r, 0)
        self.assertIn("HMACs not", r.stderr)
        tok = {"COFFER_PKCS11_MODULE": h.env("COFFER_TEST_MODULE"),
               "COFFER_TOKEN_LABEL": h.env("COFFER_TEST_TOKEN"),
               "COFFER_PIN_FILE": h.env("COFFER_TEST_PIN_FILE")}
        r = coffer(ep, "audit", "verify", "--file", path, input_env=tok)
        out = self.report(r, 0)
        self.assertEqual(sorted(c["ChainId"] for c in out["Chains"]), chains)
        self.assertTrue(all(c["HmacChecked"] for c in out["Chains"]), out)

        # A tampered export, in one chain (the export interleaves the
        # chains in time order): an edited outcome, and a dropped line,
        # each in the middle of that chain.
        def longest(lines):
            by = {}
            for i, x in enumerate(lines):
                by.setdefault(x["ChainId"], []).append(i)
            c = max(sorted(by), key=lambda c: len(by[c]))
            return c, sorted(by[c], key=lambda i: lines[i]["Sequence"])
        chain, mine = longest(lines)
        self.assertGreaterEqual(len(mine), 5)
        edited = os.path.join(d, "edited.jsonl")
        with open(edited, "w") as f:
            f.writelines(json.dumps(dict(x, Outcome="AccessDeniedException")
                                    if i == mine[3] else x) + "\n"
                         for i, x in enumerate(lines))
        r = coffer(ep, "audit", "verify", "--file", edited)
        self.assertEqual(self.report(r, 1, chain)["BrokenSequence"],
                         lines[mine[3]]["Sequence"])
        # The offline check reads the transport too (format v3).
        self.assertEqual(lines[mine[1]].get("Transport"), "grpc", lines[mine[1]])
        with open(edited, "w") as f:
            f.writelines(json.dumps({k: v for k, v in x.items() if k != "Transport"}
                                    if i == mine[1] else x) + "\n"
                         for i, x in enumerate(lines))
        r = coffer(ep, "audit", "verify", "--file", edited)
        self.assertEqual(self.report(r, 1, chain)["BrokenSequence"],
                         lines[mine[1]]["Sequence"])
        dropped = os.path.join(d, "dropped.jsonl")
        with open(dropped, "w") as f:
            f.writelines(json.dumps(x) + "\n" for i, x in enumerate(lines)
                         if i != mine[2])
        r = coffer(ep, "audit", "verify", "--file", dropped)
        c = self.report(r, 1, chain)
        self.assertEqual(c["BrokenSequence"], lines[mine[2]]["Sequence"])
        self.assertIn("missing", r.stderr)

        # A forged line after the chain's last, whose hash is right but
        # whose HMAC is not: only the token can tell.
        last = lines[mine[-1]]
        forged = dict(last, Sequence=last["Sequence"] + 1, PrevHash=last["Hash"],
                      Operation="DeleteSecret", RequestId=token(), Hmac="00" * 32)
        forged["Hash"] = row_hash(forged["ChainId"], forged["Sequence"], forged["EventTime"],
                                  [forged["RequestId"], forged["Principal"], forged["Peer"],
                                   forged["Operation"], forged.get("SecretArn"),
                                   forged.get("VersionId"), forged["Outcome"]],
                                  bytes.fromhex(forged["PrevHash"]),
                                  forged.get("RequestParameters"), forged.get("Transport"),
                                  forged.get("AccessKeyId")).hex()
        with open(edited, "w") as f:
            f.writelines(json.dumps(x) + "\n" for x in lines + [forged])
        r = coffer(ep, "audit", "verify", "--file", edited)
        self.report(r, 0)
        r = coffer(ep, "audit", "verify", "--file", edited, input_env=tok)
        self.assertEqual(self.report(r, 1, chain)["BrokenSequence"], forged["Sequence"])
        self.assertIn("HMAC", r.stderr)

        # The database tampered with: coffer audit verify names the chain
        # and the row, and finds the other chains intact.
        self.tamper(db, f"UPDATE audit_events SET principal = 'mallory' "
                        f"WHERE chain_id = '{chain}' AND seq = 3")
        r = coffer(ep, "audit", "verify")
        self.assertEqual(self.report(r, 1, chain)["BrokenSequence"], 3)
        self.assertIn(f"audit chain {chain} is broken at event 3", r.stderr)


class RequestParametersTest(AuditCase):
    """Every event records what the caller asked for (issue 11, item 10):
    the request's non-secret members, covered by the hash; a failed or
    denied call is found by the name it asked for."""

    def params(self, db, rid):
        out = self.sql(db, f"SELECT request_params FROM audit_events WHERE request_id = '{rid}'")
        return json.loads(out)

    def test_missing_name_is_found_by_the_name_asked_for(self):
        db, s = self.start()
        missing = "probe-" + token()[:8]
        with self.assertRaises(grpc.RpcError) as cm:
            self.call(s, "GetSecretValue", secret_id=missing, version_stage="AWSPREVIOUS")
        self.assertEqual(error_type(cm.exception), "ResourceNotFoundException")
        batch_missing = "probe-batch-" + token()[:8]
        self.call(s, "BatchGetSecretValue", secret_id_list=[batch_missing])

        r = coffer(s.endpoint, "list-audit-events", "--secret-id", missing)
        self.assertEqual(r.returncode, 0, r.stderr)
        ev = json.loads(r.stdout)["Events"]
        self.assertEqual(len(ev), 1, ev)
        self.assertEqual((ev[0]["Operation"], ev[0]["Outcome"]),
                         ("GetSecretValue", "ResourceNotFoundException"))
        self.assertEqual(json.loads(ev[0]["RequestParameters"]),
                         {"SecretId": missing, "VersionStage": "AWSPREVIOUS"})
        # A BatchGetSecretValue item that failed, by its SecretId too.
        r = self.audit(s, "ListAuditEvents", secret_id=batch_missing)
        self.assertEqual([(e.operation, e.outcome) for e in r.events],
                         [("BatchGetSecretValue", "ResourceNotFoundException")])
        self.assertEqual(json.loads(r.events[0].request_parameters),
                         {"SecretIdList": [batch_missing]})
        self.assertTrue(self.verify(s).ok)

    def test_denied_call_is_found_with_its_principal(self):
        pki = h.Certs()
        self.addCleanup(pki.destroy)
        db, s = self.start(tls=pki)
        sm, _ = pb()
        beta = "spiffe://coffer.test/ns/prod/sa/beta"
        name = "guarded-" + token()[:8]
        probe = "probe-" + token()[:8]
        self.call(s, "CreateSecret", name=name, secret_string="guarded-value",
                  client_request_token=token())
        # beta may read one other secret only.
        doc = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
            "Resource": "arn:aws:secretsmanager:*:*:secret:elsewhere-*"}]})
        s.call("PutIdentityPolicy", sm.PutIdentityPolicyRequest(
            principal=beta, policy_name="p", policy_document=doc),
            service="/coffer.v1.IdentityPolicies/")
        ch = s.open_channel(pki.client("beta", beta))
        self.addCleanup(ch.close)
        get = ch.unary_unary("/coffer.v1.SecretsManager/GetSecretValue",
                             request_serializer=lambda m: m.SerializeToString(),
                             response_deserializer=sm.GetSecretValueResponse.FromString)
        for sid in (name, probe):
            with self.assertRaises(grpc.RpcError) as cm:
                get(sm.GetSecretValueRequest(secret_id=sid, version_id=token()), timeout=30)
            self.assertEqual(error_type(cm.exception), "AccessDeniedException", sid)

        for sid in (name, probe):
            r = self.audit(s, "ListAuditEvents", secret_id=sid, principal=beta)
            self.assertEqual(len(r.events), 1, (sid, r))
            e = r.events[0]
            self.assertEqual((e.operation, e.outcome), ("GetSecretValue", "AccessDeniedException"))
            p = json.loads(e.request_parameters)
            self.assertEqual(p["SecretId"], sid)
            self.assertEqual(set(p), {"SecretId", "VersionId"})

    def test_no_value_or_password_in_any_row(self):
        db, s = self.start()
        markers = {k: f"MARK{k.upper()}-" + token() for k in
                   ("create", "put", "update", "rotation", "policy", "description")}
        name = "params-" + token()[:8]
        ctoken = token()
        self.call(s, "CreateSecret", name=name, secret_string=markers["create"],
                  description=markers["description"], client_request_token=token())
        _, md, _ = self.call(s, "PutSecretValue", secret_id=name,
                             secret_string=markers["put"], client_request_token=ctoken,
                             version_stages=["STAGED"])
        rid_put = md["coffer-request-id"]
        self.call(s, "PutSecretValue", secret_id=name,
                  secret_binary=markers["put"].encode()[::-1], client_request_token=token())
        self.call(s, "UpdateSecret", secret_id=name, secret_string=markers["update"],
                  client_request_token=token())
        # A rotation token is a credential: never recorded, whatever the outcome.
        try:
            self.call(s, "PutSecretValue", secret_id=name, secret_string="x",
                      client_request_token=token(), rotation_token=markers["rotation"])
        except grpc.RpcError:
            pass
        policy = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Sid": markers["policy"], "Effect": "Allow",
            "Principal": {"AWS": "spiffe://coffer.test/x"},
            "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})
        try:
            self.call(s, "PutResourcePolicy", secret_id=name, resource_policy=policy)
        except grpc.RpcError:
            pass
        r, md, _ = self.call(s, "GetRandomPassword", password_length=40,
                             exclude_punctuation=True)
        rid_pw = md["coffer-request-id"]

        # What was asked is there...
        self.assertEqual(self.params(db, rid_put),
                         {"SecretId": name, "ClientRequestToken": ctoken,
                          "VersionStages": ["STAGED"]})
        self.assertEqual(self.params(db, rid_pw),
                         {"PasswordLength": 40, "ExcludePunctuation": True})
        # ... every call's parameters are one JSON object ...
        for p in self.sql(db, "SELECT request_params FROM audit_events WHERE "
                          "operation <> 'ServerStart'").splitlines():
            self.assertIsInstance(json.loads(p), dict)
        # ... and no value, password, token or document is, anywhere.
        dump = subprocess.run(["pg_dump", "--data-only", "-t", "audit_*", h.admin(db)],
                              capture_output=True, check=True).stdout
        self.assertIn(name.encode(), dump)
        for k, m in markers.items():
            self.assertNotIn(m.encode(), dump, k)
        self.assertNotIn(markers["put"].encode()[::-1], dump)
        self.assertNotIn(r.random_password.encode(), dump)
        self.assertTrue(self.verify(s).ok)

    def test_parameters_are_covered_by_the_hash(self):
        """Each chain mixes v1 (ServerStart) and v3 (calls, which name their
        transport) events; the independent encoder agrees with both; editing
        parameters or the transport breaks it."""
        db, s = self.start()
        # The queue lanes take the reads in turn, the change lanes the
        # changes: calls in every chain.
        self.busy(s, n=s.audit_chain_count())
        chains = self.own_chains(db, s)
        rows = json.loads(self.sql(db, "SELECT json_agg(e ORDER BY chain_id, seq) FROM "
                                   "(SELECT *, (extract(epoch FROM event_time) * 1000)"
                                   "::bigint AS ms FROM audit_events) e"))
        formats = {}
        for row in rows:
            got = row_hash(row["chain_id"], row["seq"], row["ms"],
                           [row["request_id"], row["principal"], row["peer"],
                            row["operation"], row["secret_arn"], row["version_id"],
                            row["outcome"]],
                           bytes.fromhex(row["prev_hash"][2:]), row["request_params"],
                           row["transport"], row["access_key_id"])
            self.assertEqual(got.hex(), row["hash"][2:], row)
            formats.setdefault(row["chain_id"], set()).add(
                "v1" if row["operation"] == "ServerStart" else row["transport"])
            if row["operation"] == "ServerStart":
                self.assertIsNone(row["request_params"], row)
                self.assertIsNone(row["transport"], row)
            self.assertIsNone(row["access_key_id"], row)
        self.assertEqual(sorted(formats), chains)
        for chain, f in formats.items():
            self.assertEqual(f, {"v1", "grpc"}, f"v1 and v3 in chain {chain}")
        self.assertTrue(self.verify(s).ok)

        get = [r for r in rows if r["operation"] == "GetSecretValue"][0]
        chain, seq = get["chain_id"], get["seq"]
        self.tamper(db, "UPDATE audit_events SET request_params = "
                        "'{\"SecretId\":\"something-else\"}' "
                        f"WHERE chain_id = '{chain}' AND seq = {seq}")
        c = self.only_broken(self.verify(s), chain, len(chains))
        self.assertEqual(c.broken_sequence, seq)
        self.assertIn("altered", c.reason)

        # The transport, stripped from another chain's call (v3 -> v2).
        other = [r for r in rows if r["transport"] is not None and r["chain_id"] != chain][0]
        self.tamper(db, "UPDATE audit_events SET transport = NULL WHERE "
                        f"chain_id = '{other['chain_id']}' AND seq = {other['seq']}")
        v = self.verify(s)
        broken = {c.chain_id: c for c in v.chains if not c.ok}
        self.assertEqual(sorted(broken), sorted([chain, other["chain_id"]]), v)
        self.assertEqual(broken[other["chain_id"]].broken_sequence, other["seq"])
        self.assertIn("altered", broken[other["chain_id"]].reason)


class LanesTest(AuditCase):
    """audit_lanes (audit/DESIGN.md, "Lanes and group commit"): one cofferd
    writes audit_lanes + workers + 1 chains side by side, each with its own
    ServerStart and ServerStop and its own head in the token.  audit_lanes
    queue lanes take the events of reads (and failures) in turn, one
    submission each; workers + 1 change lanes take the events of changes,
    each appended by the change in its own transaction, in the first free
    change lane after the last one used.  Verify checks each chain on its own."""

    LANES = 3

    def start_lanes(self, db=None):
        db, s = self.start(db, extra_env={"COFFER_AUDIT_LANES": str(self.LANES)})
        self.assertEqual(s.audit_lanes(), self.LANES)
        self.assertEqual(s.audit_chain_count(), self.LANES + s.change_lanes())
        return db, s

    def threads(self, s, threads, each, one):
        """Run one(sm, channel, t, i) for i < ${each} on each of ${threads}
        threads at once, each with its own channel; returns what the calls
        returned, in no particular order."""
        sm, _ = pb()
        out, errors, lock = [], [], threading.Lock()

        def run(t):
            ch = s.open_channel()
            try:
                for i in range(each):
                    r = one(sm, ch, t, i)
                    with lock:
                        out.append(r)
            except Exception as e:      # reported by the main thread
                with lock:
                    errors.append(repr(e))
            finally:
                ch.close()

        ts = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        self.assertEqual(errors, [])
        self.assertEqual(len(out), threads * each)
        return out

    @staticmethod
    def method(sm, ch, op):
        return ch.unary_unary(h.SERVICE + op,
                              request_serializer=lambda m: m.SerializeToString(),
                              response_deserializer=getattr(sm, op + "Response").FromString)

    def calls(self, s, name, threads=6, each=10):
        """threads x each audited calls, reads and changes, from several
        threads at once; returns {request id: operation}."""
        def one(sm, ch, t, i):
            if i % 3 == 2:
                _, c = self.method(sm, ch, "PutSecretValue").with_call(
                    sm.PutSecretValueRequest(secret_id=name, secret_string=f"t{t}-{i}",
                                             client_request_token=token()), timeout=30)
                op = "PutSecretValue"
            else:
                _, c = self.method(sm, ch, "GetSecretValue").with_call(
                    sm.GetSecretValueRequest(secret_id=name), timeout=30)
                op = "GetSecretValue"
            return dict(c.initial_metadata())["coffer-request-id"], op
        return dict(self.threads(s, threads, each, one))

    def chain_rows(self, db, chain):
        """A chain's events in seq order: (seq, principal, peer, operation,
        request id, outcome)."""
        out = self.sql(db, "SELECT seq, principal, peer, operation, request_id, outcome "
                       f"FROM audit_events WHERE chain_id = '{chain}' ORDER BY seq")
        return [(int(r[0]), *r[1:]) for r in (l.split("|") for l in out.splitlines())]

    def test_lanes(self):
        db, s = self.start_lanes()
        name = "lanes-" + token()[:8]
        _, md, _ = self.call(s, "CreateSecret", name=name, secret_string="v0",
                             client_request_token=token())
        ops = self.calls(s, name)
        ops[md["coffer-request-id"]] = "CreateSecret"
        rids = sorted(ops)

        # LANES + change lanes chains, all this server's, each begun by
        # ServerStart.
        chains = self.own_chains(db, s)
        n_chains = s.audit_chain_count()
        self.assertEqual(self.sql(db, "SELECT count(*) FROM audit_chains"), str(n_chains))
        self.assertEqual(self.sql(db, "SELECT count(DISTINCT chain_id) FROM audit_events"),
                         str(n_chains))
        rows = {c: self.chain_rows(db, c) for c in chains}
        calls = {}
        for c, r in rows.items():
            self.assertEqual(r[0][:4], (1, "cofferd", s.audit_server(), "ServerStart"), c)
            self.assertEqual([x[0] for x in r], list(range(1, len(r) + 1)), c)
            self.assertNotIn("ServerStart", [x[3] for x in r[1:]], c)
            calls[c] = [x for x in r if x[1] != "cofferd"]

        # Each call's event is in exactly one chain, once.  (The others:
        # the harness's health checks, while it waited for the server.)
        where = {}
        for c, x in calls.items():
            for e in x:
                where.setdefault(e[4], []).append(c)
        for rid in rids:
            self.assertEqual(len(where.get(rid, [])), 1, rid)
        health = [c for c, x in calls.items() for e in x if e[3] == "Health/Check"]
        self.assertEqual(len(where), len(rids) + len(health), where)

        # The reads went to the queue lanes, the changes to the change
        # lanes, none shared.  Every change lane has changes: the first
        # changes took a lane each (the first free
        # one after the last one used is a lane not used yet).
        reads = {where[r][0] for r in rids if ops[r] == "GetSecretValue"}
        changes = {where[r][0] for r in rids if ops[r] != "GetSecretValue"}
        self.assertEqual(len(reads), self.LANES, reads)
        self.assertEqual(len(changes), s.change_lanes(), changes)
        self.assertEqual(reads | changes, set(chains))
        for c in changes:
            self.assertTrue(all((x[3], x[5]) in (("CreateSecret", "OK"),
                                                 ("PutSecretValue", "OK"))
                                for x in calls[c]), calls[c])
        # Each read (and health check) is one submission and the queue
        # lanes take them in turn, so the queue chains' counts differ by
        # one at most.
        counts = sorted(len(calls[c]) for c in reads)
        self.assertTrue(all(x[3] in ("GetSecretValue", "Health/Check")
                            for c in reads for x in calls[c]))
        self.assertEqual(sum(counts), sum(1 for r in rids if ops[r] == "GetSecretValue")
                         + len(health))
        self.assertLessEqual(counts[-1] - counts[0], 1, counts)

        # Every chain verifies, and the token holds each one's head.
        v = self.verify(s)
        self.assertTrue(v.ok, v)
        self.assertEqual(sorted(c.chain_id for c in v.chains), chains)
        for c in v.chains:
            self.assertTrue(c.head_in_token, c)
            self.assertEqual(c.first_sequence, 1, c)
            self.assertGreaterEqual(c.events, len(rows[c.chain_id]), c)

        # A clean stop ends every chain, queue and change lanes' alike, with
        # ServerStop, whose head the token holds.
        self.stop(s)
        for c in chains:
            r = self.chain_rows(db, c)
            self.assertEqual(r[-1][1:4], ("cofferd", s.audit_server(), "ServerStop"), c)
            self.assertEqual([x[3] for x in r].count("ServerStop"), 1, c)
            self.assertEqual([x[0] for x in r], list(range(1, len(r) + 1)), c)

        # Another server (LANES lanes too) verifies the stopped one's chains.
        _, s2 = self.start_lanes(db)
        chains2 = self.own_chains(db, s2)
        v = self.verify(s2)
        self.assertTrue(v.ok, v)
        self.assertEqual(sorted(c.chain_id for c in v.chains), sorted(chains + chains2))
        for c in v.chains:
            if c.chain_id in chains:
                self.assertEqual(c.token_head_sequence, c.last_sequence, c)

        # The tail of one queue lane's chain and of one change lane's chain
        # cut off: those two chains are broken, and they alone.
        cut = {}
        for chain in (sorted(reads)[0], sorted(changes)[0]):
            last = int(self.sql(db, "SELECT max(seq) FROM audit_events WHERE "
                                    f"chain_id = '{chain}'"))
            self.tamper(db, f"DELETE FROM audit_events WHERE chain_id = '{chain}' "
                            f"AND seq > {last - 3}")
            cut[chain] = last
        v = self.verify(s2)
        self.assertFalse(v.ok, v)
        self.assertEqual(len(v.chains), s.audit_chain_count() + s2.audit_chain_count(), v)
        for c in v.chains:
            if c.chain_id not in cut:
                self.assertTrue(c.ok, c)
                continue
            self.assertFalse(c.ok, c)
            self.assertEqual(c.broken_sequence, cut[c.chain_id] - 2, c)
            self.assertIn("cut off", c.reason)
            self.assertEqual(c.token_head_sequence, cut[c.chain_id], c)

    def test_group_commit_waits_only_for_calls_on_their_way(self):
        """audit_batch_wait_us: under load a queue lane waits for the calls
        workers are serving before it commits, and for nothing else.  With
        the wait set to its maximum, a second, 8 callers x 24 calls at once (reads
        that succeed, reads that fail, listings served by the long pool)
        must share batches -- fewer commits than events -- and must not
        stall: a wait that did not end when the last call on its way had
        submitted (a miscounted call) costs a second per round of calls,
        over 20 s here (measured with audit_call_end not counting: 13 s for
        12 rounds; the whole test takes about a second when right).
        A lone caller afterwards never waits."""
        db, s = self.start(extra_env={"COFFER_AUDIT_LANES": "1",
                                      "COFFER_AUDIT_BATCH_WAIT_US": "1000000"})
        name = f"gc-{token()[:8]}"
        self.call(s, "CreateSecret", name=name, secret_string="v0",
                  client_request_token=token())

        def one(sm, ch, t, i):
            kind = (t + i) % 4
            try:
                if kind == 3:
                    _, c = self.method(sm, ch, "ListSecrets").with_call(
                        sm.ListSecretsRequest(), timeout=30)
                else:
                    _, c = self.method(sm, ch, "GetSecretValue").with_call(
                        sm.GetSecretValueRequest(
                            secret_id=name if kind < 2 else name + "-missing"),
                        timeout=30)
            except grpc.RpcError as e:
                self.assertEqual(error_type(e), "ResourceNotFoundException")
                c = e
            return dict(c.initial_metadata())["coffer-request-id"]
        start = time.monotonic()
        ids = self.threads(s, 8, 24, one)
        elapsed = time.monotonic() - start
        self.assertLess(elapsed, 10, "a lane waited for calls that had already "
                        "submitted (192 calls, %.1f s)" % elapsed)

        got = self.sql(db, "SELECT count(*), count(DISTINCT xmin::text) FROM "
                       "audit_events WHERE request_id IN (%s)"
                       % ", ".join(f"'{r}'" for r in ids))
        events, commits = map(int, got.split("|"))
        self.assertEqual(events, len(ids))
        self.assertLess(commits, events, "no two calls shared a batch")

        # Alone: each batch holds one call, so the next does not wait.
        start = time.monotonic()
        for _ in range(10):
            self.call(s, "GetSecretValue", secret_id=name)
        self.assertLess(time.monotonic() - start, 5, "a lone caller waited")
        v = self.verify(s)
        self.assertTrue(v.ok, v)

    def test_changes_commit_with_their_events(self):
        """Changes from more threads than there are change lanes, several
        on one secret at once: each change's event is in a change lane's
        chain, written in the change's own transaction (the xmin of its
        secret_versions row), one transaction per change; every chain
        verifies."""
        db, s = self.start_lanes()
        names = [f"lanes-ch{k}-{token()[:8]}" for k in range(4)]
        for n in names:
            self.call(s, "CreateSecret", name=n, secret_string="v0",
                      client_request_token=token())

        def one(sm, ch, t, i):
            tok = token()
            _, c = self.method(sm, ch, "PutSecretValue").with_call(
                sm.PutSecretValueRequest(secret_id=names[t % len(names)],
                                         secret_string=f"t{t}-{i}",
                                         client_request_token=tok), timeout=30)
            return dict(c.initial_metadata())["coffer-request-id"], tok
        puts = dict(self.threads(s, 8, 6, one))

        ids = ", ".join(f"'{r}'" for r in puts)
        out = self.sql(db, "SELECT e.request_id, e.version_id, e.outcome, e.chain_id, "
                       "e.xmin, v.xmin FROM audit_events e LEFT JOIN secret_versions v "
                       f"ON v.version_id = e.version_id WHERE e.request_id IN ({ids})")
        got = {}
        for line in out.splitlines():
            rid, ver, outcome, chain, exmin, vxmin = line.split("|")
            self.assertNotIn(rid, got, "two events for one change")
            got[rid] = (ver, outcome, chain, exmin, vxmin)
        self.assertEqual(sorted(got), sorted(puts))
        xmins = set()
        for rid, tok in puts.items():
            ver, outcome, chain, exmin, vxmin = got[rid]
            self.assertEqual((ver, outcome), (tok, "OK"), rid)
            # The change and its event: one transaction.
            self.assertEqual(exmin, vxmin, rid)
            xmins.add(exmin)
        # One transaction per change.
        self.assertEqual(len(xmins), len(puts))
        self.assertEqual(self.sql(db, "SELECT count(*) FROM secret_versions"),
                         str(len(puts) + len(names)))

        # The changes are in the change lanes' chains, every one of them;
        # the queue lanes' chains, which no read reached, hold their
        # ServerStart and the harness's health checks alone.
        chains = self.own_chains(db, s)
        changes = {g[2] for g in got.values()}
        self.assertEqual(len(changes), s.change_lanes(), changes)
        for c in set(chains) - changes:
            ops = [x[3] for x in self.chain_rows(db, c)]
            self.assertEqual(ops[0], "ServerStart", c)
            self.assertLessEqual(set(ops[1:]), {"Health/Check"}, c)

        v = self.verify(s)
        self.assertTrue(v.ok, v)
        self.assertEqual(sorted(c.chain_id for c in v.chains), chains)
        self.assertTrue(all(c.ok and c.head_in_token for c in v.chains), v)


class BatchHmacTest(AuditCase):
    """Issue 14: the token HMACs one event per batch (audit/DESIGN.md,
    "Tamper evidence").  Every event is chained and hashed; a queue lane
    signs its batch's last event (and a few others), whose HMAC covers the
    unsigned ones before it through prev_hash.  Verification proves the
    same things: a rewrite whose hmacs were set NULL is found, bounded
    parts end at signed events, archiving anchors at a signed event."""

    MAX_EVENTS = 7          # audit_verify_max_events: parts of ~7 events

    def start_batches(self, db=None):
        return self.start(db, extra_env={"COFFER_AUDIT_LANES": "1",
                                         "COFFER_AUDIT_VERIFY_MAX_EVENTS":
                                         str(self.MAX_EVENTS)})

    def concurrent_reads(self, s, name, threads=8, each=30):
        """threads x each GetSecretValue at once: batches of several."""
        sm, _ = pb()
        errors = []

        def run():
            ch = s.open_channel()
            get = ch.unary_unary(h.SERVICE + "GetSecretValue",
                                 request_serializer=lambda m: m.SerializeToString(),
                                 response_deserializer=sm.GetSecretValueResponse.FromString)
            try:
                for _ in range(each):
                    get(sm.GetSecretValueRequest(secret_id=name), timeout=30)
            except Exception as e:      # reported by the main thread
                errors.append(repr(e))
            finally:
                ch.close()

        ts = [threading.Thread(target=run) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        self.assertEqual(errors, [])

    def deployment(self):
        """A server whose queue lane wrote batches of several reads; its
        rows {chain: [(seq, signed, batch xmin, month, operation)]}."""
        db, s = self.start_batches()
        name = "batch-" + token()[:8]
        self.call(s, "CreateSecret", name=name, secret_string="v0",
                  client_request_token=token())
        for _ in range(3):
            self.concurrent_reads(s, name)
            if any(not signed for r in self.rows(db).values() for _, signed, *_ in r):
                break
        return db, s, name

    def rows(self, db):
        out = self.sql(db, "SELECT chain_id, seq, hmac IS NOT NULL, xmin::text, "
                       "to_char(event_time AT TIME ZONE 'UTC', 'YYYY-MM'), operation "
                       "FROM audit_events ORDER BY chain_id, seq")
        rows = {}
        for l in out.splitlines():
            c, seq, signed, xmin, month, op = l.split("|")
            rows.setdefault(c, []).append((int(seq), signed == "t", xmin, month, op))
        return rows

    def queue_chain(self, db, s):
        """The queue lane's chain (COFFER_AUDIT_LANES=1): the one with
        GetSecretValue events."""
        out = self.sql(db, "SELECT DISTINCT chain_id FROM audit_events "
                       "WHERE operation = 'GetSecretValue'")
        self.assertEqual(len(out.split()), 1, out)
        return out.strip()

    def row_json(self, db, chain, seq):
        return json.loads(self.sql(db, "SELECT row_to_json(e) FROM (SELECT *, "
                                   "(extract(epoch FROM event_time) * 1000)::bigint AS ms "
                                   f"FROM audit_events WHERE chain_id = '{chain}' "
                                   f"AND seq = {seq}) e"))

    def cli_verify(self, s, rc):
        """coffer audit verify (every part, joined): exit ${rc}, the report."""
        r = coffer(s.endpoint, "audit", "verify")
        self.assertEqual(r.returncode, rc, r.stdout + r.stderr)
        return json.loads(r.stdout)

    def verify_parts(self, s, db):
        """VerifyAuditLog followed to the end: every part ok, and every
        part cut short ends at a signed event."""
        tok, total, parts = None, 0, 0
        while True:
            r = self.audit(s, "VerifyAuditLog", **({"next_token": tok} if tok else {}))
            self.assertTrue(r.ok, r)
            parts += 1
            total += r.events
            # Past the bound by at most AUDIT_MAX_UNSIGNED (1023).
            self.assertLessEqual(r.events, self.MAX_EVENTS + 1023, r)
            if not r.next_token:
                return total, parts
            last = r.chains[-1]
            self.assertTrue(self.sql(db, "SELECT hmac IS NOT NULL FROM audit_events "
                                     f"WHERE chain_id = '{last.chain_id}' "
                                     f"AND seq = {last.last_sequence}") == "t", last)
            tok = r.next_token

    def test_batches_sign_their_last_event(self):
        db, s, name = self.deployment()
        rows = self.rows(db)
        chain = self.queue_chain(db, s)
        unsigned = [r for r in rows[chain] if not r[1]]
        self.assertTrue(unsigned, "no batch of several events: nothing unsigned")
        for c, r in rows.items():
            # Every chain's first event, and its last, is signed.
            self.assertTrue(r[0][1] and r[0][4] == "ServerStart", (c, r[0]))
            self.assertTrue(r[-1][1], (c, r[-1]))
            # Every batch (one transaction: one xmin) ends signed; before
            # its last, only a change of month (or the server's own
            # event) is signed.
            batches = {}
            for x in r:
                batches.setdefault(x[2], []).append(x)
            for b in batches.values():
                self.assertTrue(b[-1][1], (c, b))
                for x, nxt in zip(b, b[1:]):
                    if x[1]:
                        self.assertTrue(x[3] != nxt[3] or x[4] in
                                        ("ServerStart", "ServerStop"), (c, b))
            # Changes (one per transaction) are signed.
            self.assertTrue(all(x[1] for x in r if x[4] == "CreateSecret"), (c, r))
        # At most a batch's worth of unsigned events in a row.
        run = longest = 0
        for x in rows[chain]:
            run = 0 if x[1] else run + 1
            longest = max(longest, run)
        self.assertLessEqual(longest, 1023)

        # ListAuditEvents: no Hmac on an unsigned event.
        sm, _ = pb()
        seen = {True: 0, False: 0}
        tok = None
        while True:
            page = self.audit(s, "ListAuditEvents", max_results=1000,
                              **({"next_token": tok} if tok else {}))
            for e in page.events:
                seen[e.HasField("hmac")] += 1
                if e.HasField("hmac"):
                    self.assertEqual(len(e.hmac), 32)
            tok = page.next_token
            if not tok:
                break
        self.assertGreater(seen[False], 0, seen)

        # Verified online in bounded parts, each ending at a signed event,
        # and by coffer audit verify (which follows the NextTokens).
        total, parts = self.verify_parts(s, db)
        self.assertGreater(parts, 2)
        self.assertGreaterEqual(total, len(rows[chain]))
        r = coffer(s.endpoint, "audit", "verify")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = json.loads(r.stdout)
        c = [x for x in out["Chains"] if x["ChainId"] == chain][0]
        self.assertEqual((c["FirstSequence"], c["Events"]), (1, c["LastSequence"]), c)

        # The export omits Hmac on unsigned events; verified with the
        # token, each chain ends signed in the file.
        d = tempfile.mkdtemp()
        path = os.path.join(d, "audit.jsonl")
        r = coffer(s.endpoint, "audit", "export", "--output-file", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(path) as f:
            lines = [json.loads(x) for x in f]
        self.assertTrue(any("Hmac" not in x for x in lines))
        tok_env = {"COFFER_PKCS11_MODULE": h.env("COFFER_TEST_MODULE"),
                   "COFFER_TOKEN_LABEL": h.env("COFFER_TEST_TOKEN"),
                   "COFFER_PIN_FILE": h.env("COFFER_TEST_PIN_FILE")}
        r = coffer(s.endpoint, "audit", "verify", "--file", path, input_env=tok_env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # The file cut after an unsigned event: its tail is proven by no
        # HMAC, and verify says so.
        mine = sorted((x for x in lines if x["ChainId"] == chain),
                      key=lambda x: x["Sequence"])
        cut = [x["Sequence"] for x in mine if "Hmac" not in x][0]
        short = os.path.join(d, "short.jsonl")
        with open(short, "w") as f:
            f.writelines(json.dumps(x) + "\n" for x in lines
                         if x["ChainId"] != chain or x["Sequence"] <= cut)
        r = coffer(s.endpoint, "audit", "verify", "--file", short, input_env=tok_env)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("covered by no HMAC", r.stderr)

    def test_rewrite_and_unsign_is_found(self):
        """The database owner rewrites event k, recomputes the hashes from
        k on and sets every hmac from k on NULL: verify finds it, from the
        first event that no HMAC covers any more (k, or an unsigned event
        of k's batch before it).
        One genuine hmac set NULL, nothing else changed, is not a finding:
        the next signed event's HMAC still proves that event."""
        db, s, name = self.deployment()
        chain = self.queue_chain(db, s)
        r = self.rows(db)[chain]
        last = r[-1][0]
        # A signed event with a signed event after it, its hmac removed.
        signed = [x[0] for x in r if x[1] and 1 < x[0] < last]
        self.assertTrue(signed, r)
        m = signed[len(signed) // 2]
        self.tamper(db, f"UPDATE audit_events SET hmac = NULL "
                        f"WHERE chain_id = '{chain}' AND seq = {m}")
        self.cli_verify(s, 0)

        # Event k, unsigned, after m: rewritten, re-hashed to the end.
        r = self.rows(db)[chain]
        last = r[-1][0]
        k = [x[0] for x in r if not x[1] and x[0] > m][0]
        prev = bytes.fromhex(self.row_json(db, chain, k)["prev_hash"][2:])
        q = []
        for seq in range(k, last + 1):
            row = self.row_json(db, chain, seq)
            outcome = "AccessDeniedException" if seq == k else row["outcome"]
            new = row_hash(chain, seq, row["ms"], [row["request_id"], row["principal"],
                           row["peer"], row["operation"], row["secret_arn"],
                           row["version_id"], outcome], prev, row["request_params"],
                           row["transport"], row["access_key_id"])
            q.append(f"UPDATE audit_events SET outcome = '{outcome}', "
                     f"prev_hash = '\\x{prev.hex()}', hash = '\\x{new.hex()}', "
                     f"hmac = NULL WHERE chain_id = '{chain}' AND seq = {seq};")
            prev = new
        self.tamper(db, " ".join(q))
        out = self.cli_verify(s, 1)
        self.assertEqual([c["ChainId"] for c in out["Chains"] if not c["Ok"]], [chain], out)
        c = [c for c in out["Chains"] if c["ChainId"] == chain][0]
        # Named from the first event no HMAC covers any more: k, or the
        # genuine unsigned events of k's batch before it.
        self.assertEqual(c["BrokenSequence"],
                         max(x[0] for x in r if x[1] and x[0] < k) + 1, c)
        self.assertLessEqual(c["BrokenSequence"], k, c)
        self.assertIn(f"..{last} are covered by no HMAC", c["Reason"])

    def test_archive_anchors_at_a_signed_event(self):
        """The archiving procedure (audit/DESIGN.md): the anchor is the last
        signed event up to the cut; an unsigned one cannot be an anchor."""
        db, s, name = self.deployment()
        chain = self.queue_chain(db, s)
        r = self.rows(db)[chain]
        cut = [x[0] for x in r if not x[1]][0]
        # audit_anchors.hmac is NOT NULL: the old SQL at an unsigned event
        # is refused.
        with self.assertRaisesRegex(RuntimeError, "null value"):
            self.sql(db, "INSERT INTO audit_anchors (chain_id, seq, hash, hmac, "
                         "mac_key_version, note) SELECT chain_id, seq, hash, hmac, "
                         "mac_key_version, 'archived' FROM audit_events "
                         f"WHERE chain_id = '{chain}' AND seq = {cut}")
        # The procedure's SQL, with the month's partition standing for the
        # events up to the cut.
        self.sql(db, "INSERT INTO audit_anchors (chain_id, seq, hash, hmac, "
                     "mac_key_version, note) SELECT chain_id, seq, hash, hmac, "
                     "mac_key_version, 'archived' FROM audit_events WHERE "
                     "(chain_id, seq) IN (SELECT chain_id, max(seq) FROM audit_events "
                     f"WHERE chain_id = '{chain}' AND seq <= {cut} "
                     "AND hmac IS NOT NULL GROUP BY chain_id)")
        anchor = int(self.sql(db, "SELECT seq FROM audit_anchors "
                                  f"WHERE chain_id = '{chain}'"))
        self.assertLess(anchor, cut)
        self.tamper(db, f"DELETE FROM audit_events WHERE chain_id = '{chain}' "
                        f"AND seq <= {anchor}")
        self.verify_parts(s, db)
        out = self.cli_verify(s, 0)
        c = [c for c in out["Chains"] if c["ChainId"] == chain][0]
        self.assertTrue(c["Anchored"], c)
        self.assertEqual(c["FirstSequence"], anchor + 1)


class AuditKeyRotationTest(AuditCase):
    """rotate-audit-key (issue 16, item 5; audit/DESIGN.md "Audit key
    versions"): new events are HMAC'd under the new version, on this
    server at once and on another within about a second; every chain
    verifies across the change, online and offline; an event forged with
    the retired version (its HMAC genuine, made in the token as an
    attacker with an old token copy could) is still found; and an edited
    version is found."""

    B = "spiffe://coffer.test/ns/prod/sa/beta"

    def old_key_mac(self, version, data):
        """The HMAC of ${data} under ${version} of the audit key, made in
        the token from outside cofferd (PyKCS11), as someone holding the
        PIN and a copy of the token could."""
        import PyKCS11
        with audit_token() as sess:
            keys = audit_key_objects(sess, version)
            self.assertEqual(len(keys), 1, f"audit key version {version}")
            return bytes(sess.sign(keys[0], data,
                                   PyKCS11.Mechanism(PyKCS11.CKM_SHA256_HMAC, None)))

    def versions(self, db, chains):
        """{chain: [mac_key_version of each event, in seq order]}."""
        ids = ", ".join(f"'{c}'" for c in chains)
        out = self.sql(db, "SELECT chain_id, string_agg(mac_key_version::text, ',' "
                       f"ORDER BY seq) FROM audit_events WHERE chain_id IN ({ids}) "
                       "GROUP BY chain_id")
        return {l.split("|")[0]: [int(v) for v in l.split("|")[1].split(",")]
                for l in out.splitlines()}

    def test_rotation_verification_and_forgery(self):
        pki = h.Certs()
        self.addCleanup(pki.destroy)
        db, a = self.start(tls=pki)
        _, b = self.start(db, tls=pki)
        cli = {"COFFER_CA_BUNDLE": pki.ca + ".pem", "COFFER_CERT": a.admin_cert[0],
               "COFFER_KEY": a.admin_cert[1]}
        tok = {"COFFER_PKCS11_MODULE": h.env("COFFER_TEST_MODULE"),
               "COFFER_TOKEN_LABEL": h.env("COFFER_TEST_TOKEN"),
               "COFFER_PIN_FILE": h.env("COFFER_TEST_PIN_FILE")}
        chains_a, chains_b = self.own_chains(db, a), self.own_chains(db, b)
        calls = 4 * max(a.audit_chain_count(), b.audit_chain_count())
        self.busy(a, n=calls)
        self.busy(b, n=calls)
        # The token is the suite's: another test may have rotated it.
        old = max(max(v) for v in self.versions(db, chains_a + chains_b).values())

        # Only a principal allowed coffer:RotateAuditKey may; refused, it
        # is audited and nothing changes.
        beta = h.Caller(a, pki.client("beta", self.B))
        self.addCleanup(beta.close)
        with self.assertRaises(grpc.RpcError) as e:
            beta.call("RotateAuditKey", service=AUDIT)
        self.assertEqual(error_type(e.exception), "AccessDeniedException")
        r = coffer(a.url(), "rotate-audit-key", input_env=cli)
        self.assertEqual(r.returncode, 0, r.stderr)
        new = json.loads(r.stdout)["Version"]
        self.assertEqual(new, old + 1)
        self.assertEqual(sorted((e["principal"], e["outcome"]) for e in
                                self.events(db, "operation = 'RotateAuditKey'")),
                         sorted([(self.B, "AccessDeniedException"), (h.ADMIN, "OK")]))

        # Server a's chains move at once; b's within about a second.
        time.sleep(1.5)
        self.busy(a, n=calls)
        self.busy(b, n=calls)
        vs = self.versions(db, chains_a + chains_b)
        for c, v in vs.items():
            self.assertEqual(v, sorted(v), f"chain {c} went back: {v}")
            self.assertEqual(v[-1], new, f"chain {c} never moved: {v}")
            self.assertEqual(v[0], old, f"chain {c}: {v}")

        # Verified across the change: online on both servers, by the CLI,
        # and offline from an export checked against the token.
        for s in (a, b):
            v = self.verify(s)
            self.assertTrue(v.ok, v)
            self.assertEqual(len(v.chains), len(chains_a) + len(chains_b), v)
        r = coffer(a.url(), "audit", "verify", input_env=cli)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        d = tempfile.mkdtemp()
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", d]))
        path = os.path.join(d, "audit.jsonl")
        r = coffer(a.url(), "audit", "export", "--output-file", path, input_env=cli)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(path) as f:
            lines = [json.loads(x) for x in f]
        self.assertEqual({x["MacKeyVersion"] for x in lines}, {old, new})
        r = coffer(a.url(), "audit", "verify", "--file", path, input_env={**cli, **tok})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = json.loads(r.stdout)
        self.assertTrue(out["Ok"] and all(c["HmacChecked"] for c in out["Chains"]), out)
        # An export's MacKeyVersion is checked too: an old export without
        # it reads as version 1, which the later events' HMACs do not
        # verify under.
        stripped = os.path.join(d, "stripped.jsonl")
        with open(stripped, "w") as f:
            f.writelines(json.dumps({k: v for k, v in x.items() if k != "MacKeyVersion"})
                         + "\n" for x in lines)
        r = coffer(a.url(), "audit", "verify", "--file", stripped, input_env={**cli, **tok})
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("HMAC", r.stderr)

        # A forged event after the last of b's longest chain (b stopped, so
        # that no event of its own takes the same place), under the retired
        # version: its hash links and its HMAC is genuine, yet the chain
        # had moved on.
        self.stop(b)
        lasts = self.last_seqs(db, chains_b)
        chain = max(chains_b, key=lambda c: (lasts[c], c))
        last = lasts[chain]
        prev = bytes.fromhex(self.sql(db, "SELECT encode(hash, 'hex') FROM audit_events "
                                      f"WHERE chain_id = '{chain}' AND seq = {last}"))
        ms = int(self.sql(db, "SELECT (extract(epoch FROM now()) * 1000)::bigint"))
        fields = [token(), h.ADMIN, "ipv4:127.0.0.1:1", "DeleteSecret", None, None, "OK"]
        hsh = row_hash(chain, last + 1, ms, fields, prev)
        mac = self.old_key_mac(old, hsh)
        self.tamper(db, "INSERT INTO audit_events (chain_id, seq, event_time, request_id, "
                        "principal, peer, operation, outcome, prev_hash, hash, hmac, "
                        f"mac_key_version) VALUES ('{chain}', {last + 1}, "
                        f"to_timestamp({ms} / 1000.0), '{fields[0]}', '{fields[1]}', "
                        f"'{fields[2]}', '{fields[3]}', 'OK', '\\x{prev.hex()}', "
                        f"'\\x{hsh.hex()}', '\\x{mac.hex()}', {old})")
        c = self.only_broken(self.verify(a), chain, len(chains_a) + len(chains_b))
        self.assertEqual(c.broken_sequence, last + 1)
        self.assertIn(f"older than version {new}", c.reason)
        # The same forgery at the end of that chain in the export, checked
        # offline against the token.
        end = max((x for x in lines if x["ChainId"] == chain), key=lambda x: x["Sequence"])
        self.assertEqual(end["MacKeyVersion"], new)
        fhash = row_hash(chain, end["Sequence"] + 1, ms, fields, bytes.fromhex(end["Hash"]))
        forged = {"ChainId": chain, "Sequence": end["Sequence"] + 1, "EventTime": ms,
                  "RequestId": fields[0], "Principal": fields[1], "Peer": fields[2],
                  "Operation": fields[3], "Outcome": "OK", "PrevHash": end["Hash"],
                  "Hash": fhash.hex(), "Hmac": self.old_key_mac(old, fhash).hex(),
                  "MacKeyVersion": old}
        with open(path, "a") as f:
            f.write(json.dumps(forged) + "\n")
        r = coffer(a.url(), "audit", "verify", "--file", path, input_env={**cli, **tok})
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(f"event {forged['Sequence']} names version {old} of the audit key, "
                      f"older than version {new}", r.stderr)
        self.tamper(db, f"DELETE FROM audit_events WHERE chain_id = '{chain}' "
                        f"AND seq = {last + 1}")
        self.assertTrue(self.verify(a).ok)

        # An event's version edited: its HMAC no longer verifies.
        seq = self.versions(db, [chain])[chain].index(new) + 1
        self.tamper(db, f"UPDATE audit_events SET mac_key_version = {old} "
                        f"WHERE chain_id = '{chain}' AND seq = {seq}")
        c = self.only_broken(self.verify(a), chain, len(chains_a) + len(chains_b))
        self.assertEqual(c.broken_sequence, seq)
        self.assertIn(f"version {old} of the token's audit key", c.reason)


class AuditKeyBundleTest(AuditCase):
    """The auditor's bundle (issue 16, item 5; audit/DESIGN.md "The
    auditor's bundle"): with audit_key_recipients set, each new audit key
    version is escrowed for the auditor and then sealed (non-extractable,
    sensitive); export-audit-key-bundle holds the retired escrowed versions
    only, never the newest; an export is verified with the bundle and the
    auditor's private key with no token at all, and its HMACs really are
    checked; another private key, a version the bundle lacks and a caller
    without coffer:ExportAuditKeyBundle are refused; the rows cannot be
    changed; a version a crash left extractable is sealed at start; and a
    bad recipients file stops cofferd."""

    B = "spiffe://coffer.test/ns/prod/sa/beta"

    def key_flags(self, version):
        """(CKA_EXTRACTABLE, CKA_SENSITIVE) of ${version} of the audit key."""
        import PyKCS11
        with audit_token() as sess:
            keys = audit_key_objects(sess, version)
            self.assertEqual(len(keys), 1, f"audit key version {version}")
            ext, sens = sess.getAttributeValue(
                keys[0], [PyKCS11.CKA_EXTRACTABLE, PyKCS11.CKA_SENSITIVE])
            return bool(ext), bool(sens)

    def make_extractable_version(self, version):
        """A version left as a rotation that died before sealing it would
        leave it: generated extractable, never sealed."""
        import PyKCS11
        with audit_token() as sess:
            sess.generateKey([
                (PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY),
                (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_GENERIC_SECRET),
                (PyKCS11.CKA_VALUE_LEN, 32),
                (PyKCS11.CKA_TOKEN, True), (PyKCS11.CKA_PRIVATE, True),
                (PyKCS11.CKA_SENSITIVE, True), (PyKCS11.CKA_EXTRACTABLE, True),
                (PyKCS11.CKA_SIGN, True), (PyKCS11.CKA_VERIFY, True),
                (PyKCS11.CKA_LABEL, "coffer-audit"),
                (PyKCS11.CKA_ID, str(version).encode())],
                PyKCS11.Mechanism(PyKCS11.CKM_GENERIC_SECRET_KEY_GEN, None))

    def rsa(self, d, name, bits):
        key = os.path.join(d, name + ".pem")
        pub = os.path.join(d, name + ".pub")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                        f"rsa_keygen_bits:{bits}", "-out", key], check=True,
                       capture_output=True)
        subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub],
                       check=True, capture_output=True)
        der = subprocess.run(["openssl", "pkey", "-pubin", "-in", pub, "-outform", "DER"],
                             check=True, capture_output=True).stdout
        return key, pub, "sha256:" + hashlib.sha256(der).hexdigest()

    def offline(self, *args):
        """coffer audit verify offline, in an environment without any
        token variable (nor endpoint: nothing but the files)."""
        e = {k: v for k, v in os.environ.items()
             if not k.startswith("COFFER_")}
        return subprocess.run([os.path.join(h.BUILD, "coffer"), "audit", "verify", *args],
                              env=e, capture_output=True, text=True, timeout=60)

    def write(self, path, lines):
        with open(path, "w") as f:
            f.writelines(json.dumps(x) + "\n" for x in lines)

    def test_bundle(self):
        d = tempfile.mkdtemp()
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", d]))
        key, pub, rcpt = self.rsa(d, "auditor", 3072)
        other, _, _ = self.rsa(d, "other", 2048)
        pki = h.Certs()
        self.addCleanup(pki.destroy)
        db, a = self.start(tls=pki, extra_env={"COFFER_AUDIT_KEY_RECIPIENTS": pub})
        cli = {"COFFER_CA_BUNDLE": pki.ca + ".pem", "COFFER_CERT": a.admin_cert[0],
               "COFFER_KEY": a.admin_cert[1]}

        # Three rotations, calls before, between and after.
        made = []
        for _ in range(3):
            self.busy(a, n=3)
            r = coffer(a.url(), "rotate-audit-key", input_env=cli)
            self.assertEqual(r.returncode, 0, r.stderr)
            made.append(json.loads(r.stdout)["Version"])
        self.busy(a, n=3)
        self.assertEqual(made, [made[0], made[0] + 1, made[0] + 2])
        newest = made[-1]

        # Each escrowed, then sealed: sensitive and no longer extractable.
        for v in made:
            self.assertEqual(self.key_flags(v), (False, True), f"version {v}")
        rows = self.sql(db, "SELECT mac_key_version, recipient, mechanism, "
                        "octet_length(wrapped) FROM audit_key_escrow ORDER BY 1")
        self.assertEqual([l.split("|") for l in rows.splitlines()],
                         [[str(v), rcpt, "RSA-OAEP-SHA1", "384"] for v in made])

        # The bundle: the retired escrowed versions, never the newest.
        bundle = os.path.join(d, "bundle.json")
        r = coffer(a.url(), "export-audit-key-bundle", "--output-file", bundle,
                   input_env=cli)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(bundle) as f:
            b = json.load(f)
        self.assertEqual([x["MacKeyVersion"] for x in b["Versions"]], made[:2])
        self.assertTrue(all(x["Recipient"] == rcpt and x["Mechanism"] == "RSA-OAEP-SHA1"
                            and x["WrappedKey"] and x["CreatedDate"] and x["KeyCheck"]
                            for x in b["Versions"]), b)
        self.assertNotIn(newest, [x["MacKeyVersion"] for x in b["Versions"]])

        # An export of the events under the bundle's versions, each chain a
        # contiguous run (a chain only moves forward), verified offline
        # with no token: every HMAC checked.
        full = os.path.join(d, "all.jsonl")
        r = coffer(a.url(), "audit", "export", "--output-file", full, input_env=cli)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(full) as f:
            lines = [json.loads(x) for x in f]
        retired = [x for x in lines if x["MacKeyVersion"] in made[:2]]
        self.assertEqual({x["MacKeyVersion"] for x in retired}, set(made[:2]))
        path = os.path.join(d, "retired.jsonl")
        self.write(path, retired)
        r = self.offline("--file", path, "--key-bundle", bundle, "--private-key", key)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = json.loads(r.stdout)
        self.assertTrue(out["Ok"] and all(c["HmacChecked"] for c in out["Chains"]), out)
        self.assertEqual(out["Events"], len(retired))
        self.assertNotIn("no token given", r.stderr)

        # One event's Hmac changed (its hash and links intact): found.
        bad = [dict(x) for x in retired]
        victim = bad[len(bad) // 2]
        victim["Hmac"] = ("0" if victim["Hmac"][0] != "0" else "1") + victim["Hmac"][1:]
        self.write(path, bad)
        r = self.offline("--file", path, "--key-bundle", bundle, "--private-key", key)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(f"audit chain {victim['ChainId']} is broken at event "
                      f"{victim['Sequence']}: event {victim['Sequence']}'s HMAC "
                      f"does not verify", r.stderr)

        # Another auditor's private key: nothing in the bundle is for it.
        self.write(path, retired)
        r = self.offline("--file", path, "--key-bundle", bundle, "--private-key", other)
        self.assertEqual(r.returncode, 255, r.stdout + r.stderr)
        self.assertIn("none of its 2 versions is for the private key", r.stderr)
        # A bundle entry that is not what it says: refused, not skipped.
        forged = json.loads(json.dumps(b))
        forged["Versions"][0]["WrappedKey"] = forged["Versions"][1]["WrappedKey"][:-8] + "AAAAAAA="
        fpath = os.path.join(d, "forged.json")
        with open(fpath, "w") as f:
            json.dump(forged, f)
        r = self.offline("--file", path, "--key-bundle", fpath, "--private-key", key)
        self.assertEqual(r.returncode, 255, r.stdout + r.stderr)
        self.assertIn(f"could not unwrap version {made[0]}", r.stderr)

        # The whole export: events under the current version (and under
        # versions before recipients were set) are not in the bundle.
        r = self.offline("--file", full, "--key-bundle", bundle, "--private-key", key)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stderr, r"event \d+ names version \d+ of the audit key, "
                         r"which the bundle does not hold")
        cur = [x for x in lines if x["MacKeyVersion"] == newest]
        self.write(path, cur)
        r = self.offline("--file", path, "--key-bundle", bundle, "--private-key", key)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(f"names version {newest} of the audit key, which the bundle "
                      f"does not hold", r.stderr)

        # Only a principal allowed coffer:ExportAuditKeyBundle may; the
        # refusal is audited.
        beta = h.Caller(a, pki.client("beta", self.B))
        self.addCleanup(beta.close)
        with self.assertRaises(grpc.RpcError) as e:
            beta.call("ExportAuditKeyBundle", service=AUDIT)
        self.assertEqual(error_type(e.exception), "AccessDeniedException")
        h.until(lambda: len(self.events(db, "operation = 'ExportAuditKeyBundle'")) == 2,
                "both export events")
        self.assertEqual(sorted((x["principal"], x["outcome"]) for x in
                                self.events(db, "operation = 'ExportAuditKeyBundle'")),
                         sorted([(self.B, "AccessDeniedException"), (h.ADMIN, "OK")]))

        # The rows: coffer_app may not change them, nor may the owner.
        for q in ("UPDATE audit_key_escrow SET mechanism = 'x'",
                  "DELETE FROM audit_key_escrow", "TRUNCATE audit_key_escrow"):
            with self.subTest(role="coffer_app", q=q):
                with self.assertRaisesRegex(RuntimeError, "permission denied"):
                    h.psql(db, q)
            with self.subTest(role="postgres", q=q):
                with self.assertRaisesRegex(RuntimeError, "append-only"):
                    self.sql(db, q)
        # What coffer_app can do is insert a row of its own: a version the
        # token has not retired yet is never exported...
        h.psql(db, f"INSERT INTO audit_key_escrow VALUES ({newest + 50}, "
                   f"'{rcpt}', 'RSA-OAEP-SHA1', '\\x00')")
        r = coffer(a.url(), "export-audit-key-bundle", input_env=cli)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([x["MacKeyVersion"] for x in json.loads(r.stdout)["Versions"]],
                         made[:2])
        self.assertTrue(self.verify(a).ok)
        # ...and a row of its own for a retired version without escrow (made
        # before recipients were set), wrapping a key it chose to the
        # auditor's public key, is exported but refused by the auditor's
        # check: the token's key check does not match the key.
        mine = os.path.join(d, "mine.key")
        with open(mine, "wb") as f:
            f.write(os.urandom(32))
        wrapped = subprocess.run(["openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey", pub,
                                  "-pkeyopt", "rsa_padding_mode:oaep", "-in", mine],
                                 check=True, capture_output=True).stdout
        h.psql(db, f"INSERT INTO audit_key_escrow VALUES ({made[0] - 1}, "
                   f"'{rcpt}', 'RSA-OAEP-SHA1', '\\x{wrapped.hex()}')")
        r = coffer(a.url(), "export-audit-key-bundle", "--output-file", fpath, input_env=cli)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(fpath) as f:
            self.assertEqual([x["MacKeyVersion"] for x in json.load(f)["Versions"]],
                             [made[0] - 1] + made[:2])
        r = self.offline("--file", path, "--key-bundle", fpath, "--private-key", key)
        self.assertEqual(r.returncode, 255, r.stdout + r.stderr)
        self.assertIn(f"version {made[0] - 1} of the audit key unwraps to a key that is "
                      f"not the token's", r.stderr)

        # A version a crash left extractable is sealed when cofferd
        # starts, with a warning that it has no escrow.
        self.stop(a)
        self.make_extractable_version(newest + 1)
        self.assertEqual(self.key_flags(newest + 1), (True, True))
        s2 = h.Server(db, tls=pki, extra_env={"COFFER_AUDIT_KEY_RECIPIENTS": pub}).start()
        self.addCleanup(self.stop, s2)
        self.assertEqual(self.key_flags(newest + 1), (False, True))
        self.assertIn(f"version {newest + 1} of the audit key was left extractable",
                      s2.output())
        self.assertIn("it has no escrow", s2.output())

    def test_bad_recipients_stop_cofferd(self):
        d = tempfile.mkdtemp()
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", d]))
        small = os.path.join(d, "small.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                        "rsa_keygen_bits:1024", "-out", small], check=True,
                       capture_output=True)
        small_pub = os.path.join(d, "small.pub")
        subprocess.run(["openssl", "pkey", "-in", small, "-pubout", "-out", small_pub],
                       check=True, capture_output=True)
        db = h.fresh_database("audit")
        for path, why in ((small_pub, "fewer than 2048"),
                          (small, "are RSA public keys"),
                          (os.path.join(d, "missing.pem"), "could not read")):
            with self.subTest(why=why):
                s = h.Server(db, extra_env={"COFFER_AUDIT_KEY_RECIPIENTS": path})
                with self.assertRaisesRegex(RuntimeError, why):
                    s.start()
                s.stop()


class PurgeAuditTest(AuditCase):
    """The background purge is audited (issue 11, item 11)."""

    def test_purge_is_an_event(self):
        db, s = self.start(extra_env={"COFFER_PURGE_INTERVAL": "1"})
        gone = self.call(s, "CreateSecret", name="purged-" + token()[:8], secret_string="v",
                         client_request_token=token())[0]
        kept = self.call(s, "CreateSecret", name="kept-" + token()[:8], secret_string="v",
                         client_request_token=token())[0]
        for a in (gone.arn, kept.arn):
            self.call(s, "DeleteSecret", secret_id=a, recovery_window_in_days=7)
        self.sql(db, f"UPDATE secrets SET purge_after = now() - interval '1 s' "
                     f"WHERE arn = '{gone.arn}'")
        for _ in range(150):
            if self.sql(db, f"SELECT count(*) FROM secrets WHERE arn = '{gone.arn}'") == "0":
                break
            time.sleep(0.1)
        self.assertEqual(self.sql(db, f"SELECT count(*) FROM secrets WHERE arn = '{gone.arn}'"),
                         "0", "never purged")

        ev = self.events(db, "operation = 'PurgeSecret'")
        self.assertEqual([(e["principal"], e["secret_arn"], e["outcome"]) for e in ev],
                         [("cofferd", gone.arn, "OK")])
        r = self.audit(s, "ListAuditEvents", secret_id=gone.name)
        self.assertEqual([e.operation for e in r.events][-1], "PurgeSecret")
        self.assertTrue(self.verify(s).ok)


if __name__ == "__main__":
    unittest.main()
