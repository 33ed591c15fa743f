-- 0011_tags_present: whether a secret has ever had a tag, so that
-- DescribeSecret can answer "Tags": [] once its last tag is removed, as
-- AWS does, while a secret never tagged has no Tags member at all
-- (issue 15).  The tags table alone cannot tell the two apart.
--
-- Set by the statement that adds a tag (ST_TAG_PUT, store_stmt.c) and
-- never cleared.  Secrets tagged before this migration are marked here;
-- one whose every tag was removed before it cannot be told from a secret
-- never tagged, and keeps no Tags member until it is tagged again.
-- A constant default: adding the column does not rewrite the table.
ALTER TABLE secrets ADD COLUMN tags_present boolean NOT NULL DEFAULT false;
UPDATE secrets s SET tags_present = true
    WHERE EXISTS (SELECT 1 FROM tags t WHERE t.secret_uuid = s.uuid);
