"""End-to-end tests of KEK versions (issue 16): rotate-encryption-key, the
background rewrap inside the token, describe-encryption-key and
delete-encryption-key-version, against real cofferd processes, PostgreSQL
and SoftHSM.

What is shown: reads running throughout a rotation and its rewrap never
fail and never change; every envelope ends under the newest version, its
ciphertext untouched; a version is destroyed only once it wraps nothing;
kill -9 of the rewrapping server half-way, and the restart completes it;
two servers share the rewrap without moving any envelope twice; only a
principal allowed the actions may use them, and every call, and every
rewrap batch, is audited.
"""
import concurrent.futures
import json
import os
import random
import signal
import subprocess
import threading
import time
import unittest

import grpc

from tests.e2e import harness as h
from tests.e2e.harness import error_type, token

EK = "/coffer.v1.EncryptionKeys/"
AK = "/coffer.v1.AccessKeys/"
B = "spiffe://coffer.test/ns/prod/sa/beta"
# Envelopes made before the first rotation (issue 16 asks for 10,000).
N = int(os.environ.get("COFFER_KEK_TEST_VERSIONS", "10000"))


def setUpModule():
    h.pb()


class Caller(h.Caller):
    def fails(self, op, service=EK, **fields):
        try:
            self.call(op, service=service, **fields)
        except grpc.RpcError as e:
            return error_type(e), e.details()
        raise AssertionError(f"{op} {fields} succeeded")


def sql(db, q):
    return h.psql(h.admin(db), q)


def reads(c, name, want, **fields):
    """Whether ${c} reads ${want} as ${name}'s value now (a refusal is a
    no, for h.until: a key's state reaches a server a moment after the
    call that changed it, through NOTIFY)."""
    try:
        return c.call("GetSecretValue", secret_id=name, **fields).secret_string == want
    except grpc.RpcError:
        return False


def _allowed(c, key):
    """Whether ${c} may describe KEK ${key} now (policies reach a server
    through NOTIFY)."""
    try:
        c.call("DescribeEncryptionKey", service=EK, key_id=key)
        return True
    except grpc.RpcError:
        return False


def refused(c, name):
    """The exception ${c}'s read of ${name} fails with now; None if it
    succeeds (for h.until, as reads)."""
    try:
        c.call("GetSecretValue", secret_id=name)
        return None
    except grpc.RpcError as e:
        return error_type(e)


def versions_by_kek(db):
    """{kek_version: count} of stored secret versions with a value."""
    out = sql(db, "SELECT kek_version, count(*) FROM secret_versions WHERE "
              "value_type <> 0 GROUP BY 1 ORDER BY 1")
    return {int(l.split("|")[0]): int(l.split("|")[1]) for l in out.splitlines() if l}


class Readers(threading.Thread):
    """Reads random secrets until stopped; every failure and every wrong
    value is kept."""

    def __init__(self, server, names, value_of):
        super().__init__(daemon=True)
        self.server, self.names, self.value_of = server, names, value_of
        self.stop_ev = threading.Event()
        self.reads, self.bad = 0, []

    def run(self):
        c = Caller(self.server, self.server.admin_cert)
        try:
            while not self.stop_ev.is_set():
                n = random.choice(self.names)
                try:
                    v = c.call("GetSecretValue", secret_id=n).secret_string
                    if v != self.value_of(n):
                        self.bad.append((n, "wrong value"))
                except grpc.RpcError as e:
                    if self.server.proc.poll() is None:
                        self.bad.append((n, error_type(e), e.details()))
                    else:
                        time.sleep(0.1)
                self.reads += 1
        finally:
            c.close()


