"""End-to-end tests of AWS's JSON protocol (issue 15): unmodified AWS
clients against a real cofferd's HTTPS listener (aws_listen).

Clients: boto3 (Debian's python3-boto3), the aws CLI (Debian's awscli,
/usr/bin/aws) and the AWS SDK for JavaScript v3 (tests/e2e/js, from npm).
Attacks on the signature are made with botocore's own signer and then
altered, so that every refused request differs from an accepted one in
exactly the way each test names.

Who may call, and what each can do here:
- no access key (or an unknown, inactive or deleted one): refused with
  AWS's exception, counted in the refusal summaries, nothing served;
- an access key of principal P: exactly P's rights over gRPC (identity
  and resource policies), every call audited under P;
- Coffer's own services (access keys, policies, the audit) are not
  served over this protocol at all: an access key cannot make keys.
"""
import base64
import datetime
import hashlib
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
from unittest import mock

import boto3
import botocore
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
import grpc

from tests.e2e import harness as h
from tests.e2e.harness import error_type, pb, token

AK = "/coffer.v1.AccessKeys/"
IDP = "/coffer.v1.IdentityPolicies/"
SM = "/coffer.v1.SecretsManager/"
REGION = "local-1"
A = "spiffe://coffer.test/ns/prod/sa/alpha"
JS = os.path.join(h.ROOT, "tests", "e2e", "js")


def setUpModule():
    pb()


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


class Caller(h.Caller):
    def fails(self, op, service=SM, **fields):
        try:
            self.call(op, service=service, **fields)
        except grpc.RpcError as e:
            return error_type(e), e.details()
        raise AssertionError(f"{op} {fields} succeeded")


