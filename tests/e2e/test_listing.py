"""End-to-end tests of ListSecrets' paging for a caller who may not describe
every secret (security issue item 7).

ListSecrets shows a caller only the secrets it may describe; its pages,
their number and their NextTokens must then say nothing about the others.
A caller allowed to describe only visible/* pages through the same listing
(every filter kind, both orders, MaxResults 1 and 3) in two worlds: with
hidden secrets interleaved among the visible ones (some matching the
filters, some not), and after those hidden secrets are force-deleted.  Page
contents, page counts and the tokens themselves must be the same in both.
Tokens must not decode (hex or base64) to anything of a secret, and must be
refused for another principal, other filters or another order, or once
edited.

Each test has its own database and server with mutual TLS (ci/mkcert
certificates); policies are attached by the bootstrap admin.
"""
import base64
import binascii
import json
import re
import unittest

import grpc

from tests.e2e import harness as h
from tests.e2e.harness import error_type, pb, token

SM = "/coffer.v1.SecretsManager/"
IDP = "/coffer.v1.IdentityPolicies/"
VIEWER = "spiffe://coffer.test/ns/list/sa/viewer"
TWIN = "spiffe://coffer.test/ns/list/sa/twin"      # the same policy as VIEWER
NOBODY = "spiffe://coffer.test/ns/list/sa/nobody"  # may describe nothing

# (name, tags), created in this order: hidden secrets sit between visible
# ones, some match the filters below and some do not.
SECRETS = [
    ("visible/app-1", [("team", "blue"), ("env", "prod")]),
    ("hidden/app-1", [("team", "blue")]),
    ("visiblex/app-3", [("team", "blue"), ("env", "prod")]),
    ("visible/app-2", [("team", "red")]),
    ("hidden/secret-name", [("env", "prod"), ("owner", "carol")]),
    ("visible/db-1", [("team", "blue")]),
    ("hidden/zz-top", []),
    ("visible-not/app-9", [("team", "blue")]),
    ("hidden/app-2", [("team", "red"), ("env", "prod")]),
    ("visible/zeta", []),
    ("hidden/zzz", [("team", "green")]),
]


def is_hidden(name):
    return not name.startswith("visible/")


# Filter sets: (key, values) pairs, ANDed.
FILTERS = [
    [],
    [("name", ["visible"])],
    [("name", ["visible/app"])],
    [("name", ["visiblex"])],
    [("name", ["h"])],
    [("name", ["hidden/s"])],
    [("name", ["hidden/secret-name"])],
    [("name", ["nothing-matches"])],
    [("tag-key", ["team"])],
    [("tag-key", ["owner"])],
    [("tag-value", ["blue"])],
    [("tag-value", ["carol"])],
    [("tag-key", ["env"]), ("tag-value", ["prod"])],
    [("tag-key", ["!team"])],
    [("all", ["app"])],
]


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*"):
    return {"Effect": "Allow", "Action": action, "Resource": resource}


class Caller(h.Caller):
    """One principal's channel to the server, with ListSecrets' paging."""

    def list(self, filters=(), **kw):
        sm, _ = pb()
        return self.call("ListSecrets", filters=[sm.Filter(key=k, values=v)
                                                 for k, v in filters], **kw)

    def fails(self, op, **fields):
        try:
            self.call(op, **fields)
        except grpc.RpcError as e:
            return error_type(e)
        raise AssertionError(f"{op} succeeded")

    def pages(self, filters=(), limit=100, **kw):
        """Every page of a listing: [(names, next_token)]."""
        out, tok = [], None
        while len(out) < limit:
            args = dict(kw)
            if tok:
                args["next_token"] = tok
            r = self.list(filters, **args)
            out.append((tuple(e.name for e in r.secret_list), r.next_token))
            tok = r.next_token
            if not tok:
                return out
        raise AssertionError("paging does not end")


class ListingCase(unittest.TestCase):

    def setUp(self):
        self.pki = h.Certs()
        self.addCleanup(self.pki.destroy)
        self.db = h.fresh_database("listing")
        self.server = h.Server(self.db, tls=self.pki).start()
        self.addCleanup(self.stop_server)
        self.admin = Caller(self.server, self.server.admin_cert)
        self.viewer = Caller(self.server, self.pki.client("viewer", VIEWER))
        self.twin = Caller(self.server, self.pki.client("twin", TWIN))
        self.nobody = Caller(self.server, self.pki.client("nobody", NOBODY))
        for c in (self.admin, self.viewer, self.twin, self.nobody):
            self.addCleanup(c.close)
        for p in (VIEWER, TWIN):
            self.attach(p, doc(allow("secretsmanager:ListSecrets"),
                               allow("secretsmanager:DescribeSecret",
                                     "arn:aws:secretsmanager:*:*:secret:visible/*")))
        self.attach(NOBODY, doc(allow("secretsmanager:ListSecrets"),
                                allow("secretsmanager:DescribeSecret",
                                      "arn:aws:secretsmanager:*:*:secret:nothing/*")))
        sm, _ = pb()
        self.arns = {}
        for name, tags in SECRETS:
            r = self.admin.call("CreateSecret", name=name, secret_string="v",
                                client_request_token=token(),
                                tags=[sm.Tag(key=k, value=v) for k, v in tags])
            self.arns[name] = r.arn

    def stop_server(self):
        rc = self.server.stop()
        if rc != 0:
            raise AssertionError(f"cofferd exited {rc}:\n{self.server.output()}")

    def attach(self, principal, document):
        self.admin.call("PutIdentityPolicy", IDP, principal=principal,
                        policy_name="listing", policy_document=document)

    def drop_hidden(self):
        for name, _ in SECRETS:
            if is_hidden(name):
                self.admin.call("DeleteSecret", secret_id=name,
                                force_delete_without_recovery=True)

    def sample_tokens(self):
        """NextTokens of the viewer's listings (there are several)."""
        toks = []
        for filters in FILTERS:
            for order in ("asc", "desc"):
                toks += [t for _, t in self.viewer.pages(
                    filters, max_results=1, sort_order=order) if t]
        return toks