class KekCase(unittest.TestCase):

    def setUp(self):
        self.pki = h.Certs()
        self.addCleanup(self.pki.destroy)
        self.db = h.fresh_database("keks")
        self.servers = []
        self.kek = "test-kek-" + token()[:8]

    def tearDown(self):
        for s in self.servers:
            if s.proc is not None and s.proc.poll() is None:
                s.stop()

    def server(self, **env):
        """A server whose default KEK is this test's own: KEKs are in the
        token every test shares, and a version destroyed here must not be
        one the other tests' fresh databases still seal under."""
        s = h.Server(self.db, tls=self.pki, extra_env={
            "COFFER_ROTATION_INTERVAL": "1", "COFFER_KEK_LABEL": self.kek,
            **env})
        r = subprocess.run([os.path.join(h.BUILD, "cofferd"), "init-token"],
                           env=s.env, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.servers.append(s)
        return s.start()

    def admin(self, s):
        c = Caller(s, s.admin_cert)
        self.addCleanup(c.close)
        return c

    def make_secrets(self, s, n, prefix):
        """${n} secrets (value: their name), made by 8 callers at once."""
        names = [f"{prefix}/{i:05d}" for i in range(n)]

        def make(chunk):
            c = Caller(s, s.admin_cert)
            try:
                for name in chunk:
                    c.call("CreateSecret", name=name, secret_string=name,
                           client_request_token=token())
            finally:
                c.close()
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(make, [names[i::8] for i in range(8)]))
        return names

    def describe(self, c):
        r = c.call("DescribeEncryptionKey", service=EK, key_id=self.kek)
        return r, {v.version: v for v in r.versions}

    def until_rewrapped(self, c, timeout=180):
        deadline = time.time() + timeout
        while True:
            r, _ = self.describe(c)
            if not r.rewrap_pending or time.time() > deadline:
                return r
            time.sleep(0.5)


