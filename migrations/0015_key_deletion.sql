-- 0015_key_deletion: KEKs a security team makes and destroys (issue 16):
-- coffer create-encryption-key makes one for a tenant or a data class;
-- schedule-key-deletion sets it PendingDeletion with a deletion date 7-30
-- days ahead (cancel-key-deletion sets it back); once the date passes, a
-- server's scheduler destroys every version in the token and records the
-- key Destroyed.  Envelopes under it are then unreadable, from a database
-- backup too, as long as no backup of the token still holds the key.
ALTER TABLE encryption_keys
    ADD COLUMN state text NOT NULL DEFAULT 'Enabled',
    ADD COLUMN deletion_date timestamptz,
    ADD CONSTRAINT encryption_keys_state CHECK
        (state IN ('Enabled', 'PendingDeletion', 'Destroyed')),
    ADD CONSTRAINT encryption_keys_deletion CHECK
        ((state = 'Enabled') = (deletion_date IS NULL));
CREATE INDEX encryption_keys_due_key ON encryption_keys (deletion_date)
    WHERE state = 'PendingDeletion';
