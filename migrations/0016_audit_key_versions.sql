-- 0016_audit_key_versions: the audit key rotates (issue 16, item 5;
-- audit/DESIGN.md "Audit key versions").
--
-- Each event names the version of the token's audit key that made its
-- hmac; every event written before this migration was made by version 1
-- (the key init-token made), which is the default, so adding the column
-- rewrites nothing.  The version is not covered by the hash: changing it
-- makes the hmac fail to verify under the version it then names, which is
-- the same finding as any other edit.  An archive anchor keeps the
-- version of the event it stands for: existing anchors were all made
-- under version 1; a new one must say (no default), so that an operator
-- following the archiving procedure of before is told at the INSERT
-- rather than by a verify that finds the anchor's hmac wrong.
ALTER TABLE audit_events
    ADD COLUMN mac_key_version integer NOT NULL DEFAULT 1,
    ADD CONSTRAINT audit_mac_key_version CHECK (mac_key_version >= 1);
ALTER TABLE audit_anchors
    ADD COLUMN mac_key_version integer NOT NULL DEFAULT 1;
ALTER TABLE audit_anchors ALTER COLUMN mac_key_version DROP DEFAULT;