class RotationTest(KekCase):

    def test_rotate_rewrap_destroy_with_reads_throughout(self):
        s = self.server(COFFER_REWRAP_RATE="5000")
        admin = self.admin(s)
        names = self.make_secrets(s, N, "kek")
        admin.call("CreateAccessKey", service=AK, principal=B)
        before = sql(self.db, "SELECT encode(sha256(ciphertext), 'hex'), "
                     "encode(wrapped_dek, 'hex') FROM secret_versions v JOIN "
                     "secrets s ON s.uuid = v.secret_uuid WHERE s.name = "
                     f"'{names[0]}'").split("|")

        # Version 1, wrapping everything: N values and the access key.
        r, vs = self.describe(admin)
        self.assertEqual((r.key_id, r.current_version, r.rewrap_pending),
                         (self.kek, 1, False))
        self.assertEqual(vs[1].wrapped_version_count, N + 1)

        readers = Readers(s, names, lambda n: n)
        readers.start()
        mark = h.audit_mark(self.db)
        rot = admin.call("RotateEncryptionKey", service=EK, key_id=self.kek)
        self.assertEqual(rot.version, 2)
        # New values are sealed under version 2 at once.
        admin.call("CreateSecret", name="kek/after", secret_string="after",
                   client_request_token=token())
        self.assertEqual(sql(self.db, "SELECT v.kek_version FROM secret_versions v "
                             "JOIN secrets s ON s.uuid = v.secret_uuid WHERE "
                             "s.name = 'kek/after'"), "2")
        r = self.until_rewrapped(admin)
        time.sleep(1)
        readers.stop_ev.set()
        readers.join(60)
        self.assertEqual(readers.bad, [])
        self.assertGreater(readers.reads, 0)
        self.assertFalse(r.rewrap_pending)

        # Every envelope under version 2, each ciphertext as it was.
        self.assertEqual(versions_by_kek(self.db), {2: N + 1})
        self.assertEqual(sql(self.db, "SELECT count(*) FROM access_keys WHERE "
                             "kek_version <> 2"), "0")
        after = sql(self.db, "SELECT encode(sha256(ciphertext), 'hex'), "
                    "encode(wrapped_dek, 'hex') FROM secret_versions v JOIN "
                    "secrets s ON s.uuid = v.secret_uuid WHERE s.name = "
                    f"'{names[0]}'").split("|")
        self.assertEqual(after[0], before[0])
        self.assertNotEqual(after[1], before[1])
        _, vs = self.describe(admin)
        self.assertEqual((vs[1].wrapped_version_count, vs[2].wrapped_version_count),
                         (0, N + 2))

        # The current version is not destroyed; the old one is, once.
        self.assertEqual(admin.fails("DeleteEncryptionKeyVersion", key_id=self.kek,
                                     version=2)[0], "InvalidRequestException")
        admin.call("DeleteEncryptionKeyVersion", service=EK, key_id=self.kek, version=1)
        _, vs = self.describe(admin)
        self.assertTrue(vs[1].HasField("destroyed_date"))
        self.assertEqual(admin.fails("DeleteEncryptionKeyVersion", key_id=self.kek,
                                     version=1)[0], "ResourceNotFoundException")
        for n in random.sample(names, 50):
            self.assertEqual(admin.call("GetSecretValue", service=h.SERVICE,
                                        secret_id=n).secret_string, n)

        # Audited: the rotation and the destruction by the admin, the
        # batches by cofferd, adding up to every envelope once.
        rows = sql(self.db, "SELECT principal, operation, outcome, "
                   "coalesce(request_params, '') FROM audit_events WHERE "
                   + h.audit_after(mark) + " AND operation IN "
                   "('RotateEncryptionKey', 'RewrapDataKeys', "
                   "'DeleteEncryptionKeyVersion') ORDER BY " + h.AUDIT_ORDER)
        rows = [l.split("|") for l in rows.splitlines()]
        self.assertIn([h.ADMIN, "RotateEncryptionKey", "OK", '{"KeyId":"%s"}' % self.kek],
                      rows)
        self.assertIn([h.ADMIN, "DeleteEncryptionKeyVersion", "OK",
                       '{"KeyId":"%s","Version":1}' % self.kek], rows)
        moved = sum(json.loads(r[3])["Count"] for r in rows
                    if r[1] == "RewrapDataKeys" and r[2] == "OK")
        self.assertEqual(moved, N + 1)
        self.assertTrue(all(r[0] == "cofferd" for r in rows if r[1] == "RewrapDataKeys"))
        v = h.coffer(s.url(), "audit", "verify", input_env=self.cli_env(s))
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)

    def cli_env(self, s):
        return {"COFFER_CA_BUNDLE": self.pki.ca + ".pem",
                "COFFER_CERT": s.admin_cert[0], "COFFER_KEY": s.admin_cert[1]}

    def test_rights_and_bad_input(self):
        s = self.server()
        admin = self.admin(s)
        beta = Caller(s, self.pki.client("beta", B))
        self.addCleanup(beta.close)
        for op, f in (("RotateEncryptionKey", {"key_id": self.kek}),
                      ("DescribeEncryptionKey", {"key_id": self.kek}),
                      ("DeleteEncryptionKeyVersion", {"key_id": self.kek, "version": 1})):
            with self.subTest(op=op):
                self.assertEqual(beta.fails(op, **f)[0], "AccessDeniedException")
        self.assertEqual(admin.fails("RotateEncryptionKey", key_id="no-such-kek")[0],
                         "ResourceNotFoundException")
        # A tenant's administrator: the actions on that tenant's key's
        # ARN (KMS's alias ARN) and no other key; "*" is every key.
        tenant = "tenant-" + token()[:8]
        admin.call("CreateEncryptionKey", service=EK, key_id=tenant)
        arn = f"arn:aws:kms:local-1:000000000000:alias/{tenant}"
        admin.call("PutIdentityPolicy", service="/coffer.v1.IdentityPolicies/", principal=B,
                   policy_name="tenant-keys", policy_document=json.dumps({
                       "Version": "2012-10-17", "Statement": [{
                           "Effect": "Allow",
                           "Action": ["coffer:RotateEncryptionKey",
                                      "coffer:DescribeEncryptionKey"],
                           "Resource": arn}]}))
        h.until(lambda: _allowed(beta, tenant), "the policy never took effect")
        self.assertEqual(beta.call("RotateEncryptionKey", service=EK,
                                   key_id="alias/" + tenant).version, 2)
        code, msg = beta.fails("RotateEncryptionKey", key_id=self.kek)
        self.assertEqual(code, "AccessDeniedException")
        self.assertIn(f"alias/{self.kek}", msg)
        self.assertEqual(beta.fails("ScheduleKeyDeletion", key_id=tenant,
                                    pending_window_in_days=7)[0],
                         "AccessDeniedException")
        # Bad input is told before rights (its syntax is no secret).
        self.assertEqual(beta.fails("RotateEncryptionKey", key_id="bad\"id")[0],
                         "ValidationException")
        self.assertEqual(admin.fails("DescribeEncryptionKey")[0], "ValidationException")
        self.assertEqual(admin.fails("DeleteEncryptionKeyVersion", key_id=self.kek)[0],
                         "ValidationException")
        self.assertEqual(admin.fails("DeleteEncryptionKeyVersion", key_id=self.kek,
                                     version=0)[0], "ValidationException")
        self.assertEqual(admin.fails("DeleteEncryptionKeyVersion", key_id=self.kek,
                                     version=7)[0], "ResourceNotFoundException")
        # The CLI, as an operator runs it.
        env = RotationTest.cli_env(self, s)
        r = h.coffer(s.url(), "rotate-encryption-key", "--key-id",
                     "alias/" + self.kek, input_env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), {"KeyId": "alias/" + self.kek, "Version": 2})
        r = h.coffer(s.url(), "describe-encryption-key", "--key-id", self.kek,
                     input_env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        d = json.loads(r.stdout)
        self.assertEqual((d["KeyId"], d["CurrentVersion"]), (self.kek, 2))
        self.assertEqual([v["Version"] for v in d["Versions"]], [1, 2])
        self.assertIn("WrappedVersionCount", d["Versions"][0])
        self.assertIn("RewrapPending", d)


class KeyUseRightsTest(KekCase):
    """Sealing under a key other than the default needs kms:GenerateDataKey
    on its ARN, as a customer managed key does in AWS: a caller who may
    create secrets cannot put them under another tenant's key, nor learn
    which keys exist."""

    def test_custom_key_needs_generate_data_key(self):
        s = self.server()
        admin = self.admin(s)
        beta = Caller(s, self.pki.client("beta", B))
        self.addCleanup(beta.close)
        mine, theirs = ("tenant-" + token()[:8] for _ in range(2))
        for k in (mine, theirs):
            admin.call("CreateEncryptionKey", service=EK, key_id=k)
        kms = "arn:aws:kms:local-1:000000000000:alias/"
        admin.call("PutIdentityPolicy", service="/coffer.v1.IdentityPolicies/",
                   principal=B, policy_name="secrets", policy_document=json.dumps({
                       "Version": "2012-10-17", "Statement": [{
                           "Effect": "Allow", "Action": "secretsmanager:*",
                           "Resource": "*"}]}))
        h.until(lambda: reads_ok(beta), "the policy never took effect")

        def sm_fails(op, **f):
            return beta.fails(op, service=h.SERVICE, **f)

        # Without kms:GenerateDataKey: the default key only.
        beta.call("CreateSecret", name="k-default", secret_string="v",
                  client_request_token=token())
        beta.call("CreateSecret", name="k-explicit-default", secret_string="v",
                  kms_key_id="alias/" + self.kek, client_request_token=token())
        code, msg = sm_fails("CreateSecret", name="k-mine", secret_string="v",
                             kms_key_id="alias/" + mine, client_request_token=token())
        self.assertEqual(code, "AccessDeniedException", msg)
        self.assertIn("kms:GenerateDataKey", msg)
        self.assertIn(kms + mine, msg)
        # A key that does not exist is refused the same way: no oracle.
        self.assertEqual(sm_fails("CreateSecret", name="k-none", secret_string="v",
                                  kms_key_id="alias/no-such-" + token()[:8],
                                  client_request_token=token())[0],
                         "AccessDeniedException")
        # Nothing was half-written by a refusal.
        self.assertEqual(sql(self.db, "SELECT count(*) FROM secrets WHERE name "
                                      "IN ('k-mine', 'k-none')"), "0")

        # Allowed on its own tenant's key: that key and no other.
        admin.call("PutIdentityPolicy", service="/coffer.v1.IdentityPolicies/",
                   principal=B, policy_name="tenant-key", policy_document=json.dumps({
                       "Version": "2012-10-17", "Statement": [{
                           "Effect": "Allow", "Action": "kms:GenerateDataKey",
                           "Resource": kms + mine}]}))

        def created():
            try:
                beta.call("CreateSecret", name="k-mine", secret_string="v",
                          kms_key_id="alias/" + mine, client_request_token=token())
                return True
            except grpc.RpcError:
                return False
        h.until(created, "the kms:GenerateDataKey grant never took effect")
        self.assertEqual(beta.call("GetSecretValue", service=h.SERVICE,
                                   secret_id="k-mine").secret_string, "v")
        self.assertEqual(sm_fails("CreateSecret", name="k-theirs", secret_string="v",
                                  kms_key_id="alias/" + theirs,
                                  client_request_token=token())[0],
                         "AccessDeniedException")
        # Moving a secret onto a key is the same use of it.
        code, msg = sm_fails("UpdateSecret", secret_id="k-default",
                             kms_key_id="alias/" + theirs)
        self.assertEqual(code, "AccessDeniedException", msg)
        self.assertEqual(sql(self.db, "SELECT coalesce(kms_key_id, '') FROM secrets "
                                      "WHERE name = 'k-default'"), "")
        beta.call("UpdateSecret", secret_id="k-default", kms_key_id="alias/" + mine)
        beta.call("UpdateSecret", secret_id="k-mine", kms_key_id="")
        # With the right, a missing key is told as such.
        admin.call("PutIdentityPolicy", service="/coffer.v1.IdentityPolicies/",
                   principal=B, policy_name="tenant-key", policy_document=json.dumps({
                       "Version": "2012-10-17", "Statement": [{
                           "Effect": "Allow", "Action": "kms:GenerateDataKey",
                           "Resource": kms + "*"}]}))
        h.until(lambda: sm_fails("CreateSecret", name="k-none", secret_string="v",
                                 kms_key_id="alias/no-such-key",
                                 client_request_token=token())[0] ==
                "EncryptionFailure", "the wider grant never took effect")
        # Every refusal is in the audit trail, with the action it lacked.
        rows = sql(self.db, "SELECT count(*) FROM audit_events WHERE principal = "
                            f"'{B}' AND outcome = 'AccessDeniedException' AND "
                            "operation IN ('CreateSecret', 'UpdateSecret')")
        self.assertGreaterEqual(int(rows), 4)


def reads_ok(c):
    try:
        c.call("ListSecrets", service=h.SERVICE)
        return True
    except grpc.RpcError:
        return False


class TenantKeyTest(KekCase):
    """A KEK made for a tenant, scheduled for deletion, cancelled, then
    destroyed: its values become unreadable for good, even once the
    database says the key is back (as a backup from before would)."""

    def test_destroyed_key_shreds(self):
        s = self.server(COFFER_PURGE_INTERVAL="1")
        admin = self.admin(s)
        env = RotationTest.cli_env(self, s)
        tenant = "tenant-" + token()[:8]
        r = h.coffer(s.url(), "create-encryption-key", "--key-id", tenant,
                     input_env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), {"KeyId": tenant, "Version": 1})
        self.assertEqual(admin.fails("CreateEncryptionKey", key_id=tenant)[0],
                         "ResourceExistsException")
        self.assertEqual(admin.fails("CreateEncryptionKey", key_id="bad\"id")[0],
                         "ValidationException")
        admin.call("CreateSecret", name="t/one", secret_string="tenant",
                   kms_key_id="alias/" + tenant, client_request_token=token())
        admin.call("PutSecretValue", secret_id="t/one", secret_string="tenant2",
                   client_request_token=token())
        admin.call("CreateSecret", name="t/other", secret_string="default",
                   client_request_token=token())

        # Pending deletion: nothing sealed or opened under it; cancelled: back.
        self.assertEqual(admin.fails("ScheduleKeyDeletion", key_id=self.kek,
                                     pending_window_in_days=7)[0],
                         "InvalidRequestException")
        self.assertEqual(admin.fails("ScheduleKeyDeletion", key_id=tenant,
                                     pending_window_in_days=6)[0],
                         "ValidationException")
        r = h.coffer(s.url(), "schedule-key-deletion", "--key-id", tenant,
                     "--pending-window-in-days", "7", input_env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["KeyState"], "PendingDeletion")
        h.until(lambda: refused(admin, "t/one") == "DecryptionFailure",
                "reads refused while the key is pending deletion")
        self.assertEqual(admin.fails("PutSecretValue", service=h.SERVICE,
                                     secret_id="t/one", secret_string="x",
                                     client_request_token=token())[0],
                         "EncryptionFailure")
        admin.call("CancelKeyDeletion", service=EK, key_id=tenant)
        h.until(lambda: reads(admin, "t/one", "tenant2"),
                "served again once cancelled")

        # Scheduled again, and its date moved to now as if 7 days passed.
        admin.call("ScheduleKeyDeletion", service=EK, key_id=tenant,
                   pending_window_in_days=7)
        sql(self.db, "UPDATE encryption_keys SET deletion_date = now() - "
            f"interval '1 second' WHERE label = '{tenant}'")
        deadline = time.time() + 60
        while time.time() < deadline:
            d = admin.call("DescribeEncryptionKey", service=EK, key_id=tenant)
            if d.key_state == "Destroyed":
                break
            time.sleep(0.5)
        self.assertEqual(d.key_state, "Destroyed")
        self.assertTrue(all(v.HasField("destroyed_date") for v in d.versions))
        code, msg = admin.fails("GetSecretValue", service=h.SERVICE,
                                secret_id="t/one")
        self.assertEqual(code, "DecryptionFailure")
        self.assertIn("destroyed", msg)
        self.assertEqual(admin.call("GetSecretValue", secret_id="t/other")
                         .secret_string, "default")

        # The database put back as it was before (a restored backup): the
        # key is gone from the token, so the values stay unreadable.
        sql(self.db, "UPDATE encryption_keys SET state = 'Enabled', "
            f"deletion_date = NULL WHERE label = '{tenant}'")
        time.sleep(1)
        code, msg = admin.fails("GetSecretValue", service=h.SERVICE,
                                secret_id="t/one")
        self.assertEqual(code, "DecryptionFailure")
        self.assertIn("not found in the token", msg)
        self.assertEqual(sql(self.db, "SELECT count(*) FROM secret_versions v "
                             "JOIN secrets s ON s.uuid = v.secret_uuid WHERE "
                             "s.name = 't/one'"), "2")

        # Audited: the admin's calls, and cofferd's destruction.
        ops = sql(self.db, "SELECT principal || ' ' || operation || ' ' || "
                  "outcome FROM audit_events WHERE operation IN "
                  "('CreateEncryptionKey', 'ScheduleKeyDeletion', "
                  "'CancelKeyDeletion', 'DestroyEncryptionKey') AND "
                  f"request_params LIKE '%{tenant}%'").splitlines()
        for want in (f"{h.ADMIN} CreateEncryptionKey OK",
                     f"{h.ADMIN} ScheduleKeyDeletion OK",
                     f"{h.ADMIN} CancelKeyDeletion OK",
                     "cofferd DestroyEncryptionKey OK"):
            self.assertIn(want, ops)


