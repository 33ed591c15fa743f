"""Backup and restore, proven (issue 16, item 6), against real cofferd
processes, PostgreSQL clusters and SoftHSM tokens.

An "original" deployment (a cluster and a token of this test's own, never
the ones the other tests share) gets secrets of every kind, a tenant KEK
destroyed and a tenant KEK alive.  cofferd is stopped, and the database
(roles with pg_dumpall --roles-only, the database with pg_dump -Fc) and
the token directory (and its PIN file) are backed up as
docs/operations.md, "Backup and restore", says.  Then the original
cluster and token are destroyed, and each test restores into a brand-new
cluster and token directory and starts a new cofferd on them.

What is shown:
- a cold backup restores every version of every value exactly, the
  audit verifies (VerifyAuditLog and `coffer audit verify`), a key
  destroyed before the backup stays destroyed, a live tenant key's
  values read, and new writes work;
- a token backup older than the database (taken before a tenant key
  existed): that key's values answer DecryptionFailure, never a wrong
  value, the rest read, and the audit reports the chains written after
  the token backup as having no head in the token, but only those that
  span longer than audit_head_max_lag + 1 s;
- online backups (pg_dump while cofferd runs): the restore reads what
  the dump holds; with the token copied after the dump, the audit reports
  the chains that went on after it as cut at the dump's end; with the
  token copied before, the chains' tails after the token's heads as not
  anchored, where they span longer than audit_head_max_lag + 1 s.
"""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import grpc

from tests.e2e import harness as h
from tests.e2e.harness import error_type, token

EK = "/coffer.v1.EncryptionKeys/"
AUDIT = "/coffer.v1.Audit/"
PGBIN = "/usr/lib/postgresql/15/bin"
N = 50
# The restored servers' audit_head_max_lag: a chain of another server
# whose unanchored tail spans more than this plus 1 s is a finding
# (audit/DESIGN.md, "Verification"); run 2 below lasts longer than that.
HEAD_LAG = 1


def setUpModule():
    h.pb()


def pg(tool, cluster, *args):
    """A PostgreSQL client tool as the superuser on ${cluster}'s socket."""
    r = subprocess.run([os.path.join(PGBIN, tool), "-h", cluster.sock,
                        "-p", str(cluster.port), "-U", "postgres", *args],
                       capture_output=True, text=True, timeout=300)
    return r


def checked(r, what):
    if r.returncode != 0:
        raise RuntimeError(f"{what} exited {r.returncode}: {r.stderr}")
    return r


def call(s, op, service=h.SERVICE, **fields):
    sm, _ = h.pb()
    return s.call(op, getattr(sm, op + "Request")(**fields), service=service)[0]


def fails(s, op, service=h.SERVICE, **fields):
    """(exception name, message) of a call that must fail."""
    try:
        call(s, op, service=service, **fields)
    except grpc.RpcError as e:
        return error_type(e), e.details()
    raise AssertionError(f"{op} {fields} succeeded")


def value_of(r):
    """A GetSecretValue answer's value: ("s", text) or ("b", bytes)."""
    if r.HasField("secret_binary"):
        return ("b", r.secret_binary)
    return ("s", r.secret_string)


def copy_token(token, into):
    """The token backup: the token directory (SoftHSM's
    directories.tokendir) and the PIN file, taken while cofferd is
    stopped or idle (a head object copied mid-write could be torn)."""
    shutil.copytree(token.tokendir, os.path.join(into, "tokens"))
    shutil.copy2(token.pin_file, os.path.join(into, "pin"))


def destroy_key(s, db, label):
    """Schedule ${label}'s deletion and move its date to now, as if the
    7 days passed; wait until cofferd destroyed it in the token."""
    call(s, "ScheduleKeyDeletion", service=EK, key_id=label,
         pending_window_in_days=7)
    h.psql(h.admin(db), "UPDATE encryption_keys SET deletion_date = now() - "
           f"interval '1 second' WHERE label = '{label}'")
    h.until(lambda: call(s, "DescribeEncryptionKey", service=EK,
                         key_id=label).key_state == "Destroyed",
            f"{label} destroyed", timeout=60)


class BackupRestoreTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.backups = tempfile.mkdtemp(prefix="coffer-backup-")
        cls.addClassCleanup(shutil.rmtree, cls.backups, ignore_errors=True)
        orig = h.Cluster()
        cls.addClassCleanup(orig.destroy)
        tok = h.Token()
        cls.addClassCleanup(tok.destroy)
        db = orig.app()
        h.migrate_database(db)
        cls.values = {}      # name: [(version id, value)], oldest first
        cls.tenant_dead = "tenant-dead-" + token()[:8]
        cls.tenant_live = "tenant-live-" + token()[:8]

        # Run 1: the default KEK, N secrets (some binary, some with
        # several versions), a tenant key that is then destroyed.
        s1 = cls.original(db, tok)
        s1.init_token()
        s1.start()
        for i in range(N):
            name = f"bk/{i:02d}"
            for v in range(1 + i % 3):
                vid = token()
                if i % 5 == 0:
                    val = ("b", os.urandom(40) + bytes([0, 255, i]))
                    f = {"secret_binary": val[1]}
                else:
                    val = ("s", f"{name} v{v} {token()} \u00e9\u20ac")
                    f = {"secret_string": val[1]}
                if v == 0:
                    call(s1, "CreateSecret", name=name, client_request_token=vid, **f)
                else:
                    call(s1, "PutSecretValue", secret_id=name,
                         client_request_token=vid, **f)
                cls.values.setdefault(name, []).append((vid, val))
        call(s1, "CreateEncryptionKey", service=EK, key_id=cls.tenant_dead)
        call(s1, "CreateSecret", name="bk/shredded", secret_string="shredded",
             kms_key_id="alias/" + cls.tenant_dead, client_request_token=token())
        if call(s1, "GetSecretValue", secret_id="bk/shredded").secret_string != "shredded":
            raise AssertionError("bk/shredded does not read before its key is destroyed")
        destroy_key(s1, db, cls.tenant_dead)
        cls.stopped(s1)

        # A token backup taken now, before the live tenant key exists.
        cls.early = os.path.join(cls.backups, "early")
        os.mkdir(cls.early)
        copy_token(tok, cls.early)

        # Run 2: the live tenant key and its secret, and new versions of
        # default-key secrets, which the early token can still open.  It
        # lasts longer than the restored servers' bound on an unanchored
        # tail, so that its chains' missing heads in the early token are
        # a finding.
        t0 = time.monotonic()
        s2 = cls.original(db, tok).start()
        call(s2, "CreateEncryptionKey", service=EK, key_id=cls.tenant_live)
        for v in range(2):
            vid = token()
            val = ("s", f"tenant v{v} {token()}")
            if v == 0:
                call(s2, "CreateSecret", name="bk/tenant", secret_string=val[1],
                     kms_key_id="alias/" + cls.tenant_live, client_request_token=vid)
            else:
                call(s2, "PutSecretValue", secret_id="bk/tenant",
                     secret_string=val[1], client_request_token=vid)
            cls.values.setdefault("bk/tenant", []).append((vid, val))
        for name in ("bk/01", "bk/02"):
            vid = token()
            val = ("s", f"{name} run 2 {token()}")
            call(s2, "PutSecretValue", secret_id=name, secret_string=val[1],
                 client_request_token=vid)
            cls.values[name].append((vid, val))
        time.sleep(max(0.0, HEAD_LAG + 2.5 - (time.monotonic() - t0)))
        cls.stopped(s2)
        cls.run1_chains = s1.audit_chains(db)
        cls.run2_chains = s2.audit_chains(db)

        # The cold backup: cofferd stopped, so the database and the
        # token's audit heads are final and agree.
        cls.cold = os.path.join(cls.backups, "cold")
        cls.backup(orig, tok, cls.cold)

        # Run 3: online backups, the token copied before pg_dump and after.
        # Each copy is taken with cofferd idle for a second, so that it
        # holds the heads of every event committed until then.
        s3 = cls.original(db, tok).start()
        cls.online_values = {}
        cls.online_write(s3, "bk/online-before")
        time.sleep(1)
        cls.token_first = os.path.join(cls.backups, "token-first")
        os.mkdir(cls.token_first)
        cls.first_mark = h.audit_mark(db)
        copy_token(tok, cls.token_first)
        # Events after that token copy, over longer than the restored
        # servers' bound on an unanchored tail.
        for burst in range(2):
            cls.online_write(s3, f"bk/online-{burst}")
            for _ in range(2 * s3.audit_chain_count()):
                call(s3, "GetSecretValue", secret_id="bk/online-before")
            if burst == 0:
                time.sleep(HEAD_LAG + 2)
        cls.online = os.path.join(cls.backups, "online")
        os.mkdir(cls.online)
        checked(pg("pg_dumpall", orig, "--roles-only", "-f",
                   os.path.join(cls.online, "roles.sql")), "pg_dumpall")
        cls.dump_mark = h.audit_mark(db)
        checked(pg("pg_dump", orig, "-Fc", "-f",
                   os.path.join(cls.online, "coffer.dump"), "coffer"), "pg_dump")
        call(s3, "CreateSecret", name="bk/online-after", secret_string="after",
             client_request_token=token())
        for _ in range(2 * s3.audit_chain_count()):
            call(s3, "GetSecretValue", secret_id="bk/online-before")
        time.sleep(1)
        cls.token_mark = h.audit_mark(db)
        copy_token(tok, cls.online)
        cls.run3_chains = s3.audit_chains(db)
        cls.stopped(s3)

        # The original is gone: its cluster and its token.
        orig.destroy()
        tok.destroy()
        if os.path.exists(orig.dir) or os.path.exists(tok.dir):
            raise AssertionError("the original cluster or token is still there")

    @classmethod
    def original(cls, db, tok):
        s = h.Server(db, extra_env={**tok.env(), "COFFER_PURGE_INTERVAL": "1"})
        cls.addClassCleanup(s.stop)
        return s

    @classmethod
    def online_write(cls, s, name):
        val = ("s", f"{name} {token()}")
        call(s, "CreateSecret", name=name, secret_string=val[1],
             client_request_token=token())
        cls.online_values[name] = val

    @classmethod
    def stopped(cls, s):
        """Stop ${s}; a clean stop writes each chain's ServerStop and its
        last head in the token."""
        rc = s.stop()
        if rc != 0:
            raise AssertionError(f"cofferd exited {rc}:\n{s.output()}")

    @classmethod
    def backup(cls, cluster, tok, into):
        os.mkdir(into)
        checked(pg("pg_dumpall", cluster, "--roles-only", "-f",
                   os.path.join(into, "roles.sql")), "pg_dumpall")
        checked(pg("pg_dump", cluster, "-Fc", "-f",
                   os.path.join(into, "coffer.dump"), "coffer"), "pg_dump")
        copy_token(tok, into)

    def restore(self, dump, tokens):
        """A new cluster and token directory from the backup files in
        ${dump} (roles.sql, coffer.dump) and ${tokens} (tokens/, pin),
        and a cofferd started on them."""
        cluster = h.Cluster()
        self.addCleanup(cluster.destroy)
        # Roles are the cluster's, not the database's: pg_dump has none,
        # and its GRANTs to coffer_app need the role.  The roles file
        # also creates "postgres", which initdb made: the one error.
        r = checked(pg("psql", cluster, "-X", "-q", "-d", "postgres", "-f",
                       os.path.join(dump, "roles.sql")), "psql roles.sql")
        errors = [l for l in r.stderr.splitlines() if "ERROR" in l]
        self.assertEqual(len(errors), 1, r.stderr)
        self.assertIn('role "postgres" already exists', errors[0])
        checked(pg("pg_restore", cluster, "--exit-on-error", "-d", "coffer",
                   os.path.join(dump, "coffer.dump")), "pg_restore")
        tok = h.Token(init=False)
        self.addCleanup(tok.destroy)
        shutil.copytree(os.path.join(tokens, "tokens"), tok.tokendir,
                        dirs_exist_ok=True)
        shutil.copy2(os.path.join(tokens, "pin"), tok.pin_file)
        # No init-token: it would make a missing KEK anew, and the
        # restored token must hold the old one (cofferd refuses to start
        # without it).
        return cluster.app(), tok, self.serve(cluster.app(), tok, HEAD_LAG)

    def serve(self, db, tok, head_lag):
        s = h.Server(db, extra_env={
            **tok.env(), "COFFER_AUDIT_HEAD_MAX_LAG": str(head_lag)})
        self.addCleanup(s.stop)
        return s.start()

    def verify(self, s):
        """VerifyAuditLog, every part: {chain id: its status}, and ok."""
        v = call(s, "VerifyAuditLog", service=AUDIT)
        self.assertFalse(v.next_token, v)
        chains = {c.chain_id: c for c in v.chains}
        self.assertEqual(len(chains), len(v.chains), v)
        return v.ok, chains

    def cli_verify(self, s, rc, what):
        """`coffer audit verify` against ${s}, which must exit ${rc}; what
        it said is printed for the record (docs/operations.md quotes it)."""
        r = h.coffer(s.endpoint, "audit", "verify")
        self.assertEqual(r.returncode, rc, r.stdout + r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(out["Ok"], rc == 0, out)
        print(f"\n{what}: coffer audit verify exited {rc}, Ok {out['Ok']}, "
              f"{len(out['Chains'])} chains, {out['Events']} events\n{r.stderr}")
        return out

    def reads_back(self, s, skip=()):
        for name, versions in self.values.items():
            if name in skip:
                continue
            for vid, want in versions:
                r = call(s, "GetSecretValue", secret_id=name, version_id=vid)
                self.assertEqual(value_of(r), want, (name, vid))
            self.assertEqual(value_of(call(s, "GetSecretValue", secret_id=name)),
                             versions[-1][1], name)

    def test_cold_backup_restores_everything(self):
        db, _, s = self.restore(self.cold, self.cold)
        self.reads_back(s)
        self.assertEqual(call(s, "DescribeEncryptionKey", service=EK,
                              key_id=self.tenant_dead).key_state, "Destroyed")
        code, msg = fails(s, "GetSecretValue", secret_id="bk/shredded")
        self.assertEqual(code, "DecryptionFailure", msg)
        self.assertIn("destroyed", msg)
        self.assertEqual(call(s, "DescribeEncryptionKey", service=EK,
                              key_id=self.tenant_live).key_state, "Enabled")
        # Run 3 came after the cold backup.
        self.assertEqual(fails(s, "GetSecretValue", secret_id="bk/online-before")[0],
                         "ResourceNotFoundException")

        # The audit: every chain of the original's two runs whole, ending
        # where the token's head says, and this server's own.
        ok, chains = self.verify(s)
        self.assertTrue(ok, chains)
        registered = h.psql(h.admin(db), "SELECT chain_id FROM audit_chains").split()
        self.assertEqual(set(chains), set(registered))
        old = self.run1_chains + self.run2_chains
        self.assertTrue(set(old) <= set(chains), (old, chains))
        self.assertEqual(len(chains), len(old) + s.audit_chain_count())
        for c in old:
            self.assertTrue(chains[c].ok, chains[c])
            self.assertTrue(chains[c].head_in_token, chains[c])
            self.assertEqual(chains[c].token_head_sequence, chains[c].last_sequence,
                             chains[c])
        out = self.cli_verify(s, 0, "cold backup")
        self.assertEqual({c["ChainId"] for c in out["Chains"]}, set(chains))

        # New writes on the restored pair: a new version, a new secret, a
        # new tenant key in the restored token.
        vid = token()
        call(s, "PutSecretValue", secret_id="bk/03", secret_string="restored",
             client_request_token=vid)
        call(s, "CreateSecret", name="bk/new", secret_string="new",
             client_request_token=token())
        key = "tenant-new-" + token()[:8]
        call(s, "CreateEncryptionKey", service=EK, key_id=key)
        call(s, "CreateSecret", name="bk/new-tenant", secret_string="new tenant",
             kms_key_id="alias/" + key, client_request_token=token())
        call(s, "PutSecretValue", secret_id="bk/tenant", secret_string="tenant new",
             client_request_token=token())
        self.assertEqual(call(s, "GetSecretValue", secret_id="bk/03",
                              version_id=vid).secret_string, "restored")
        self.assertEqual(call(s, "GetSecretValue", secret_id="bk/new").secret_string,
                         "new")
        self.assertEqual(call(s, "GetSecretValue", secret_id="bk/new-tenant")
                         .secret_string, "new tenant")
        self.assertEqual(call(s, "GetSecretValue", secret_id="bk/tenant")
                         .secret_string, "tenant new")
        ok, chains = self.verify(s)
        self.assertTrue(ok, chains)

    def test_token_older_than_database(self):
        """The database from the cold backup, the token from before the
        live tenant key was made."""
        db, tok, s = self.restore(self.cold, self.early)
        self.reads_back(s, skip=("bk/tenant",))
        for vid, want in self.values["bk/tenant"]:
            code, msg = fails(s, "GetSecretValue", secret_id="bk/tenant",
                              version_id=vid)
            self.assertEqual(code, "DecryptionFailure", msg)
            self.assertIn("not found in the token", msg)
        self.assertEqual(fails(s, "GetSecretValue", secret_id="bk/shredded")[0],
                         "DecryptionFailure")

        # Run 2's chains have no head in the early token; run 1's end
        # where it says.
        ok, chains = self.verify(s)
        self.assertFalse(ok)
        for c in self.run1_chains:
            self.assertTrue(chains[c].ok, chains[c])
            self.assertEqual(chains[c].token_head_sequence, chains[c].last_sequence)
        for c in self.run2_chains:
            self.assertFalse(chains[c].ok, chains[c])
            self.assertFalse(chains[c].head_in_token, chains[c])
            self.assertIn("the token holds no head for this chain", chains[c].reason)
        broken = {c for c, st in chains.items() if not st.ok}
        self.assertEqual(broken, set(self.run2_chains))
        out = self.cli_verify(s, 1, "token older than the database")
        self.assertEqual({c["ChainId"] for c in out["Chains"] if not c["Ok"]}, broken)

        # With audit_head_max_lag at its default (5 s), a chain of another
        # server without a head in the token is taken for one killed
        # before its first head write while it spans no more than 6 s
        # (audit/DESIGN.md, "A head lost to a crash"): not a finding.  So
        # verify notices a token older than the database only once the
        # chains written since span longer than that.
        d = self.serve(db, tok, 5)
        ok, chains = self.verify(d)
        spans = {}
        for c in self.run2_chains:
            span = int(h.psql(h.admin(db), "SELECT (extract(epoch FROM "
                              "max(event_time) - min(event_time)) * 1000)::bigint "
                              f"FROM audit_events WHERE chain_id = '{c}'"))
            spans[c] = span
            self.assertEqual(chains[c].ok, span <= 6000, (span, chains[c]))
            print(f"old token, audit_head_max_lag 5: run 2's chain {c} spans "
                  f"{span} ms, ok: {chains[c].ok}")
        self.assertEqual(ok, all(x <= 6000 for x in spans.values()), chains)

    def test_online_token_after_dump(self):
        """pg_dump while cofferd ran, the token copied after more calls:
        the token's heads are ahead of the database."""
        db, _, s = self.restore(self.online, self.online)
        self.reads_back(s)
        for name, want in self.online_values.items():
            self.assertEqual(value_of(call(s, "GetSecretValue", secret_id=name)),
                             want, name)
        # Acknowledged after the dump, so not in it.
        self.assertEqual(fails(s, "GetSecretValue", secret_id="bk/online-after")[0],
                         "ResourceNotFoundException")

        # Each chain that went on after the dump: its events from the
        # dump's end to the token's head are missing.
        ok, chains = self.verify(s)
        self.assertFalse(ok)
        cut = {c for c in self.run3_chains
               if self.token_mark[c] > self.dump_mark[c]}
        self.assertTrue(cut)
        broken = {c for c, st in chains.items() if not st.ok}
        self.assertEqual(broken, cut)
        for c in cut:
            st = chains[c]
            self.assertEqual((st.last_sequence, st.token_head_sequence,
                              st.broken_sequence),
                             (self.dump_mark[c], self.token_mark[c],
                              self.dump_mark[c] + 1), st)
            self.assertIn(f"events {self.dump_mark[c] + 1}..{self.token_mark[c]} "
                          "are missing", st.reason)
        out = self.cli_verify(s, 1, "online, token copied after the dump")
        self.assertEqual({c["ChainId"] for c in out["Chains"] if not c["Ok"]}, cut)

    def test_online_token_before_dump(self):
        """The token copied while cofferd ran, pg_dump some seconds of
        calls later: the database is ahead of the token's heads."""
        db, _, s = self.restore(self.online, self.token_first)
        self.reads_back(s)
        for name, want in self.online_values.items():
            self.assertEqual(value_of(call(s, "GetSecretValue", secret_id=name)),
                             want, name)

        # A chain whose events after the token's head span longer than
        # the bound (audit_head_max_lag + 1 s) is reported as not anchored
        # from that head on; a shorter tail is taken for writes in flight.
        ok, chains = self.verify(s)
        self.assertFalse(ok)
        lagging = set()
        for c in self.run3_chains:
            head, last = self.first_mark[c], self.dump_mark[c]
            span = int(h.psql(h.admin(db), "SELECT coalesce((extract(epoch "
                              "FROM max(event_time) - min(event_time)) * 1000)"
                              "::bigint, 0) FROM audit_events WHERE chain_id = "
                              f"'{c}' AND seq > {head}"))
            if span > (HEAD_LAG + 1) * 1000:
                lagging.add(c)
                st = chains[c]
                self.assertEqual((st.last_sequence, st.token_head_sequence,
                                  st.broken_sequence), (last, head, head + 1), st)
                self.assertIn(f"events {head + 1}..{last} are not anchored in "
                              "the token", st.reason)
        self.assertTrue(lagging)
        self.assertEqual({c for c, st in chains.items() if not st.ok}, lagging)
        out = self.cli_verify(s, 1, "online, token copied before the dump")
        self.assertEqual({c["ChainId"] for c in out["Chains"] if not c["Ok"]}, lagging)


if __name__ == "__main__":
    unittest.main()
