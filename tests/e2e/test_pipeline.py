"""The request pipeline (issue 14): what a read writes, and when.

A change and its audit event are one transaction: one commit, so that
neither is durable without the other (before issue 14 the event was
committed by the audit writer first, then the change in a second commit).

A read's only write is LastAccessedDate (date resolution: once a day per
secret version).  It is written by the audit writer in the same
transaction as the read's event, not in a commit of its own; and it never
waits for a row a change holds locked (the change may be waiting for this
very audit batch), so a locked row is skipped and the next read tries
again.  These tests read PostgreSQL's transaction ids (xmin) to prove the
first, and hold a row lock in a psql session to prove the second.
"""
import datetime
import re
import subprocess
import threading
import unittest
import urllib.request

import grpc

from tests.e2e import harness as h
from tests.e2e.harness import pb, token

TODAY = "(now() AT TIME ZONE 'UTC')::date"


class RowLock:
    """A FOR UPDATE lock on one secret's row, held by a psql session of the
    database owner until release()."""

    SQL = "SELECT 1 FROM secrets WHERE name = '{name}' FOR UPDATE"

    def __init__(self, db, name):
        self.proc = subprocess.Popen(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", h.admin(db)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        self.proc.stdin.write("SET application_name = 'pipeline-row-lock';\n"
                              f"BEGIN; {self.SQL.format(name=name)};\n")
        self.proc.stdin.flush()
        h.until(lambda: h.psql(h.admin(db),
                               "SELECT count(*) FROM pg_stat_activity WHERE "
                               "application_name = 'pipeline-row-lock' AND "
                               "state = 'idle in transaction'") == "1",
                "the row lock")

    def release(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("COMMIT;\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
            self.proc.stderr.close()


class PendingInsert(RowLock):
    """A secret row named ${name}, inserted and not committed until
    release(): another INSERT of that name waits for it, then fails."""

    SQL = ("INSERT INTO secrets (uuid, name, arn, created_date, "
           "last_changed_date) VALUES (gen_random_uuid(), '{name}', "
           "'arn:aws:secretsmanager:local-1:000000000000:secret:{name}-AAAAAA', "
           "now(), now())")


class PipelineCase(unittest.TestCase):
    """One plaintext server on a fresh database per class."""

    @classmethod
    def setUpClass(cls):
        cls.db = h.fresh_database("pipeline")
        cls.metrics_port = h.free_port()
        cls.server = h.Server(cls.db, workers=2, extra_env={
            "COFFER_METRICS_LISTEN": f"127.0.0.1:{cls.metrics_port}"}).start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        if rc != 0:
            raise AssertionError(f"cofferd exited {rc}:\n{cls.server.output()}")

    def sql(self, q):
        return h.psql(h.admin(self.db), q)

    def labels(self, name):
        """The secret's labels as "version:label,label" lines, sorted."""
        return self.sql(
            "SELECT l.version_id || ':' || string_agg(l.stage, ',' ORDER BY "
            "l.stage) FROM version_stages l JOIN secrets s ON s.uuid = "
            f"l.secret_uuid WHERE s.name = '{name}' GROUP BY l.version_id "
            "ORDER BY 1")

    def sealed_first(self, call="PutSecretValue"):
        """coffer_put_sealed_first_total of ${call} as {"true": n,
        "false": n}."""
        with urllib.request.urlopen(
                f"http://127.0.0.1:{self.metrics_port}/metrics",
                timeout=10) as r:
            text = r.read().decode()
        return {held: int(float(n)) for held, n in re.findall(
            r'^coffer_put_sealed_first_total\{call="' + call +
            r'",held="(true|false)"\} (\S+)$', text, re.M)}

    PUT_LOCK = "SELECT 1 FROM secrets WHERE uuid = %FOR UPDATE"

    def put_waiting(self, n=1):
        """Wait until ${n} PutSecretValue calls wait for a row lock: the
        first statement of their transaction, before their basis check
        (migration 0022)."""
        h.until(lambda: self.sql(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type "
            f"= 'Lock' AND query LIKE '{self.PUT_LOCK}'") == str(n),
            "the put waiting for the row lock")

    def call(self, op, **fields):
        sm, _ = pb()
        return self.server.call(op, getattr(sm, op + "Request")(**fields))

    def in_background(self, op, **fields):
        """Start ${op} on a thread of its own (it is to wait on a lock):
        the thread, and a dict that gets "response" or "error" (the AWS
        exception name and message)."""
        result = {}

        def run():
            try:
                result["response"], _, _ = self.server.call(
                    op, getattr(pb()[0], op + "Request")(**fields),
                    timeout=30)
            except grpc.RpcError as e:
                result["error"] = (h.error_type(e), e.details())

        th = threading.Thread(target=run)
        th.start()
        return th, result

    def event_xmin(self, request_id, name=None):
        """The transaction id of the call's event (of secret ${name})."""
        q = f"SELECT xmin FROM audit_events WHERE request_id = '{request_id}'"
        if name is not None:
            q += f" AND secret_arn LIKE '%:secret:{name}-%'"
        return self.sql(q)


class LastAccessedTest(PipelineCase):

    def secret(self):
        name = f"la-{token()[:8]}"
        self.call("CreateSecret", name=name, secret_string="v",
                  client_request_token=token())
        self.yesterday(name)
        return name

    def yesterday(self, name):
        """Make the secret's (and its versions') last access yesterday."""
        self.sql("UPDATE secrets SET last_accessed_date = "
                 f"{TODAY} - 1 WHERE name = '{name}'; "
                 "UPDATE secret_versions v SET last_accessed_date = "
                 f"{TODAY} - 1 FROM secrets s WHERE s.uuid = v.secret_uuid "
                 f"AND s.name = '{name}'")

    def accessed(self, name):
        """(secret's date, current version's date, secret row's xmin)."""
        row = self.sql(
            "SELECT s.last_accessed_date = " + TODAY + ", "
            "v.last_accessed_date = " + TODAY + ", s.xmin "
            "FROM secrets s JOIN version_stages l ON l.secret_uuid = s.uuid "
            "AND l.stage = 'AWSCURRENT' JOIN secret_versions v ON "
            "v.secret_uuid = l.secret_uuid AND v.version_id = l.version_id "
            f"WHERE s.name = '{name}'").split("|")
        return row[0] == "t", row[1] == "t", row[2]

    def test_first_read_of_the_day_commits_with_its_event(self):
        name = self.secret()
        self.assertEqual(self.accessed(name)[:2], (False, False))
        resp, md, _ = self.call("GetSecretValue", secret_id=name)
        self.assertEqual(resp.secret_string, "v")
        secret_today, version_today, xmin = self.accessed(name)
        self.assertTrue(secret_today and version_today)
        # The same transaction as the read's audit event: no commit of
        # its own (before issue 14 a read touched in its own commit).
        self.assertEqual(xmin, self.event_xmin(md["coffer-request-id"]))
        # DescribeSecret reports it (date resolution, midnight UTC).
        d = self.call("DescribeSecret", secret_id=name)[0]
        today = datetime.datetime.now(datetime.timezone.utc).date()
        self.assertEqual(datetime.datetime.fromtimestamp(
            d.last_accessed_date / 1000, datetime.timezone.utc).date(), today)

    def test_second_read_writes_nothing(self):
        name = self.secret()
        self.call("GetSecretValue", secret_id=name)
        before = self.accessed(name)
        self.call("GetSecretValue", secret_id=name)
        self.assertEqual(self.accessed(name), before,
                         "a second read the same day rewrote the row")

    def test_batch_get_touches_each_secret_with_its_item(self):
        names = [self.secret() for _ in range(3)]
        resp, md, _ = self.call("BatchGetSecretValue", secret_id_list=names)
        self.assertEqual(len(resp.secret_values), 3)
        for name in names:
            secret_today, version_today, xmin = self.accessed(name)
            self.assertTrue(secret_today and version_today, name)
            self.assertEqual(xmin, self.event_xmin(md["coffer-request-id"],
                                                   name))

    def test_a_locked_row_is_skipped_not_waited_for(self):
        """A change holding the secret's row may be waiting for the very
        audit batch that would touch it: the touch must not wait."""
        name = self.secret()
        lock = RowLock(self.db, name)
        try:
            # Well within the call's deadline: it never waits for the lock.
            resp, _, _ = self.server.call(
                "GetSecretValue", pb()[0].GetSecretValueRequest(secret_id=name),
                timeout=10)
            self.assertEqual(resp.secret_string, "v")
            self.assertEqual(self.accessed(name)[0], False,
                             "the locked row was written")
        finally:
            lock.release()
        # The next read of the day tries again.
        self.call("GetSecretValue", secret_id=name)
        self.assertEqual(self.accessed(name)[:2], (True, True))


class ChangeTest(PipelineCase):
    """Each change's rows carry the transaction id of its audit event."""

    def test_create_and_put_commit_with_their_events(self):
        name = f"ch-{token()[:8]}"
        first, second = token(), token()
        _, md, _ = self.call("CreateSecret", name=name, secret_string="1",
                             client_request_token=first)
        self.assertEqual(
            self.sql(f"SELECT xmin FROM secrets WHERE name = '{name}'"),
            self.event_xmin(md["coffer-request-id"]))
        _, md, _ = self.call("PutSecretValue", secret_id=name,
                             secret_string="2", client_request_token=second)
        self.assertEqual(
            self.sql(f"SELECT xmin FROM secret_versions WHERE version_id = '{second}'"),
            self.event_xmin(md["coffer-request-id"]))
        # AWSCURRENT moved in the same transaction.
        self.assertEqual(
            self.sql("SELECT l.xmin FROM version_stages l JOIN secrets s ON "
                     "s.uuid = l.secret_uuid WHERE l.stage = 'AWSCURRENT' "
                     f"AND s.name = '{name}'"),
            self.event_xmin(md["coffer-request-id"]))

    def test_create_with_tags_is_one_transaction(self):
        """CreateSecret's row, tags and first version are held and sent
        with the event and the COMMIT: all carry the event's xid."""
        sm, _ = pb()
        name = f"ct-{token()[:8]}"
        t = token()
        _, md, _ = self.call("CreateSecret", name=name, secret_string="1",
                             client_request_token=t,
                             tags=[sm.Tag(key=f"k{i}", value=f"v{i}")
                                   for i in range(3)])
        xid = self.event_xmin(md["coffer-request-id"])
        self.assertEqual(self.sql(
            "SELECT string_agg(DISTINCT x::text, ',') FROM ("
            f"SELECT xmin AS x FROM secrets WHERE name = '{name}' UNION ALL "
            "SELECT g.xmin FROM tags g JOIN secrets s ON s.uuid = "
            f"g.secret_uuid WHERE s.name = '{name}' UNION ALL "
            f"SELECT xmin FROM secret_versions WHERE version_id = '{t}' "
            "UNION ALL SELECT l.xmin FROM version_stages l WHERE "
            f"l.version_id = '{t}') a"), xid)
        self.assertEqual(self.sql(
            "SELECT count(*) FROM tags g JOIN secrets s ON s.uuid = "
            f"g.secret_uuid WHERE s.name = '{name}'"), "3")
        self.assertEqual(self.call("GetSecretValue", secret_id=name)[0]
                         .secret_string, "1")

    def test_a_name_taken_while_the_create_is_held(self):
        """The name is free at CreateSecret's lookup, and taken by another
        transaction before its held INSERT runs: the commit is refused by
        the unique index, nothing of the call is kept, and the call fails
        as AWS says (ResourceExistsException), its failure audited."""
        name = f"taken-{token()[:8]}"
        t = token()
        pending = PendingInsert(self.db, name)
        th, result = self.in_background("CreateSecret", name=name,
                                        secret_string="mine",
                                        client_request_token=t)
        try:
            # The held INSERT waits for the uncommitted row of that name.
            h.until(lambda: self.sql(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type "
                "= 'Lock' AND query LIKE 'INSERT INTO secrets%'") == "1",
                "the create waiting on the name")
        finally:
            pending.release()
        th.join(timeout=60)
        self.assertEqual(result.get("error", (None,))[0],
                         "ResourceExistsException", result)
        self.assertIn("already exists", result["error"][1])
        # Only the other transaction's row: no version, no label of ours.
        self.assertEqual(self.sql("SELECT count(*) FROM secrets "
                                  f"WHERE name = '{name}'"), "1")
        self.assertEqual(self.sql("SELECT count(*) FROM secret_versions "
                                  f"WHERE version_id = '{t}'"), "0")
        self.assertEqual(self.sql(
            "SELECT string_agg(outcome, ',') FROM audit_events WHERE "
            "operation = 'CreateSecret' AND request_params LIKE "
            f"'%\"{name}\"%'"), "ResourceExistsException")

    def test_a_refused_change_leaves_its_failure_only(self):
        """A change that fails inside its transaction leaves no OK event
        and nothing changed; its failure is recorded."""
        name = f"ch-{token()[:8]}"
        self.call("CreateSecret", name=name, secret_string="1",
                  client_request_token=token())
        labels = [f"l{i}" for i in range(19)]
        self.call("PutSecretValue", secret_id=name, secret_string="2",
                  client_request_token=token(), version_stages=labels)
        # 20 labels, no AWSPREVIOUS.  Custom labels, or none (AWSCURRENT,
        # which brings AWSPREVIOUS: 21): either way the statement is held
        # (store_defer_writes; the locked lookup said whether the secret
        # has AWSCURRENT) and refuses in the commit's pipeline, before the
        # event's INSERT.
        for stages in (["x1", "x2"], []):
            with self.subTest(stages=stages):
                t = token()
                with self.assertRaises(grpc.RpcError) as cm:
                    self.server.call("PutSecretValue",
                                     pb()[0].PutSecretValueRequest(
                                         secret_id=name, secret_string="3",
                                         client_request_token=t,
                                         version_stages=stages))
                self.assertEqual(h.error_type(cm.exception),
                                 "LimitExceededException")
                self.assertEqual(cm.exception.details(), "A secret can have "
                                 "at most 20 staging labels attached across "
                                 "its versions.")
                self.assertEqual(self.sql("SELECT count(*) FROM secret_versions "
                                          f"WHERE version_id = '{t}'"), "0")
                self.assertEqual(
                    self.sql("SELECT string_agg(outcome, ',') FROM audit_events "
                             "WHERE operation = 'PutSecretValue' AND "
                             f"version_id = '{t}'"),
                    "LimitExceededException")
        # Nothing moved: AWSCURRENT where it was, still no AWSPREVIOUS.
        self.assertEqual(self.sql(
            "SELECT count(*) FROM version_stages l JOIN secrets s ON "
            f"s.uuid = l.secret_uuid WHERE s.name = '{name}'"), "20")
        self.assertEqual(self.sql(
            "SELECT count(*) FROM version_stages l JOIN secrets s ON "
            f"s.uuid = l.secret_uuid WHERE s.name = '{name}' AND "
            "l.stage = 'AWSPREVIOUS'"), "0")

    def test_current_is_read_after_the_lock(self):
        """Whether the secret has AWSCURRENT decides whether the new
        version becomes current.  PutSecretValue reads it before it seals,
        without the lock; here, while the Put waits for the lock, the
        lock's holder gives the empty secret a current version and
        commits.  The Put (custom labels only) must then leave AWSCURRENT
        where it is: its check after the lock finds its basis changed, and
        it runs again under the lock, whose lookup reads AWSCURRENT in a
        statement of its own after the lock (read in the same statement
        as the lock, the answer would come from the statement's older
        snapshot, READ COMMITTED, and the Put would take AWSCURRENT from
        the version that has it)."""
        name = f"cur-{token()[:8]}"
        self.call("CreateSecret", name=name, client_request_token=token())
        theirs, mine = token(), token()
        before = self.sealed_first()
        lock = RowLock(self.db, name)
        th, result = self.in_background("PutSecretValue", secret_id=name,
                                        secret_string="mine",
                                        client_request_token=mine,
                                        version_stages=["X"])
        try:
            self.put_waiting()
            lock.proc.stdin.write(
                "INSERT INTO secret_versions (secret_uuid, version_id, "
                "value_type, format, kek_label, iv, wrapped_dek, ciphertext) "
                f"SELECT uuid, '{theirs}', 1, 1, 'x', '\\x00', '\\x00', "
                f"'\\x00' FROM secrets WHERE name = '{name}';\n"
                "INSERT INTO version_stages (secret_uuid, stage, version_id) "
                f"SELECT uuid, 'AWSCURRENT', '{theirs}' FROM secrets "
                f"WHERE name = '{name}';\n")
            lock.proc.stdin.flush()
        finally:
            lock.release()
        th.join(timeout=60)
        self.assertNotIn("error", result)
        self.assertEqual(list(result["response"].version_stages), ["X"])
        self.assertEqual(self.labels(name), "\n".join(sorted(
            [f"{theirs}:AWSCURRENT", f"{mine}:X"])))
        # It had sealed against "no AWSCURRENT": that changed, so it ran
        # again under the lock.
        after = self.sealed_first()
        self.assertEqual(after["false"] - before.get("false", 0), 1)
        self.assertEqual(after["true"] - before.get("true", 0), 0)

    def test_stage_move_commits_with_its_event(self):
        """UpdateSecretVersionStage: both labels it moves and the secret's
        LastChangedDate carry its event's transaction id."""
        name = f"st-{token()[:8]}"
        first, second = token(), token()
        self.call("CreateSecret", name=name, secret_string="1",
                  client_request_token=first)
        self.call("PutSecretValue", secret_id=name, secret_string="2",
                  client_request_token=second, version_stages=["AWSPENDING"])
        _, md, _ = self.call("UpdateSecretVersionStage", secret_id=name,
                             version_stage="AWSCURRENT",
                             move_to_version_id=second,
                             remove_from_version_id=first)
        xid = self.event_xmin(md["coffer-request-id"])
        self.assertEqual(self.sql(
            "SELECT string_agg(DISTINCT x::text, ',') FROM ("
            "SELECT l.xmin AS x FROM version_stages l JOIN secrets s ON "
            f"s.uuid = l.secret_uuid WHERE s.name = '{name}' AND l.stage IN "
            "('AWSCURRENT', 'AWSPREVIOUS') UNION ALL SELECT xmin FROM "
            f"secrets WHERE name = '{name}') a"), xid)
        self.assertEqual(self.labels(name), "\n".join(sorted([
            f"{first}:AWSPREVIOUS", f"{second}:AWSCURRENT,AWSPENDING"])))

    def test_other_changes_commit_with_their_events(self):
        """UpdateSecret with a value (its token's version read with the
        locked lookup), PutResourcePolicy, DeleteResourcePolicy and
        RestoreSecret: each change is held and sent with its event and the
        COMMIT, so the rows it wrote carry the event's xid; and an
        UpdateSecret retried with the same token adds nothing."""
        name = f"oc-{token()[:8]}"
        self.call("CreateSecret", name=name, secret_string="1",
                  client_request_token=token())
        row = f"SELECT xmin FROM secrets WHERE name = '{name}'"
        t = token()
        _, md, _ = self.call("UpdateSecret", secret_id=name,
                             secret_string="2", client_request_token=t)
        xid = self.event_xmin(md["coffer-request-id"])
        self.assertEqual(self.sql(f"SELECT xmin FROM secret_versions WHERE "
                                  f"version_id = '{t}'"), xid)
        self.assertEqual(self.sql(
            "SELECT l.version_id FROM version_stages l JOIN secrets s ON "
            "s.uuid = l.secret_uuid WHERE l.stage = 'AWSCURRENT' AND "
            f"s.name = '{name}'"), t)
        r, md, _ = self.call("UpdateSecret", secret_id=name,
                             secret_string="2", client_request_token=t)
        self.assertEqual(r.version_id, t)
        self.assertEqual(self.sql(row), xid)
        policy = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
                  '"Principal":{"AWS":"anonymous"},"Action":'
                  '"secretsmanager:GetSecretValue","Resource":"*"}]}')
        for op, fields in (
                ("PutResourcePolicy", {"resource_policy": policy}),
                ("DeleteResourcePolicy", {}),
                ("DeleteSecret", {"recovery_window_in_days": 7}),
                ("RestoreSecret", {})):
            with self.subTest(op=op):
                _, md, _ = self.call(op, secret_id=name, **fields)
                self.assertEqual(self.sql(row),
                                 self.event_xmin(md["coffer-request-id"]))
        self.assertEqual(self.sql("SELECT resource_policy IS NULL AND "
                                  "deleted_date IS NULL FROM secrets WHERE "
                                  f"name = '{name}'"), "t")

    def test_a_refused_stage_move_leaves_its_failure_only(self):
        """A move past the 20-label quota is refused by the held statement
        in the commit's pipeline: LimitExceededException, its failure
        audited, no label moved and LastChangedDate untouched."""
        name = f"st-{token()[:8]}"
        t = token()
        self.call("CreateSecret", name=name, secret_string="1",
                  client_request_token=token())
        self.call("PutSecretValue", secret_id=name, secret_string="2",
                  client_request_token=t,
                  version_stages=[f"l{i}" for i in range(19)])
        before = self.labels(name)
        changed = self.sql("SELECT last_changed_date FROM secrets WHERE "
                           f"name = '{name}'")
        with self.assertRaises(grpc.RpcError) as cm:
            self.call("UpdateSecretVersionStage", secret_id=name,
                      version_stage="one-too-many", move_to_version_id=t)
        self.assertEqual(h.error_type(cm.exception), "LimitExceededException")
        self.assertEqual(cm.exception.details(), "A secret can have at most "
                         "20 staging labels attached across its versions.")
        self.assertEqual(self.labels(name), before)
        self.assertEqual(self.sql("SELECT last_changed_date FROM secrets "
                                  f"WHERE name = '{name}'"), changed)
        self.assertEqual(self.sql(
            "SELECT string_agg(outcome, ',') FROM audit_events WHERE "
            f"operation = 'UpdateSecretVersionStage' AND version_id = '{t}'"),
            "LimitExceededException")

    def test_stage_holder_is_read_after_the_lock(self):
        """UpdateSecretVersionStage checks RemoveFromVersionId against the
        label's holder, read with its locked lookup.  Here, while the call
        waits for the row lock, the lock's holder moves the label to
        another version and commits: the call must see the new holder and
        refuse, not move the label by an answer from before the lock."""
        name = f"sh-{token()[:8]}"
        a, b, c = token(), token(), token()
        self.call("CreateSecret", name=name, secret_string="1",
                  client_request_token=a)
        self.call("PutSecretValue", secret_id=name, secret_string="2",
                  client_request_token=b, version_stages=["L"])
        self.call("PutSecretValue", secret_id=name, secret_string="3",
                  client_request_token=c, version_stages=["M"])
        lock = RowLock(self.db, name)
        th, result = self.in_background("UpdateSecretVersionStage",
                                        secret_id=name, version_stage="L",
                                        move_to_version_id=a,
                                        remove_from_version_id=b)
        try:
            h.until(lambda: self.sql(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type "
                "= 'Lock' AND query LIKE 'SELECT %FOR UPDATE'") == "1",
                "the stage move waiting for the row lock")
            lock.proc.stdin.write(
                f"UPDATE version_stages SET version_id = '{c}' WHERE "
                "stage = 'L' AND secret_uuid = (SELECT uuid FROM secrets "
                f"WHERE name = '{name}');\n")
            lock.proc.stdin.flush()
        finally:
            lock.release()
        th.join(timeout=60)
        self.assertEqual(result.get("error"), (
            "InvalidParameterException",
            f"Version stage L not found in version {b}"), result)
        self.assertEqual(self.labels(name), "\n".join(sorted([
            f"{a}:AWSCURRENT", f"{c}:L,M"])))


EK = "/coffer.v1.EncryptionKeys/"


class SealedCase(PipelineCase):
    """What the tests of a value sealed before its transaction share: a
    call that waits on the secret's row lock in its pipeline while a psql
    session holding the lock changes the secret, then commits."""

    def new_key(self):
        """A new encryption key's id, for a secret's KMS key."""
        key = "sf-kek-" + token()[:8]
        self.server.call("CreateEncryptionKey",
                         pb()[0].CreateEncryptionKeyRequest(key_id=key),
                         service=EK)
        return key

    def secret(self):
        name = f"sf-{token()[:8]}"
        self.call("CreateSecret", name=name, secret_string="first",
                  client_request_token=token())
        return name

    def put_while_locked(self, name, sql, op="PutSecretValue", **fields):
        """${op} (PutSecretValue of "mine" unless ${fields} say otherwise)
        while the row is locked; ${sql} (or ${sql}(token) if callable)
        runs in the lock's transaction once the call waits.  (token,
        result, change in coffer_put_sealed_first_total of ${op})."""
        mine = token()
        if callable(sql):
            sql = sql(mine)
        fields = {k: v for k, v in {"secret_string": "mine",
                                    **fields}.items() if v is not None}
        before = self.sealed_first(op)
        lock = RowLock(self.db, name)
        th, result = self.in_background(op, secret_id=name,
                                        client_request_token=mine,
                                        **fields)
        try:
            self.put_waiting()
            lock.proc.stdin.write(sql + ";\n")
            lock.proc.stdin.flush()
        finally:
            lock.release()
        th.join(timeout=60)
        after = self.sealed_first(op)
        return mine, result, {k: after.get(k, 0) - before.get(k, 0)
                              for k in ("true", "false")}

    def joined_ok(self, *runs):
        """Wait for each (thread, result) of in_background: none failed."""
        for th, result in runs:
            th.join(timeout=60)
            self.assertNotIn("error", result)

    def outcomes(self, vid, op="PutSecretValue"):
        return self.sql("SELECT string_agg(outcome, ',' ORDER BY seq) FROM "
                        f"audit_events WHERE operation = '{op}' AND "
                        f"version_id = '{vid}'")

class SealedFirstTest(SealedCase):
    """PutSecretValue seals its value before its transaction, against what
    an unlocked read saw (its basis, migration 0022), and its transaction
    checks that basis again under the row lock.  Each test holds the row
    lock in a psql session while the Put waits on it, changes the secret
    there, and commits: a change the Put depends on sends it back to the
    locked path, which decides it afresh; any other change does not."""

    def test_a_plain_put_seals_first(self):
        """No one in the way: sealed first, the basis holds, one event.
        The secret has tags and a policy: the read's digest of them must
        be the one the check computes under the lock."""
        name = f"sf-{token()[:8]}"
        sm = pb()[0]
        self.call("CreateSecret", name=name, secret_string="first",
                  client_request_token=token(),
                  tags=[sm.Tag(key="b", value="2 \"quoted\""),
                        sm.Tag(key="a", value="1")])
        self.call("PutResourcePolicy", secret_id=name, resource_policy=(
            '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
            '"Principal":{"AWS":"anonymous"},"Action":'
            '"secretsmanager:GetSecretValue","Resource":"*"}]}'))
        before = self.sealed_first()
        vid = token()
        self.call("PutSecretValue", secret_id=name, secret_string="v2",
                  client_request_token=vid)
        after = self.sealed_first()
        self.assertEqual(after["true"] - before.get("true", 0), 1)
        self.assertEqual(after["false"] - before.get("false", 0), 0)
        self.assertEqual(self.outcomes(vid), "OK")

    def test_a_new_key_seals_again_under_it(self):
        """The secret's KMS key changes while the Put, sealed under the old
        one, waits: it seals again under the new key, and the value reads
        back."""
        key = self.new_key()
        name = self.secret()
        mine, result, d = self.put_while_locked(
            name, f"UPDATE secrets SET kms_key_id = 'alias/{key}' "
            f"WHERE name = '{name}'")
        self.assertNotIn("error", result)
        self.assertEqual(d, {"true": 0, "false": 1})
        self.assertEqual(self.sql(
            "SELECT v.kek_label FROM secret_versions v JOIN secrets s ON "
            f"s.uuid = v.secret_uuid WHERE s.name = '{name}' AND "
            f"v.version_id = '{mine}'"), key)
        r = self.call("GetSecretValue", secret_id=name)[0]
        self.assertEqual((r.version_id, r.secret_string), (mine, "mine"))
        self.assertEqual(self.outcomes(mine), "OK")

    def test_a_deletion_refuses_it(self):
        """The secret is scheduled for deletion while the Put waits: the
        Put is refused as it would have been had it come after, nothing
        of it is written, and its one event is the refusal."""
        name = self.secret()
        mine, result, d = self.put_while_locked(
            name, "UPDATE secrets SET deleted_date = now(), purge_after = "
            f"now() + interval '7 days' WHERE name = '{name}'")
        self.assertEqual(result.get("error", ("",))[0],
                         "InvalidRequestException", result)
        self.assertEqual(d, {"true": 0, "false": 1})
        self.assertEqual(self.sql("SELECT count(*) FROM secret_versions "
                                  f"WHERE version_id = '{mine}'"), "0")
        self.assertEqual(self.outcomes(mine), "InvalidRequestException")

    def test_a_same_token_put_wins_first(self):
        """Another Put with the same ClientRequestToken and value commits
        while this one waits: this one becomes its retry (same answer,
        no second version), decided under the lock."""
        name = self.secret()
        mine = token()
        before = self.sealed_first()
        lock = RowLock(self.db, name)
        th1, r1 = self.in_background("PutSecretValue", secret_id=name,
                                     secret_string="same",
                                     client_request_token=mine)
        th2, r2 = self.in_background("PutSecretValue", secret_id=name,
                                     secret_string="same",
                                     client_request_token=mine)
        try:
            self.put_waiting(2)
        finally:
            lock.release()
        self.joined_ok((th1, r1), (th2, r2))
        self.assertEqual(r1["response"].version_id, mine)
        self.assertEqual(list(r1["response"].version_stages),
                         list(r2["response"].version_stages))
        after = self.sealed_first()
        self.assertEqual(after["true"] - before.get("true", 0), 1)
        self.assertEqual(after["false"] - before.get("false", 0), 1)
        self.assertEqual(self.sql("SELECT count(*) FROM secret_versions "
                                  f"WHERE version_id = '{mine}'"), "1")
        self.assertEqual(self.outcomes(mine), "OK,OK")

    def test_what_it_does_not_depend_on_keeps_the_seal(self):
        """A description, LastChangedDate and LastAccessedDate, and
        another version made current, change nothing the Put depends on:
        it commits as sealed, after that version, and takes AWSCURRENT
        from it."""
        name = self.secret()
        other = token()
        mine, result, d = self.put_while_locked(
            name, f"UPDATE secrets SET description = 'changed', "
            "last_changed_date = now(), last_accessed_date = "
            f"{TODAY} - 3 WHERE name = '{name}'; "
            "INSERT INTO secret_versions (secret_uuid, version_id, "
            "value_type, format, kek_label, iv, wrapped_dek, ciphertext) "
            f"SELECT uuid, '{other}', 1, 1, 'x', '\\x00', '\\x00', "
            f"'\\x00' FROM secrets WHERE name = '{name}'; "
            "UPDATE version_stages l SET version_id = "
            f"'{other}' FROM secrets s WHERE s.uuid = l.secret_uuid AND "
            f"s.name = '{name}' AND l.stage = 'AWSCURRENT'")
        self.assertNotIn("error", result)
        self.assertEqual(d, {"true": 1, "false": 0})
        self.assertEqual(self.labels(name), "\n".join(sorted(
            [f"{other}:AWSPREVIOUS", f"{mine}:AWSCURRENT"])))

    def test_the_basis_covers_what_the_put_depends_on(self):
        """Each thing a Put's outcome depends on, changed while the Put
        waits for the lock, sends it back to the locked path; nothing a
        Put or a read changes on its own does.  (The Put's own result is
        not the point here: some changes make it fail.)"""
        def where(name):
            return f"WHERE name = '{name}'"

        def uuid_of(name):
            return f"(SELECT uuid FROM secrets WHERE name = '{name}')"

        changes = {
            "kms key": lambda n: f"UPDATE secrets SET kms_key_id = "
                                 f"'alias/k' {where(n)}",
            "policy": lambda n: "UPDATE secrets SET resource_policy = "
                                f"'{{}}' {where(n)}",
            "rotation": lambda n: "UPDATE secrets SET rotation_enabled = "
                                  f"true {where(n)}",
            "rules": lambda n: "UPDATE secrets SET rotation_rules = "
                               "'{\"AutomaticallyAfterDays\": 3}' "
                               f"{where(n)}",
            "tag": lambda n: "INSERT INTO tags (secret_uuid, key, value, "
                             f"position) SELECT {uuid_of(n)}, 'owner', "
                             "'b', 2",
            "tag value": lambda n: "UPDATE tags SET value = 'b' WHERE "
                                   f"secret_uuid = {uuid_of(n)}",
            "deletion": lambda n: "UPDATE secrets SET deleted_date = "
                                  "now(), purge_after = now() + interval "
                                  f"'7 days' {where(n)}",
            "no AWSCURRENT": lambda n: "DELETE FROM version_stages WHERE "
                                       f"secret_uuid = {uuid_of(n)} AND "
                                       "stage = 'AWSCURRENT'",
        }
        kept = {
            "description": lambda n: "UPDATE secrets SET description = "
                                     f"'d' {where(n)}",
            "dates": lambda n: "UPDATE secrets SET last_changed_date = "
                               "now() + interval '1 s', "
                               f"last_accessed_date = {TODAY} - 9 "
                               f"{where(n)}",
            "rotation lease": lambda n: "UPDATE secrets SET rotation_token "
                                        "= 'x', rotation_step = 2, "
                                        "rotation_attempts = 2 "
                                        f"{where(n)}",
            "label": lambda n: "INSERT INTO version_stages (secret_uuid, "
                               "stage, version_id) SELECT secret_uuid, "
                               "'L', version_id FROM version_stages WHERE "
                               f"secret_uuid = {uuid_of(n)} AND stage = "
                               "'AWSCURRENT'",
        }
        sm = pb()[0]
        for expect, cases in (({"true": 0, "false": 1}, changes),
                              ({"true": 1, "false": 0}, kept)):
            for what, sql in cases.items():
                name = f"sf-{token()[:8]}"
                self.call("CreateSecret", name=name, secret_string="first",
                          client_request_token=token(),
                          tags=[sm.Tag(key="team", value="a")])
                _, result, d = self.put_while_locked(name, lambda _, s=sql,
                                                     n=name: s(n))
                self.assertEqual(d, expect, (what, result))
        # Its own version, made by someone else while it waits.
        name = self.secret()
        _, result, d = self.put_while_locked(name, lambda mine: (
            "INSERT INTO secret_versions (secret_uuid, version_id, "
            "value_type, format, kek_label, iv, wrapped_dek, ciphertext) "
            f"SELECT uuid, '{mine}', 1, 1, 'x', '\\x00', '\\x00', "
            f"'\\x00' FROM secrets WHERE name = '{name}'"))
        self.assertEqual(d, {"true": 0, "false": 1}, result)


class UpdateSealedFirstTest(SealedCase):
    """UpdateSecret with a value and no KmsKeyId writes its version as a
    Put does (engine_seal_first, on the same basis, whose coverage
    SealedFirstTest checks), its description change in the same pipeline;
    with a value and a KmsKeyId it also reseals every version first
    (RekeySealedFirstTest)."""

    def update(self, name, **fields):
        """UpdateSecret of ${name}: (its token, the change in
        coffer_put_sealed_first_total of UpdateSecret)."""
        vid = token()
        before = self.sealed_first("UpdateSecret")
        self.call("UpdateSecret", secret_id=name, client_request_token=vid,
                  **fields)
        after = self.sealed_first("UpdateSecret")
        return vid, {k: after.get(k, 0) - before.get(k, 0)
                     for k in ("true", "false")}

    def test_a_value_and_description_seal_first(self):
        """Both commit with the one event, which names the version; the
        version is AWSCURRENT, the old one AWSPREVIOUS."""
        name = self.secret()
        first = self.sql("SELECT l.version_id FROM version_stages l JOIN "
                         "secrets s ON s.uuid = l.secret_uuid WHERE "
                         f"s.name = '{name}'")
        vid, d = self.update(name, secret_string="second",
                             description="new words")
        self.assertEqual(d, {"true": 1, "false": 0})
        self.assertEqual(self.outcomes(vid, "UpdateSecret"), "OK")
        self.assertEqual(self.sql(
            "SELECT s.description = 'new words' AND s.xmin = e.xmin FROM "
            "secrets s, audit_events e WHERE s.name = "
            f"'{name}' AND e.version_id = '{vid}'"), "t")
        self.assertEqual(self.labels(name), "\n".join(sorted(
            [f"{first}:AWSPREVIOUS", f"{vid}:AWSCURRENT"])))
        r = self.call("GetSecretValue", secret_id=name)[0]
        self.assertEqual((r.version_id, r.secret_string), (vid, "second"))

    def test_a_value_and_a_new_key_seal_first(self):
        """A KmsKeyId with the value: every version is sealed again under
        the key and the value sealed under it, all before the
        transaction (counted as a key change), one event."""
        key = self.new_key()
        name = self.secret()
        rekey = self.sealed_first("UpdateSecret/KmsKeyId")
        vid, d = self.update(name, secret_string="second",
                             kms_key_id=f"alias/{key}")
        self.assertEqual(d, {"true": 0, "false": 0})
        after = self.sealed_first("UpdateSecret/KmsKeyId")
        self.assertEqual(after["true"] - rekey.get("true", 0), 1)
        self.assertEqual(after["false"] - rekey.get("false", 0), 0)
        self.assertEqual(self.sql(
            "SELECT string_agg(DISTINCT v.kek_label, ',') FROM "
            "secret_versions v JOIN secrets s ON s.uuid = v.secret_uuid "
            f"WHERE s.name = '{name}'"), key)
        self.assertEqual(self.outcomes(vid, "UpdateSecret"), "OK")
        r = self.call("GetSecretValue", secret_id=name)[0]
        self.assertEqual((r.version_id, r.secret_string), (vid, "second"))

    def test_a_refusal_after_the_lock_names_no_version(self):
        """Scheduled for deletion while the UpdateSecret waits: refused
        under the lock, and its one event names no version, as a refusal
        under the lock from the start does (nothing was written)."""
        name = self.secret()
        mine, result, d = self.put_while_locked(
            name, "UPDATE secrets SET deleted_date = now(), purge_after = "
            f"now() + interval '7 days' WHERE name = '{name}'",
            op="UpdateSecret", description="late")
        self.assertEqual(result.get("error", ("",))[0],
                         "InvalidRequestException", result)
        self.assertEqual(d, {"true": 0, "false": 1})
        self.assertEqual(self.sql(
            "SELECT count(*) FROM secret_versions WHERE version_id = "
            f"'{mine}'"), "0")
        self.assertEqual(self.sql(
            "SELECT string_agg(outcome || ':' || coalesce(version_id, "
            "'none'), ',') FROM audit_events WHERE operation = "
            f"'UpdateSecret' AND secret_arn LIKE '%:secret:{name}-%'"),
            "InvalidRequestException:none")
        self.assertEqual(self.sql("SELECT description IS NULL FROM "
                                  f"secrets WHERE name = '{name}'"), "t")

    def test_a_new_key_meanwhile_seals_again_under_it(self):
        """The KMS key changes while the UpdateSecret waits: sent back,
        sealed again under the new key, the description written once."""
        key = self.new_key()
        name = self.secret()
        mine, result, d = self.put_while_locked(
            name, f"UPDATE secrets SET kms_key_id = 'alias/{key}' "
            f"WHERE name = '{name}'", op="UpdateSecret",
            description="d2")
        self.assertNotIn("error", result)
        self.assertEqual(d, {"true": 0, "false": 1})
        self.assertEqual(self.sql(
            "SELECT v.kek_label || ':' || s.description FROM "
            "secret_versions v JOIN secrets s ON s.uuid = v.secret_uuid "
            f"WHERE s.name = '{name}' AND v.version_id = '{mine}'"),
            key + ":d2")
        self.assertEqual(self.outcomes(mine, "UpdateSecret"), "OK")


class RekeySealedFirstTest(SealedCase):
    """UpdateSecret with a KmsKeyId (with or without a value) seals every
    version again under the new key before its transaction, against a
    basis that covers the secret as a Put's does and every version with a
    value and its envelope; the transaction checks it under the row lock
    and writes the key, the description, the envelopes, any new version
    and the event in one pipeline.  Whatever interleaves with it, no
    version is left under the old key."""

    CALL = "UpdateSecret/KmsKeyId"

    def versions(self, name, n=2):
        """${name} with ${n} more versions: {version_id: value}."""
        first = token()
        values = {first: "v0"}
        self.call("CreateSecret", name=name, secret_string="v0",
                  client_request_token=first)
        for i in range(1, n + 1):
            vid = token()
            self.call("PutSecretValue", secret_id=name,
                      secret_string=f"v{i}", client_request_token=vid)
            values[vid] = f"v{i}"
        return values

    def keks(self, name):
        """{version_id: kek_label} of ${name}'s versions with a value."""
        out = self.sql("SELECT v.version_id || '|' || v.kek_label FROM "
                       "secret_versions v JOIN secrets s ON s.uuid = "
                       f"v.secret_uuid WHERE s.name = '{name}' AND "
                       "v.value_type <> 0")
        return dict(line.split("|") for line in out.splitlines())

    def reads_back(self, name, values):
        for vid, want in values.items():
            r = self.call("GetSecretValue", secret_id=name,
                          version_id=vid)[0]
            self.assertEqual(r.secret_string, want, vid)

    def delta(self, before):
        after = self.sealed_first(self.CALL)
        return {k: after.get(k, 0) - before.get(k, 0)
                for k in ("true", "false")}

    def opens(self):
        """Values opened in the token so far (DEK cache hits + misses)."""
        with urllib.request.urlopen(
                f"http://127.0.0.1:{self.metrics_port}/metrics",
                timeout=10) as r:
            text = r.read().decode()
        return sum(int(float(n)) for n in re.findall(
            r'^coffer_dek_cache_(?:hits|misses)_total (\S+)$', text, re.M))

    def test_a_new_key_reseals_every_version_first(self):
        """No one in the way: sealed first, the basis holds; every version
        under the new key and readable, the description written, and the
        change and its one event in one transaction."""
        key = self.new_key()
        name = f"rk-{token()[:8]}"
        values = self.versions(name)
        before = self.sealed_first(self.CALL)
        r = self.call("UpdateSecret", secret_id=name,
                      kms_key_id=f"alias/{key}", description="moved")[0]
        self.assertFalse(r.HasField("version_id"))
        self.assertEqual(self.delta(before), {"true": 1, "false": 0})
        self.assertEqual(self.keks(name), {v: key for v in values})
        # Before any read: the first of the day touches the secret's row.
        self.assertEqual(self.sql(
            "SELECT s.description || ' ' || s.kms_key_id || ' ' || "
            "(s.xmin = e.xmin)::text || ' ' || e.outcome FROM secrets s, "
            f"audit_events e WHERE s.name = '{name}' AND e.operation = "
            f"'UpdateSecret' AND e.secret_arn = s.arn"),
            f"moved alias/{key} true OK")
        self.reads_back(name, values)

    def test_a_put_meanwhile_leaves_nothing_under_the_old_key(self):
        """A Put to the secret waits on the row lock behind the key
        change (alone, or with a value of its own): whichever commits
        first, the other's basis has changed and it runs again under the
        lock, so the new version ends under the new key too, and every
        value reads back."""
        for with_value in (False, True):
            key = self.new_key()
            name = f"rk-{token()[:8]}"
            values = self.versions(name)
            mine, own = token(), token()
            values[mine] = "late"
            fields = {}
            if with_value:
                fields = {"secret_string": "own",
                          "client_request_token": own}
                values[own] = "own"
            rekey0 = self.sealed_first(self.CALL)
            put0 = self.sealed_first()
            lock = RowLock(self.db, name)
            th1, r1 = self.in_background("UpdateSecret", secret_id=name,
                                         kms_key_id=f"alias/{key}",
                                         **fields)
            try:
                self.put_waiting(1)
                th2, r2 = self.in_background(
                    "PutSecretValue", secret_id=name, secret_string="late",
                    client_request_token=mine)
                self.put_waiting(2)
            finally:
                lock.release()
            self.joined_ok((th1, r1), (th2, r2))
            rekey, put = self.delta(rekey0), self.sealed_first()
            put = {k: put.get(k, 0) - put0.get(k, 0)
                   for k in ("true", "false")}
            self.assertEqual(rekey["true"] + rekey["false"], 1, rekey)
            self.assertEqual(put["true"] + put["false"], 1, put)
            self.assertEqual(rekey["false"] + put["false"], 1, (rekey, put))
            self.assertEqual(self.keks(name), {v: key for v in values})
            self.reads_back(name, values)

    def test_a_version_added_meanwhile_is_not_left_behind(self):
        """A version appears under the old key while the call waits (here
        one whose envelope cannot be opened): the basis changed, so the
        call is decided again under the lock, where it finds that version
        and, unable to open it, moves nothing, rather than committing
        with a version left under the old key."""
        key = self.new_key()
        name = f"rk-{token()[:8]}"
        values = self.versions(name)
        old = set(self.keks(name).values())
        self.assertEqual(len(old), 1)
        extra = token()
        before = self.sealed_first(self.CALL)
        _, result, _ = self.put_while_locked(
            name, "INSERT INTO secret_versions (secret_uuid, version_id, "
            "value_type, format, kek_label, iv, wrapped_dek, ciphertext) "
            f"SELECT uuid, '{extra}', 1, 1, '{next(iter(old))}', '\\x00', "
            f"'\\x00', '\\x00' FROM secrets WHERE name = '{name}'",
            op="UpdateSecret", kms_key_id=f"alias/{key}",
            secret_string=None)
        self.assertEqual(self.delta(before), {"true": 0, "false": 1})
        self.assertIn("error", result)
        self.assertEqual(set(self.keks(name).values()), old)
        self.assertEqual(self.sql(
            "SELECT kms_key_id IS NULL FROM secrets WHERE name = "
            f"'{name}'"), "t")
        self.reads_back(name, values)

    def test_the_basis_covers_the_versions(self):
        """A version removed, a tag added or a deletion while the call
        waits sends it back to the lock; a description, the dates, a
        label and a read's LastAccessedDate do not.  Either way every
        version that is left ends under the new key, and each was opened
        once: the lock reuses what the first attempt sealed again."""
        def uuid_of(name):
            return f"(SELECT uuid FROM secrets WHERE name = '{name}')"

        changes = {
            "version removed": lambda n, old: "DELETE FROM "
                "secret_versions WHERE version_id = "
                f"'{old}' AND secret_uuid = {uuid_of(n)}",
            "tag": lambda n, old: "INSERT INTO tags (secret_uuid, key, "
                f"value, position) SELECT {uuid_of(n)}, 'owner', 'b', 1",
            "deletion": lambda n, old: "UPDATE secrets SET deleted_date = "
                "now(), purge_after = now() + interval '7 days' WHERE "
                f"name = '{n}'",
        }
        kept = {
            "description": lambda n, old: "UPDATE secrets SET description "
                f"= 'd' WHERE name = '{n}'",
            "dates": lambda n, old: "UPDATE secrets SET last_changed_date "
                f"= now() + interval '1 s', last_accessed_date = {TODAY} - "
                f"9 WHERE name = '{n}'",
            "label": lambda n, old: "INSERT INTO version_stages "
                "(secret_uuid, stage, version_id) VALUES "
                f"({uuid_of(n)}, 'L', '{old}')",
            "read": lambda n, old: "UPDATE secret_versions SET "
                f"last_accessed_date = {TODAY} - 9 WHERE secret_uuid = "
                f"{uuid_of(n)}",
        }
        key = self.new_key()
        for expect, cases in (({"true": 0, "false": 1}, changes),
                              ({"true": 1, "false": 0}, kept)):
            for what, sql in cases.items():
                name = f"rk-{token()[:8]}"
                values = self.versions(name)
                old = next(iter(values))  # unlabelled by now
                before = self.sealed_first(self.CALL)
                opened = self.opens()
                _, result, _ = self.put_while_locked(
                    name, lambda _, s=sql, n=name, o=old: s(n, o),
                    op="UpdateSecret", kms_key_id=f"alias/{key}",
                    secret_string=None)
                self.assertEqual(self.delta(before), expect,
                                 (what, result))
                self.assertEqual(self.opens() - opened, len(values), what)
                if what == "deletion":
                    self.assertEqual(result["error"][0],
                                     "InvalidRequestException")
                    continue
                self.assertNotIn("error", result, what)
                if what == "version removed":
                    del values[old]
                self.assertEqual(self.keks(name), {v: key for v in values},
                                 what)
                self.reads_back(name, values)


if __name__ == "__main__":
    unittest.main()