class PagingTest(ListingCase):

    def listings(self):
        """Every page of every listing, for the viewer and for nobody."""
        out = {}
        for who, c in (("viewer", self.viewer), ("nobody", self.nobody)):
            for i, filters in enumerate(FILTERS):
                for order in ("asc", "desc"):
                    for m in (1, 3):
                        for deleted in ((False, True) if m == 1 else (False,)):
                            out[(who, i, order, m, deleted)] = c.pages(
                                filters, max_results=m, sort_order=order,
                                include_planned_deletion=deleted)
        return out

    def test_pages_same_with_and_without_hidden_secrets(self):
        with_hidden = self.listings()
        self.drop_hidden()
        without = self.listings()
        for key in with_hidden:
            self.assertEqual(with_hidden[key], without[key], key)

    def test_page_counts_follow_visible_secrets_only(self):
        # With the hidden secrets present: each listing of the viewer has
        # exactly ceil(visible matches / MaxResults) pages (at least one),
        # every page but the last full; nobody gets one empty page.
        for filters in FILTERS:
            for m in (1, 3):
                pages = self.viewer.pages(filters, max_results=m)
                names = [n for p, _ in pages for n in p]
                self.assertFalse([n for n in names if is_hidden(n)])
                self.assertEqual(len(pages), max(1, -(-len(names) // m)),
                                 (filters, m, pages))
                for p, tok in pages[:-1]:
                    self.assertEqual(len(p), m, (filters, m, pages))
                self.assertEqual(pages[-1][1], "")
                self.assertEqual(self.nobody.pages(filters, max_results=m),
                                 [((), "")], (filters, m))
        # The name filter that matches one hidden secret, character by
        # character: always the same single empty page.
        target = "hidden/secret-name"
        for i in range(1, len(target) + 1):
            self.assertEqual(self.viewer.pages([("name", [target[:i]])],
                                               max_results=1), [((), "")])


class TokenTest(ListingCase):

    def test_tokens_do_not_decode_to_secrets(self):
        uuids = h.psql(h.admin(self.db), "SELECT uuid FROM secrets").split()
        created = h.psql(h.admin(self.db), "SELECT (extract(epoch FROM "
                         "created_date) * 1000000)::int8 FROM secrets").split()
        needles = set(uuids) | {u[:8] for u in uuids} | {c[:10] for c in created}
        for name, _ in SECRETS:
            needles |= {name[i:i + 6] for i in range(len(name) - 5)}
        toks = self.sample_tokens()
        self.assertGreater(len(toks), 5)
        for t in toks:
            self.assertFalse([n for n in needles if n in t], t)
            decodings = []
            try:
                decodings.append(binascii.unhexlify(t))
            except (binascii.Error, ValueError):
                pass
            for pad in ("", "=", "=="):
                for dec in (base64.b64decode, base64.urlsafe_b64decode):
                    try:
                        decodings.append(dec(t + pad))
                    except (binascii.Error, ValueError):
                        pass
            for d in decodings:
                text = d.decode("latin-1")
                for n in needles:
                    self.assertNotIn(n, text, f"token {t} shows {n!r}")
                self.assertIsNone(re.search(r"[0-9]{10}", text), t)

    def test_token_refused_for_another_principal_or_request(self):
        f = [("name", ["visible"])]
        r = self.viewer.list(f, max_results=1)
        tok = r.next_token
        self.assertTrue(tok)
        # Good for the same caller and request (MaxResults may change).
        self.viewer.list(f, max_results=1, next_token=tok)
        self.viewer.list(f, max_results=2, next_token=tok)
        sm, _ = pb()

        def refused(caller, filters, **kw):
            try:
                caller.list(filters, next_token=tok, **kw)
            except grpc.RpcError as e:
                return error_type(e)
            return "accepted"

        bad = "InvalidNextTokenException"
        # Another principal with the very same policy.
        self.assertEqual(refused(self.twin, f, max_results=1), bad)
        self.assertEqual(refused(self.nobody, f, max_results=1), bad)
        # Other filters, none, another order, deleted secrets included.
        self.assertEqual(refused(self.viewer, [("name", ["visiblex"])]), bad)
        self.assertEqual(refused(self.viewer, [("name", ["visible/"])]), bad)
        self.assertEqual(refused(self.viewer, []), bad)
        self.assertEqual(refused(self.viewer, f + [("tag-key", ["team"])]), bad)
        self.assertEqual(refused(self.viewer, f, sort_order="desc"), bad)
        self.assertEqual(refused(self.viewer, f, include_planned_deletion=True),
                         bad)
        # Edited anywhere, truncated, extended.
        for i in range(len(tok)):
            c = "0" if tok[i] != "0" else "1"
            edited = tok[:i] + c + tok[i + 1:]
            try:
                self.viewer.list(f, max_results=1, next_token=edited)
                self.fail(f"edited token accepted at {i}")
            except grpc.RpcError as e:
                self.assertEqual(error_type(e), bad)
        for edited in (tok[:-2], tok + "00", "zz"):
            try:
                self.viewer.list(f, max_results=1, next_token=edited)
                self.fail("edited token accepted")
            except grpc.RpcError as e:
                self.assertEqual(error_type(e), bad)


if __name__ == "__main__":
    unittest.main()