class AwsCase(unittest.TestCase):
    # Seconds a connection may idle or stall (WireTest's half-sent request).
    aws_timeout = "3"

    @classmethod
    def setUpClass(cls):
        cls.pki = h.Certs()
        cls.db = h.fresh_database("awsapi")
        cls.aws_port = h.free_port()
        cls.server = h.Server(cls.db, tls=cls.pki, extra_env={
            "COFFER_AWS_LISTEN": f"127.0.0.1:{cls.aws_port}",
            "COFFER_AWS_TIMEOUT": cls.aws_timeout,
            "COFFER_REFUSAL_AUDIT_INTERVAL": "1",
        }).start()
        cls.url = f"https://127.0.0.1:{cls.aws_port}"
        cls.ca = cls.pki.ca + ".pem"
        cls.admin = Caller(cls.server, cls.server.admin_cert)
        cls.a_cert = cls.pki.client("alpha", A)
        cls.a = Caller(cls.server, cls.a_cert)
        cls.admin_key = cls.make_key(h.ADMIN)
        cls.a_key = cls.make_key(A)

    @classmethod
    def tearDownClass(cls):
        cls.admin.close()
        cls.a.close()
        rc = cls.server.stop()
        cls.pki.destroy()
        if rc != 0:
            raise AssertionError(f"cofferd exited {rc}:\n{cls.server.output()}")

    @classmethod
    def make_key(cls, principal):
        k = cls.admin.call("CreateAccessKey", AK, principal=principal).access_key
        return k.access_key_id, k.secret_access_key

    def client(self, key=None, region=REGION):
        key = key or self.admin_key
        c = boto3.client(
            "secretsmanager", endpoint_url=self.url, region_name=region,
            aws_access_key_id=key[0], aws_secret_access_key=key[1],
            verify=self.ca, config=Config(retries={"max_attempts": 1}))
        self.addCleanup(c.close)
        return c

    def name(self, base):
        return f"aws/{base}-{self._testMethodName}-{token()[:8]}"

    def code(self, fn, **kw):
        """The error code and message ${fn}(**kw) fails with (it must fail)."""
        try:
            fn(**kw)
        except ClientError as e:
            return (e.response["Error"]["Code"], e.response["Error"].get("Message", ""),
                    e.response["ResponseMetadata"]["HTTPStatusCode"])
        raise AssertionError(f"{fn.__name__} {kw} succeeded")

    def mark(self):
        return h.audit_after(h.audit_mark(self.db))

    def audit_rows(self, where):
        out = h.psql(h.admin(self.db), "SELECT principal, operation, outcome, "
                     "peer, request_id FROM audit_events WHERE " + where +
                     " ORDER BY " + h.AUDIT_ORDER)
        return [r.split("|") for r in out.splitlines()] if out else []

    # ---- raw requests, signed by botocore and then altered ----

    def signed(self, op, body, key=None, region=REGION, when=None,
               sign_target=True, extra=None):
        """(headers, body) of a request for ${op}, signed by botocore's
        SigV4Auth as an SDK signs it."""
        key = key or self.admin_key
        headers = {"Content-Type": "application/x-amz-json-1.1",
                   "Host": f"127.0.0.1:{self.aws_port}"}
        if sign_target:
            headers["X-Amz-Target"] = "secretsmanager." + op
        headers.update(extra or {})
        req = AWSRequest(method="POST", url=self.url + "/", data=body,
                         headers=headers)
        signer = SigV4Auth(Credentials(key[0], key[1]), "secretsmanager", region)
        if when is None:
            signer.add_auth(req)
        else:
            with mock.patch.object(botocore.auth, "datetime") as fake:
                fake.datetime.utcnow.return_value = when
                fake.datetime.now.return_value = when
                fake.datetime.strptime = datetime.datetime.strptime
                signer.add_auth(req)
        out = dict(req.headers.items())
        if not sign_target:
            out["X-Amz-Target"] = "secretsmanager." + op
        return out, body

    def send(self, headers, body, method="POST", path="/"):
        """(status, headers, JSON body) of one raw HTTPS request."""
        ctx = ssl.create_default_context(cafile=self.ca)
        conn = http.client.HTTPSConnection("127.0.0.1", self.aws_port,
                                           context=ctx, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, \
                (json.loads(data) if data else None)
        finally:
            conn.close()


class ClientsTest(AwsCase):
    """boto3, the aws CLI and the JavaScript SDK, unmodified."""

    def test_boto3_round_trip(self):
        sm = self.client()
        name = self.name("boto3")
        r = sm.create_secret(Name=name, SecretString="hunter2",
                             Description="d", Tags=[{"Key": "team", "Value": "x"}])
        self.assertTrue(r["ARN"].startswith("arn:aws:secretsmanager:local-1:"), r)
        self.assertEqual(r["Name"], name)
        v1 = r["VersionId"]
        # The request id is the one audited.
        rid = r["ResponseMetadata"]["RequestId"]
        self.assertRegex(rid, r"^[0-9a-f-]{36}$")
        rows = self.audit_rows(f"request_id = '{rid}'")
        self.assertEqual([row[:3] for row in rows], [[h.ADMIN, "CreateSecret", "OK"]])

        g = sm.get_secret_value(SecretId=name)
        self.assertEqual(g["SecretString"], "hunter2")
        self.assertEqual(g["VersionId"], v1)
        self.assertIsInstance(g["CreatedDate"], datetime.datetime)
        self.assertLess(abs(g["CreatedDate"].timestamp() - time.time()), 600)

        p = sm.put_secret_value(SecretId=name, SecretBinary=b"\x00\x01\xff")
        self.assertEqual(p["VersionStages"], ["AWSCURRENT"])
        g = sm.get_secret_value(SecretId=name)
        self.assertEqual(g["SecretBinary"], b"\x00\x01\xff")
        self.assertNotIn("SecretString", g)
        prev = sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")
        self.assertEqual(prev["SecretString"], "hunter2")

        d = sm.describe_secret(SecretId=name)
        self.assertEqual(d["Description"], "d")
        self.assertEqual(d["Tags"], [{"Key": "team", "Value": "x"}])
        self.assertEqual(sorted(map(tuple, d["VersionIdsToStages"].values())),
                         [("AWSCURRENT",), ("AWSPREVIOUS",)])
        self.assertIsInstance(d["LastChangedDate"], datetime.datetime)

        # Paginators follow NextToken.
        for i in range(3):
            sm.create_secret(Name=f"{name}/p{i}", SecretString="x")
        pages = list(sm.get_paginator("list_secrets").paginate(
            Filters=[{"Key": "name", "Values": [name + "/p"]}],
            PaginationConfig={"PageSize": 1}))
        self.assertGreaterEqual(len(pages), 3)
        self.assertEqual(sorted(s["Name"] for p in pages for s in p["SecretList"]),
                         [f"{name}/p{i}" for i in range(3)])
        ids = sm.list_secret_version_ids(SecretId=name)["Versions"]
        self.assertEqual(len(ids), 2)

        sm.tag_resource(SecretId=name, Tags=[{"Key": "env", "Value": "t"}])
        sm.untag_resource(SecretId=name, TagKeys=["team"])
        self.assertEqual(sm.describe_secret(SecretId=name)["Tags"],
                         [{"Key": "env", "Value": "t"}])
        pw = sm.get_random_password(PasswordLength=20, ExcludePunctuation=True)
        self.assertRegex(pw["RandomPassword"], r"^[A-Za-z0-9]{20}$")
        # Debian's botocore (1.29) predates BatchGetSecretValue: signed by
        # hand, as a newer SDK sends it.
        hd, body = self.signed("BatchGetSecretValue", json.dumps(
            {"SecretIdList": [name, name + "/none"]}))
        status, _, b = self.send(hd, body)
        self.assertEqual(status, 200, b)
        self.assertEqual([s["Name"] for s in b["SecretValues"]], [name])
        self.assertEqual(base64.b64decode(b["SecretValues"][0]["SecretBinary"]),
                         b"\x00\x01\xff")
        self.assertIsInstance(b["SecretValues"][0]["CreatedDate"], float)
        self.assertEqual([e["ErrorCode"] for e in b["Errors"]],
                         ["ResourceNotFoundException"])

        dl = sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
        self.assertIsInstance(dl["DeletionDate"], datetime.datetime)
        self.assertEqual(sm.restore_secret(SecretId=name)["Name"], name)
        sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        self.assertEqual(self.code(sm.describe_secret, SecretId=name)[0],
                         "ResourceNotFoundException")

    def test_boto3_every_other_operation(self):
        """The operations test_boto3_round_trip leaves out, through boto3."""
        sm = self.client()
        name = self.name("ops")
        arn = sm.create_secret(Name=name, SecretString="v1")["ARN"]
        u = sm.update_secret(SecretId=name, Description="new", SecretString="v2")
        self.assertEqual((u["ARN"], u["Name"]), (arn, name))
        v2 = u["VersionId"]
        self.assertEqual(sm.describe_secret(SecretId=name)["Description"], "new")
        v3 = sm.put_secret_value(SecretId=name, SecretString="v3",
                                 VersionStages=["STAGED"])["VersionId"]
        sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT",
                                       MoveToVersionId=v3, RemoveFromVersionId=v2)
        self.assertEqual(sm.get_secret_value(SecretId=name)["SecretString"], "v3")
        policy = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": A},
            "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})
        self.assertTrue(sm.validate_resource_policy(ResourcePolicy=policy)
                        ["PolicyValidationPassed"])
        sm.put_resource_policy(SecretId=name, ResourcePolicy=policy)
        self.assertEqual(json.loads(sm.get_resource_policy(SecretId=name)
                                    ["ResourcePolicy"]), json.loads(policy))
        sm.delete_resource_policy(SecretId=name)
        self.assertNotIn("ResourcePolicy", sm.get_resource_policy(SecretId=name))
        r = sm.rotate_secret(SecretId=name, RotationLambdaARN="builtin:password",
                             RotationRules={"AutomaticallyAfterDays": 30},
                             RotateImmediately=False)
        self.assertEqual(r["ARN"], arn)
        self.assertTrue(sm.describe_secret(SecretId=name)["RotationEnabled"])
        sm.cancel_rotate_secret(SecretId=name)
        self.assertFalse(sm.describe_secret(SecretId=name).get("RotationEnabled", False))
        self.assertEqual(self.code(sm.replicate_secret_to_regions, SecretId=name,
                                   AddReplicaRegions=[{"Region": "us-east-2"}])[0],
                         "InvalidRequestException")
        sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)

    def test_boto3_errors_are_the_grpc_errors(self):
        """Validation is the gRPC path's own: the same exception and the
        same words, over both protocols."""
        sm = self.client()
        name = self.name("errors")
        sm.create_secret(Name=name, SecretString="v")
        cases = [
            ("get_secret_value", {"SecretId": name + "-missing"},
             "GetSecretValue", {"secret_id": name + "-missing"}),
            ("create_secret", {"Name": name, "SecretString": "v"},
             "CreateSecret", {"name": name, "secret_string": "v",
                              "client_request_token": token()}),
            ("create_secret", {"Name": "bad name!", "SecretString": "v"},
             "CreateSecret", {"name": "bad name!", "secret_string": "v",
                              "client_request_token": token()}),
            ("put_secret_value", {"SecretId": name, "SecretString": "a",
                                  "SecretBinary": b"b"},
             "PutSecretValue", {"secret_id": name, "secret_string": "a",
                                "secret_binary": b"b",
                                "client_request_token": token()}),
            ("update_secret_version_stage", {"SecretId": name,
                                             "VersionStage": "AWSCURRENT"},
             "UpdateSecretVersionStage", {"secret_id": name,
                                          "version_stage": "AWSCURRENT"}),
            ("get_random_password", {"PasswordLength": 4097},
             "GetRandomPassword", {"password_length": 4097}),
        ]
        for method, kw, op, fields in cases:
            with self.subTest(method=method, kw=kw):
                code, msg, status = self.code(getattr(sm, method), **kw)
                gcode, gmsg = self.admin.fails(op, **fields)
                self.assertEqual((code, msg), (gcode, gmsg))
                self.assertEqual(status, 400)

    def test_aws_cli(self):
        """Debian's aws CLI with AWS's own config and credentials files."""
        d = tempfile.mkdtemp(prefix="coffer-awscli-")
        self.addCleanup(shutil.rmtree, d, True)
        with open(os.path.join(d, "config"), "w") as f:
            f.write(f"[profile coffer-dev]\nregion = {REGION}\noutput = json\n")
        with open(os.path.join(d, "credentials"), "w") as f:
            f.write(f"[coffer-dev]\naws_access_key_id = {self.admin_key[0]}\n"
                    f"aws_secret_access_key = {self.admin_key[1]}\n")
        env = {"PATH": "/usr/bin:/bin", "HOME": d, "LANG": "C.UTF-8",
               "AWS_CONFIG_FILE": os.path.join(d, "config"),
               "AWS_SHARED_CREDENTIALS_FILE": os.path.join(d, "credentials"),
               "AWS_CA_BUNDLE": self.ca, "AWS_MAX_ATTEMPTS": "1"}

        def aws(*args):
            return subprocess.run(["/usr/bin/aws", "--profile", "coffer-dev",
                                   "--endpoint-url", self.url, "secretsmanager",
                                   *args], env=env, capture_output=True,
                                  text=True, timeout=120)

        name = self.name("cli")
        r = aws("create-secret", "--name", name, "--secret-string", "s3cret")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["Name"], name)
        r = aws("get-secret-value", "--secret-id", name)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["SecretString"], "s3cret")
        r = aws("list-secrets", "--filters", f"Key=name,Values={name}")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([s["Name"] for s in json.loads(r.stdout)["SecretList"]], [name])
        r = aws("get-secret-value", "--secret-id", name + "-missing")
        self.assertEqual(r.returncode, 254, r.stderr)
        self.assertIn("(ResourceNotFoundException)", r.stderr)
        r = aws("delete-secret", "--secret-id", name, "--force-delete-without-recovery")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_javascript_sdk(self):
        """The AWS SDK for JavaScript v3 (tests/e2e/js/sdk_check.mjs)."""
        if not os.path.isdir(os.path.join(JS, "node_modules")):
            # ci/test installs it (npm ci); a missing install is a failure.
            self.fail(f"{JS}/node_modules is missing: run npm ci there")
        env = dict(os.environ)
        env.update({"COFFER_AWS_ENDPOINT": self.url,
                    "AWS_ACCESS_KEY_ID": self.admin_key[0],
                    "AWS_SECRET_ACCESS_KEY": self.admin_key[1],
                    "AWS_REGION": REGION, "NODE_EXTRA_CA_CERTS": self.ca,
                    "COFFER_SECRET_PREFIX": self.name("js")})
        for k in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            env.pop(k, None)
        r = subprocess.run(["node", os.path.join(JS, "sdk_check.mjs")], env=env,
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("sdk_check: OK 13 steps", r.stdout)


class RightsTest(AwsCase):
    """A key's principal has exactly its gRPC rights."""

    def test_same_rights_as_grpc(self):
        admin = self.client()
        mine, other = self.name("mine"), self.name("other")
        arn = admin.create_secret(Name=mine, SecretString="m")["ARN"]
        admin.create_secret(Name=other, SecretString="o")
        alpha = self.client(self.a_key)
        mark = self.mark()

        # No policy: denied over both.
        self.assertEqual(self.code(alpha.get_secret_value, SecretId=mine)[0],
                         "AccessDeniedException")
        self.assertEqual(self.a.fails("GetSecretValue", secret_id=mine)[0],
                         "AccessDeniedException")

        # An identity policy for one secret: that one over both, not the other.
        self.admin.call("PutIdentityPolicy", IDP, principal=A, policy_name="p",
                        policy_document=doc({"Effect": "Allow",
                                             "Action": "secretsmanager:GetSecretValue",
                                             "Resource": arn}))
        self.addCleanup(self.admin.call, "DeleteIdentityPolicy", IDP,
                        principal=A, policy_name="p")
        h.until(lambda: self.a.call("GetSecretValue", secret_id=mine).secret_string == "m",
                "the policy reaches the server")
        self.assertEqual(alpha.get_secret_value(SecretId=mine)["SecretString"], "m")
        for fn, kw in ((alpha.get_secret_value, {"SecretId": other}),
                       (alpha.put_secret_value, {"SecretId": mine, "SecretString": "x"}),
                       (alpha.delete_secret, {"SecretId": mine}),
                       (alpha.list_secrets, {})):
            with self.subTest(fn=fn.__name__):
                self.assertEqual(self.code(fn, **kw)[0], "AccessDeniedException")
        self.assertEqual(admin.get_secret_value(SecretId=mine)["SecretString"], "m")

        # Audited under the key's principal, denials included.
        rows = self.audit_rows(mark + f" AND principal = '{A}'")
        ops = [(r[1], r[2]) for r in rows]
        self.assertIn(("GetSecretValue", "OK"), ops)
        self.assertIn(("PutSecretValue", "AccessDeniedException"), ops)
        self.assertIn(("DeleteSecret", "AccessDeniedException"), ops)
        self.assertIn(("ListSecrets", "AccessDeniedException"), ops)

        # Each event names the transport that carried it, and a JSON call
        # the access key that signed it; a gRPC call names none.
        rows = self.audit_transports(mark + f" AND principal = '{A}'")
        for op, outcome, transport, key in rows:
            self.assertEqual(key, self.a_key[0] if transport == "aws-json" else None,
                             (op, outcome, transport, key))
        self.assertEqual({(r[0], r[2]) for r in rows if r[0] != "GetSecretValue"},
                         {("PutSecretValue", "aws-json"), ("DeleteSecret", "aws-json"),
                          ("ListSecrets", "aws-json")})
        self.assertEqual({(r[2], r[3]) for r in rows if r[0] == "GetSecretValue"},
                         {("grpc", None), ("aws-json", self.a_key[0])})

    def audit_transports(self, where):
        """(operation, outcome, transport, access_key_id) of the events
        matching ${where}, NULL as None."""
        out = h.psql(h.admin(self.db), "SELECT json_agg(json_build_array(operation, "
                     "outcome, transport, access_key_id) ORDER BY " + h.AUDIT_ORDER +
                     ") FROM audit_events WHERE " + where)
        return [tuple(r) for r in json.loads(out or "null") or []]

    def verify(self):
        """coffer audit verify (online, as the admin): (exit status, report)."""
        cert = self.server.admin_cert
        r = subprocess.run([os.path.join(h.BUILD, "coffer"), "--endpoint-url",
                            self.server.url(), "--ca-bundle", self.ca, "--cert",
                            cert[0], "--key", cert[1], "audit", "verify"],
                           capture_output=True, text=True, timeout=120)
        return r.returncode, json.loads(r.stdout), r.stderr

    def tamper(self, q):
        """${q} as the table's owner, with the append-only trigger off (as
        tests/e2e/test_audit.py tampers)."""
        h.psql(h.admin(self.db), "SET session_replication_role = replica; " + q)

    def test_audit_names_transport_and_key(self):
        """audit/DESIGN.md: the transport and the access key id are in the
        event, covered by its hash (format v3); CreateAccessKey's event
        names the key it made."""
        rid_json = self.client().list_secrets()["ResponseMetadata"]["RequestId"]
        sm, _ = pb()
        _, md, _ = self.server.call("ListSecrets", sm.ListSecretsRequest())
        rid_grpc = dict(md)["coffer-request-id"]

        def row(rid):
            out = h.psql(h.admin(self.db), "SELECT row_to_json(e) FROM audit_events e "
                         f"WHERE request_id = '{rid}'")
            self.assertEqual(len(out.splitlines()), 1, out)
            return json.loads(out)
        j, g = row(rid_json), row(rid_grpc)
        self.assertEqual((j["principal"], j["transport"], j["access_key_id"]),
                         (h.ADMIN, "aws-json", self.admin_key[0]))
        self.assertEqual((g["principal"], g["transport"], g["access_key_id"]),
                         (h.ADMIN, "grpc", None))

        # The key a CreateAccessKey made is in its event's parameters.
        made = h.psql(h.admin(self.db), "SELECT principal || '|' || transport || '|' || "
                      "request_params FROM audit_events WHERE operation = "
                      "'CreateAccessKey' AND outcome = 'OK' AND "
                      f"(request_params::jsonb) ->> 'AccessKeyId' = '{self.a_key[0]}'")
        who, transport, params = made.split("|", 2)
        self.assertEqual((who, transport, json.loads(params)),
                         (h.ADMIN, "grpc", {"Principal": A, "AccessKeyId": self.a_key[0]}))

        # Intact: verify passes.  Then each edit breaks its event's chain
        # there, and only there; put back, the trail verifies again.
        rc, report, err = self.verify()
        self.assertEqual((rc, report["Ok"]), (0, True), report)
        for what, r, edit, undo in (
                ("transport", g, "transport = 'aws-json'", "transport = 'grpc'"),
                ("access key id", j, f"access_key_id = '{self.a_key[0]}'",
                 f"access_key_id = '{self.admin_key[0]}'")):
            with self.subTest(edited=what):
                where = f" WHERE chain_id = '{r['chain_id']}' AND seq = {r['seq']}"
                self.tamper("UPDATE audit_events SET " + edit + where)
                try:
                    rc, report, err = self.verify()
                finally:
                    self.tamper("UPDATE audit_events SET " + undo + where)
                self.assertEqual((rc, report["Ok"]), (1, False), report)
                broken = [c for c in report["Chains"] if not c["Ok"]]
                self.assertEqual([(c["ChainId"], c["BrokenSequence"]) for c in broken],
                                 [(r["chain_id"], r["seq"])], report)
                self.assertIn("altered", broken[0]["Reason"])
                self.assertIn(f"audit chain {r['chain_id']} is broken at event "
                              f"{r['seq']}", err)
        rc, report, err = self.verify()
        self.assertEqual((rc, report["Ok"]), (0, True), report)

    def test_coffer_services_are_not_served(self):
        """An access key cannot reach Coffer's own services: not even the
        admin's key can make keys or policies over this protocol."""
        for op, body in (("CreateAccessKey", {"Principal": A}),
                         ("PutIdentityPolicy", {"Principal": A, "PolicyName": "x",
                                                "PolicyDocument": "{}"}),
                         ("ListAuditEvents", {}), ("Check", {}),
                         ("Health/Check", {})):
            with self.subTest(op=op):
                hd, b = self.signed(op, json.dumps(body))
                status, rh, out = self.send(hd, b)
                self.assertEqual((status, out["__type"]),
                                 (400, "UnknownOperationException"), out)
                self.assertEqual(rh["x-amzn-errortype"], "UnknownOperationException")
        keys = self.admin.call("ListAccessKeys", AK, principal=A).access_key_metadata
        self.assertEqual(len(keys), 1)

    def test_inactive_and_deleted_keys(self):
        k = self.make_key("spiffe://coffer.test/ns/prod/sa/temp")
        sm = self.client(k)
        self.assertEqual(self.code(sm.list_secrets)[0], "AccessDeniedException")
        self.admin.call("UpdateAccessKey", AK, access_key_id=k[0], status="Inactive")
        self.assertEqual(self.code(sm.list_secrets)[:1], ("UnrecognizedClientException",))
        self.admin.call("UpdateAccessKey", AK, access_key_id=k[0], status="Active")
        self.assertEqual(self.code(sm.list_secrets)[0], "AccessDeniedException")
        self.admin.call("DeleteAccessKey", AK, access_key_id=k[0])
        self.assertEqual(self.code(sm.list_secrets)[0], "UnrecognizedClientException")


class SignatureTest(AwsCase):
    """Every way a request can be forged or replayed is refused, counted in
    the refusal summaries, and serves nothing."""

    def test_attacks(self):
        admin = self.client()
        name = self.name("target")
        admin.create_secret(Name=name, SecretString="original")
        put = json.dumps({"SecretId": name, "SecretString": "forged",
                          "ClientRequestToken": token()})
        wrong_secret = (self.admin_key[0], "x" * 40)
        now = datetime.datetime.utcnow()
        mark = self.mark()

        def tampered_body():
            hd, _ = self.signed("PutSecretValue", put)
            return hd, put.replace("forged", "forgeD")

        def retargeted():
            hd, b = self.signed("GetSecretValue", json.dumps({"SecretId": name}))
            hd["X-Amz-Target"] = "secretsmanager.DeleteSecret"
            return hd, json.dumps({"SecretId": name})

        def unsigned_auth():
            hd, b = self.signed("PutSecretValue", put)
            del hd["Authorization"]
            return hd, b

        def bad_payload_hash():
            return self.signed("PutSecretValue", put, extra={
                "X-Amz-Content-SHA256": hashlib.sha256(b"{}").hexdigest()})

        attacks = [
            ("no Authorization", unsigned_auth, "MissingAuthenticationTokenException", 403),
            ("wrong secret", lambda: self.signed("PutSecretValue", put, key=wrong_secret),
             "InvalidSignatureException", 400),
            ("unknown key", lambda: self.signed(
                "PutSecretValue", put, key=("CKIA" + "A" * 16, "y" * 40)),
             "UnrecognizedClientException", 400),
            ("body changed after signing", tampered_body, "InvalidSignatureException", 400),
            ("target changed after signing", retargeted, "InvalidSignatureException", 400),
            ("target not signed", lambda: self.signed("PutSecretValue", put,
                                                      sign_target=False),
             "IncompleteSignatureException", 400),
            ("another region", lambda: self.signed("PutSecretValue", put,
                                                   region="us-east-1"),
             "InvalidSignatureException", 400),
            ("20 minutes old", lambda: self.signed(
                "PutSecretValue", put, when=now - datetime.timedelta(minutes=20)),
             "InvalidSignatureException", 400),
            ("20 minutes ahead", lambda: self.signed(
                "PutSecretValue", put, when=now + datetime.timedelta(minutes=20)),
             "InvalidSignatureException", 400),
            ("payload hash of another body", bad_payload_hash,
             "InvalidSignatureException", 400),
        ]
        for what, make, want, status in attacks:
            with self.subTest(what):
                hd, b = make()
                got, rh, out = self.send(hd, b)
                self.assertEqual((got, out["__type"]), (status, want), out)
                self.assertEqual(rh["x-amzn-errortype"], want)
                self.assertRegex(rh["x-amzn-requestid"], r"^[0-9a-f-]{36}$")

        # A presigned URL is refused, and so is anything but POST /.
        hd, b = self.signed("GetSecretValue", json.dumps({"SecretId": name}))
        got, _, out = self.send(hd, b, path="/?X-Amz-Signature=00")
        self.assertEqual((got, out["__type"]), (400, "IncompleteSignatureException"))
        got, _, out = self.send(hd, b, method="PUT")
        self.assertEqual((got, out["__type"]), (400, "UnknownOperationException"))

        # Nothing was served: one version, never deleted, the original value.
        self.assertEqual(admin.get_secret_value(SecretId=name)["SecretString"],
                         "original")
        d = admin.describe_secret(SecretId=name)
        self.assertEqual(len(d["VersionIdsToStages"]), 1)
        self.assertNotIn("DeletedDate", d)

        # Counted, not audited one by one: summaries per kind and second.
        n = len(attacks) + 2
        deadline = time.time() + 15
        while True:
            rows = self.audit_rows(mark + " AND principal = 'unauthenticated'")
            total = sum(int(r[3].rsplit("=", 1)[1]) for r in rows)
            if total >= n or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(total, n, rows)
        self.assertTrue(all(r[3].startswith("ipv4:127.0.0.1; count=") for r in rows), rows)
        outcomes = {(r[1], r[2]) for r in rows}
        self.assertIn(("PutSecretValue", "InvalidSignatureException"), outcomes)
        self.assertIn(("PutSecretValue", "UnrecognizedClientException"), outcomes)
        self.assertIn(("PutSecretValue", "MissingAuthenticationTokenException"), outcomes)
        self.assertIn(("DeleteSecret", "InvalidSignatureException"), outcomes)
        # No authenticated PutSecretValue or DeleteSecret happened.
        served = [r for r in self.audit_rows(mark) if r[0] != "unauthenticated"
                  and r[1] in ("PutSecretValue", "DeleteSecret")]
        self.assertEqual(served, [])


class WireTest(AwsCase):
    """Bodies and headers that are not what AWS's protocol says."""

    def test_bad_bodies(self):
        name = self.name("wire")
        self.client().create_secret(Name=name, SecretString="v")
        cases = [
            ("not JSON", "PutSecretValue", '{"SecretId": ', "SerializationException"),
            ("not an object", "GetSecretValue", "[1]", "SerializationException"),
            ("wrong type", "GetSecretValue", json.dumps({"SecretId": 5}),
             "SerializationException"),
            ("duplicate member", "GetSecretValue",
             '{"SecretId": "a", "SecretId": "b"}', "SerializationException"),
            ("bad base64", "PutSecretValue", json.dumps(
                {"SecretId": name, "SecretBinary": "!!",
                 "ClientRequestToken": token()}), "SerializationException"),
            ("NUL in a string", "GetSecretValue",
             json.dumps({"SecretId": name + "\u0000x"}), "InvalidParameterException"),
            ("unknown operation", "GetSecretValues", "{}", "UnknownOperationException"),
        ]
        for what, op, body, want in cases:
            with self.subTest(what):
                hd, b = self.signed(op, body)
                status, rh, out = self.send(hd, b)
                self.assertEqual((status, out["__type"]), (400, want), out)
                self.assertTrue(out["message"], out)
        # A NUL is refused in the gRPC path's words.
        hd, b = self.signed("GetSecretValue", json.dumps({"SecretId": "a\u0000b"}))
        self.assertEqual(self.send(hd, b)[2]["message"],
                         "SecretId must not contain NUL characters")
        # Members a newer SDK may send are skipped, as AWS skips them.
        hd, b = self.signed("GetSecretValue", json.dumps({"SecretId": name,
                                                          "SomeFutureMember": 1}))
        status, _, out = self.send(hd, b)
        self.assertEqual((status, out["SecretString"]), (200, "v"))
        # The wrong content type, from a signed caller.
        hd, b = self.signed("GetSecretValue", json.dumps({"SecretId": name}),
                            extra={"Content-Type": "application/json"})
        status, _, out = self.send(hd, b)
        self.assertEqual((status, out["__type"]), (400, "SerializationException"))

    def test_too_long_body(self):
        big = json.dumps({"SecretId": "x", "SecretString": "a" * (600 * 1024)})
        hd, b = self.signed("PutSecretValue", big)
        status, _, out = self.send(hd, b)
        self.assertEqual((status, out["__type"]), (400, "SerializationException"))
        self.assertIn("longer than 524288 bytes", out["message"])
        # The largest value AWS allows, escaped as much as JSON can, fits.
        name = self.name("big")
        value = "\u0001" * 65536
        r = self.client().create_secret(Name=name, SecretString=value)
        self.assertEqual(self.client().get_secret_value(SecretId=name)["SecretString"],
                         value, r)

    def test_half_sent_request_is_closed(self):
        """A client that sends half a request is closed after aws_timeout
        (3 s here), and the listener serves others meanwhile."""
        ctx = ssl.create_default_context(cafile=self.ca)
        raw = socket.create_connection(("127.0.0.1", self.aws_port), timeout=20)
        s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        self.addCleanup(s.close)
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        self.assertEqual(self.client().get_random_password(PasswordLength=8)
                         ["RandomPassword"].__len__(), 8)
        start = time.time()
        try:
            data = s.recv(4096)
        except (ConnectionError, ssl.SSLError):
            data = b""
        self.assertEqual(data, b"")
        self.assertLess(time.time() - start, 15)
        s.close()


class BodyBudgetTest(AwsCase):
    """Peers that send large bodies slowly cannot make cofferd hold more
    than 64 MiB of them: past it a request is refused with
    ThrottlingException (which SDKs retry), and served once they go."""

    aws_timeout = "60"

    def test_bodies_are_bounded(self):
        big = json.dumps({"SecretId": "x", "SecretString": "a" * (512 * 1024 - 40)})
        self.assertLessEqual(len(big), 512 * 1024)
        hd, body = self.signed("PutSecretValue", big)
        head = "".join(f"{k}: {v}\r\n" for k, v in hd.items())
        head = f"POST / HTTP/1.1\r\n{head}Content-Length: {len(body)}\r\n\r\n"
        ctx = ssl.create_default_context(cafile=self.ca)
        held = []
        try:
            # 130 bodies of 512 KiB, each one byte short: 128 fit the budget.
            for _ in range(130):
                raw = socket.create_connection(("127.0.0.1", self.aws_port), timeout=30)
                t = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
                held.append(t)
                t.sendall(head.encode() + body.encode()[:-1])
            time.sleep(0.5)
            hd2, b2 = self.signed("GetRandomPassword", json.dumps({"PasswordLength": 8}))
            status, _, out = self.send(hd2, b2)
            self.assertEqual((status, out["__type"]), (400, "ThrottlingException"), out)
        finally:
            for t in held:
                t.close()
        deadline = time.time() + 20
        while True:
            status, _, out = self.send(hd2, b2)
            if status == 200 or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(status, 200, out)
        self.assertEqual(len(out["RandomPassword"]), 8)


class DatabaseFaultTest(unittest.TestCase):
    """The database goes away and comes back: AWS's clients get
    ServiceUnavailable (503) meanwhile, never a wrong answer, and are
    served again without a restart, also by a thread whose engine worker
    could not be made while the database was down."""

    def test_dead_database_then_back(self):
        pki = h.Certs()
        self.addCleanup(pki.destroy)
        cluster = h.Cluster()
        self.addCleanup(cluster.destroy)
        port = h.free_port()
        s = h.Server(cluster.conninfo, tls=pki, extra_env={
            "COFFER_AWS_LISTEN": f"127.0.0.1:{port}", "COFFER_AWS_WORKERS": "1",
            "COFFER_DB_TIMEOUT": "3"}).start()
        admin = Caller(s, s.admin_cert)
        self.addCleanup(admin.close)
        k = admin.call("CreateAccessKey", AK, principal=h.ADMIN).access_key
        sm = boto3.client("secretsmanager", endpoint_url=f"https://127.0.0.1:{port}",
                          region_name=REGION, aws_access_key_id=k.access_key_id,
                          aws_secret_access_key=k.secret_access_key,
                          verify=pki.ca + ".pem",
                          config=Config(retries={"max_attempts": 1}))
        self.addCleanup(sm.close)
        admin.call("CreateSecret", SM, name="dead-db", secret_string="v",
                   client_request_token=token())

        def fails_unavailable():
            t = time.monotonic()
            try:
                sm.get_secret_value(SecretId="dead-db")
            except ClientError as e:
                self.assertEqual((e.response["Error"]["Code"],
                                  e.response["ResponseMetadata"]["HTTPStatusCode"]),
                                 ("ServiceUnavailable", 503), e.response)
                self.assertLess(time.monotonic() - t, 15)
                return
            self.fail("served while the database was down")

        def back():
            deadline = time.time() + 60
            while True:
                try:
                    return sm.get_secret_value(SecretId="dead-db")["SecretString"]
                except ClientError as e:
                    if (e.response["Error"]["Code"] != "ServiceUnavailable"
                            or time.time() > deadline):
                        raise
                    time.sleep(0.2)

        # Down before the listener's thread ever made its engine worker.
        cluster.stop()
        fails_unavailable()
        cluster.start()
        self.assertEqual(back(), "v")
        # Down again, with the worker made: the same, then served.
        cluster.stop()
        fails_unavailable()
        cluster.start()
        self.assertEqual(back(), "v")
        self.assertEqual(s.stop(), 0, s.output())


if __name__ == "__main__":
    unittest.main()
