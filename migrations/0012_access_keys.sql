-- 0012_access_keys: access keys for AWS Signature Version 4 (issue 15).
--
-- AWS SDKs authenticate by signing each request with an access key's
-- secret; the server must hold the same secret to check the signature.
-- So the secret is stored as every secret value is: sealed under a fresh
-- data key wrapped by the token's KEK (kek_label, format, iv, wrapped_dek,
-- ciphertext; hsm/DESIGN.md), bound to the key's id ("access-key",
-- access_key_id) so that an envelope cannot be moved to another key or to
-- a secret version.  Never in plaintext here.
--
-- A principal has at most two keys (IAM's quota, enforced by the engine
-- under a lock on the principal's rows), so that it can rotate: make the
-- second, move clients, deactivate and delete the first.
CREATE TABLE access_keys (
    access_key_id   text PRIMARY KEY,
    principal       text NOT NULL,
    status          text NOT NULL DEFAULT 'Active',
    format          integer NOT NULL,
    kek_label       text NOT NULL,
    iv              bytea NOT NULL,
    wrapped_dek     bytea NOT NULL,
    ciphertext      bytea NOT NULL,
    created_date    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT access_key_id_form CHECK (access_key_id ~ '^[A-Z0-9]{16,128}$'),
    CONSTRAINT access_key_principal_len CHECK (char_length(principal) BETWEEN 1 AND 1024),
    CONSTRAINT access_key_status CHECK (status IN ('Active', 'Inactive'))
);
CREATE INDEX access_keys_principal_key ON access_keys (principal, created_date);

GRANT SELECT, INSERT, UPDATE, DELETE ON access_keys TO coffer_app;