class KeyChangeTest(KekCase):
    """UpdateSecret with a new KmsKeyId seals every version of the secret
    again under the new key (issue 16, item 3): the old key then wraps
    nothing of it and can be destroyed without taking the secret's history
    along.  Nothing is half-moved when a version cannot be opened; a
    version under a destroyed key stays where it is (it is gone anyway)."""

    def envelopes(self, name):
        """{version_id: (kek_label, ciphertext hex)} of ${name}'s values."""
        out = sql(self.db, "SELECT v.version_id, v.kek_label, "
                  "encode(v.ciphertext, 'hex') FROM secret_versions v JOIN "
                  f"secrets s ON s.uuid = v.secret_uuid WHERE s.name = '{name}' "
                  "AND v.value_type <> 0")
        return {l.split("|")[0]: tuple(l.split("|")[1:]) for l in out.splitlines()}

    def set_key_behind_cofferd(self, name, key):
        """The secret's key changed as a cofferd older than this feature
        did it: the row only, its versions left where they were."""
        sql(self.db, f"UPDATE secrets SET kms_key_id = 'alias/{key}' "
            f"WHERE name = '{name}'")

    def test_new_kms_key_reseals_every_version(self):
        s = self.server(COFFER_PURGE_INTERVAL="1")
        admin = self.admin(s)
        a, b, c = ("tenant-" + token()[:8] for _ in range(3))
        for k in (a, b, c):
            admin.call("CreateEncryptionKey", service=EK, key_id=k)
        name = "move/one"
        values = {}
        vid = token()
        admin.call("CreateSecret", name=name, secret_string="v0",
                   kms_key_id="alias/" + a, client_request_token=vid)
        values[vid] = "v0"
        for i in range(1, 4):
            vid = token()
            admin.call("PutSecretValue", secret_id=name, secret_string=f"v{i}",
                       client_request_token=vid)
            values[vid] = f"v{i}"

        def reads_back(skip=()):
            for v, want in values.items():
                if v not in skip:
                    self.assertEqual(admin.call("GetSecretValue", secret_id=name,
                                                version_id=v).secret_string, want)
        before = self.envelopes(name)
        self.assertEqual({k for k, _ in before.values()}, {a})

        # A key that does not exist, and an old key pending deletion (its
        # versions cannot be opened): refused, nothing changed.
        self.assertEqual(admin.fails("UpdateSecret", service=h.SERVICE,
                                     secret_id=name, kms_key_id="alias/nope")[0],
                         "EncryptionFailure")
        admin.call("ScheduleKeyDeletion", service=EK, key_id=a,
                   pending_window_in_days=7)
        code, msg = admin.fails("UpdateSecret", service=h.SERVICE,
                                secret_id=name, kms_key_id="alias/" + b)
        self.assertEqual(code, "DecryptionFailure")
        self.assertIn("pending deletion", msg)
        self.assertEqual(self.envelopes(name), before)
        self.assertEqual(admin.call("DescribeSecret", secret_id=name).kms_key_id,
                         "alias/" + a)
        admin.call("CancelKeyDeletion", service=EK, key_id=a)

        # Moved: every version under b, each a new envelope, each value
        # unchanged; the old key wraps nothing; no new version made.
        h.until(lambda: reads(admin, name, "v3"), "served again once cancelled")
        r = admin.call("UpdateSecret", secret_id=name, kms_key_id="alias/" + b)
        self.assertFalse(r.HasField("version_id"))
        after = self.envelopes(name)
        self.assertEqual(set(after), set(before))
        self.assertEqual({k for k, _ in after.values()}, {b})
        for v in before:
            self.assertNotEqual(after[v][1], before[v][1])
        reads_back()
        d = admin.call("DescribeEncryptionKey", service=EK, key_id=a)
        self.assertEqual(sum(v.wrapped_version_count for v in d.versions), 0)
        d = admin.call("DescribeEncryptionKey", service=EK, key_id=b)
        self.assertEqual(sum(v.wrapped_version_count for v in d.versions), 4)

        # A secret whose key was changed behind its versions' back is
        # repaired by giving the same key again.
        self.set_key_behind_cofferd(name, c)
        vid = token()
        admin.call("PutSecretValue", secret_id=name, secret_string="v4",
                   client_request_token=vid)
        values[vid] = "v4"
        self.set_key_behind_cofferd(name, b)
        self.assertEqual(self.envelopes(name)[vid][0], c)
        admin.call("UpdateSecret", secret_id=name, kms_key_id="alias/" + b)
        self.assertEqual({k for k, _ in self.envelopes(name).values()}, {b})
        reads_back()

        # A version under a destroyed key stays there; the rest move, and
        # the empty KmsKeyId is the default key.
        self.set_key_behind_cofferd(name, c)
        lost = token()
        admin.call("PutSecretValue", secret_id=name, secret_string="v5",
                   client_request_token=lost)
        self.set_key_behind_cofferd(name, b)
        admin.call("ScheduleKeyDeletion", service=EK, key_id=c,
                   pending_window_in_days=7)
        sql(self.db, "UPDATE encryption_keys SET deletion_date = now() - "
            f"interval '1 second' WHERE label = '{c}'")
        h.until(lambda: admin.call("DescribeEncryptionKey", service=EK,
                                   key_id=c).key_state == "Destroyed",
                "the key destroyed", timeout=60)
        admin.call("UpdateSecret", secret_id=name, kms_key_id="")
        env = self.envelopes(name)
        self.assertEqual(env.pop(lost)[0], c)
        self.assertEqual({k for k, _ in env.values()}, {self.kek})
        reads_back()
        self.assertEqual(admin.fails("GetSecretValue", service=h.SERVICE,
                                     secret_id=name, version_id=lost)[0],
                         "DecryptionFailure")

        # A caller without UpdateSecret rights learns nothing and moves
        # nothing.
        beta = Caller(s, self.pki.client("beta", B))
        self.addCleanup(beta.close)
        before = self.envelopes(name)
        self.assertEqual(beta.fails("UpdateSecret", service=h.SERVICE,
                                    secret_id=name, kms_key_id="alias/" + a)[0],
                         "AccessDeniedException")
        self.assertEqual(self.envelopes(name), before)

        # Audited, the KmsKeyId named.
        ops = sql(self.db, "SELECT outcome || ' ' || request_params FROM "
                  "audit_events WHERE operation = 'UpdateSecret'").splitlines()
        self.assertTrue(any(o.startswith("OK ") and b in o for o in ops), ops)
        self.assertTrue(any(o.startswith("DecryptionFailure ") for o in ops), ops)


