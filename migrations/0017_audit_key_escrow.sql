-- 0017_audit_key_escrow: audit key versions wrapped for auditors (issue
-- 16, item 5; audit/DESIGN.md "The auditor's bundle").
--
-- When audit_key_recipients names auditors' RSA public keys, each new
-- version of the token's audit key is wrapped under each of them inside
-- the token (RSA-OAEP) before it is made non-extractable, and the wrapped
-- copies land here, in the transaction that carries the rotation's event.
-- ExportAuditKeyBundle hands out the rows of retired versions only.  A
-- row is useless without the auditor's private key; a forged row can only
-- make an auditor's check fail.  Like the other audit tables, rows are
-- never changed or removed, by anyone, the owner included.
CREATE TABLE audit_key_escrow (
    mac_key_version integer     NOT NULL CHECK (mac_key_version >= 1),
    recipient       text        NOT NULL
        CHECK (recipient ~ '^sha256:[0-9a-f]{64}$'),
    mechanism       text        NOT NULL,
    wrapped         bytea       NOT NULL
        CHECK (octet_length(wrapped) BETWEEN 1 AND 2048),
    created         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (mac_key_version, recipient)
);

CREATE TRIGGER audit_key_escrow_append_only
    BEFORE UPDATE OR DELETE ON audit_key_escrow
    FOR EACH ROW EXECUTE FUNCTION coffer_audit_reject();
CREATE TRIGGER audit_key_escrow_no_truncate
    BEFORE TRUNCATE ON audit_key_escrow
    FOR EACH STATEMENT EXECUTE FUNCTION coffer_audit_reject();

GRANT SELECT, INSERT ON audit_key_escrow TO coffer_app;
