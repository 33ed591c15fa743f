-- 0014_kek_versions: KEKs are families of versions in the token, rotated
-- and rewrapped (issue 16; hsm/DESIGN.md, "KEK versions").
--
-- encryption_keys holds, per KEK label, the version new envelopes are
-- sealed under; a label not listed here is at version 1 (every KEK made
-- before this migration).  encryption_key_versions records each version's
-- life: made, and destroyed in the token.  secret_versions and
-- access_keys name the version that wraps each data key (kek_version; 1
-- for every envelope already stored, which is what wrapped it).  Adding a
-- column with a constant default rewrites nothing.
--
-- A change to either table is a change of configuration every cofferd
-- must see at once (a rotation: seal under the new version; a
-- destruction: drop every copy of the old one), so it NOTIFYs the channel
-- the identity-policy listener already LISTENs on.
CREATE TABLE encryption_keys (
    label            text PRIMARY KEY,
    current_version  integer NOT NULL DEFAULT 1,
    created_date     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT encryption_keys_label_len CHECK (char_length(label) BETWEEN 1 AND 64),
    CONSTRAINT encryption_keys_version CHECK (current_version >= 1)
);

CREATE TABLE encryption_key_versions (
    label           text NOT NULL REFERENCES encryption_keys (label),
    version         integer NOT NULL,
    created_date    timestamptz NOT NULL DEFAULT now(),
    destroyed_date  timestamptz,
    PRIMARY KEY (label, version),
    CONSTRAINT encryption_key_versions_version CHECK (version >= 1)
);

ALTER TABLE secret_versions ADD COLUMN kek_version integer NOT NULL DEFAULT 1;
ALTER TABLE access_keys ADD COLUMN kek_version integer NOT NULL DEFAULT 1;
-- The rewrap finds envelopes under older versions, DescribeEncryptionKey
-- counts them per version.
CREATE INDEX secret_versions_kek_key ON secret_versions (kek_label, kek_version);
CREATE INDEX access_keys_kek_key ON access_keys (kek_label, kek_version);

CREATE TRIGGER encryption_keys_notify
    AFTER INSERT OR UPDATE OR DELETE ON encryption_keys
    FOR EACH STATEMENT EXECUTE FUNCTION coffer_policy_notify();
CREATE TRIGGER encryption_key_versions_notify
    AFTER INSERT OR UPDATE OR DELETE ON encryption_key_versions
    FOR EACH STATEMENT EXECUTE FUNCTION coffer_policy_notify();

GRANT SELECT, INSERT, UPDATE ON encryption_keys, encryption_key_versions TO coffer_app;