class CrashAndServersTest(KekCase):

    def test_kill_9_mid_rewrap_then_two_servers_share_it(self):
        n = max(N // 4, 400)
        s1 = self.server(COFFER_REWRAP_RATE="200")
        admin = self.admin(s1)
        names = self.make_secrets(s1, n, "crash")
        admin.call("RotateEncryptionKey", service=EK, key_id=self.kek)
        # Half-way, kill -9.
        deadline = time.time() + 120
        while versions_by_kek(self.db).get(2, 0) < n // 4 and time.time() < deadline:
            time.sleep(0.2)
        s1.stop(signal.SIGKILL)
        moved = versions_by_kek(self.db)
        self.assertGreater(moved.get(1, 0), 0, moved)
        self.assertGreater(moved.get(2, 0), 0, moved)

        # Two servers on the database finish it between them.
        mark = h.audit_mark(self.db)
        a = self.server(COFFER_REWRAP_RATE="100")
        b = self.server(COFFER_REWRAP_RATE="100")
        admin = self.admin(a)
        r = self.until_rewrapped(admin)
        self.assertFalse(r.rewrap_pending)
        self.assertEqual(versions_by_kek(self.db), {2: n})
        for name in random.sample(names, 50):
            self.assertEqual(admin.call("GetSecretValue", service=h.SERVICE,
                                        secret_id=name).secret_string, name)
        # No envelope moved twice: the batches add up to what was left,
        # and both servers took part.
        rows = sql(self.db, "SELECT c.server, e.request_params FROM audit_events e "
                   "JOIN audit_chains c ON c.chain_id = e.chain_id WHERE "
                   + h.audit_after(mark).replace("chain_id", "e.chain_id")
                   .replace("seq", "e.seq")
                   + " AND e.operation = 'RewrapDataKeys' AND e.outcome = 'OK'")
        rows = [l.split("|", 1) for l in rows.splitlines()]
        self.assertEqual(sum(json.loads(p)["Count"] for _, p in rows), moved[1])
        self.assertEqual({srv for srv, _ in rows},
                         {a.audit_server(), b.audit_server()})


if __name__ == "__main__":
    unittest.main()
