-- 0002_list_indexes: let ListSecrets filters use indexes.
-- `name LIKE 'prefix%'` needs a pattern index whatever the database's
-- collation; tag prefix filters use the same on tags(key) and tags(value).
CREATE INDEX secrets_name_pattern_key ON secrets (name text_pattern_ops);
CREATE INDEX tags_key_pattern_key ON tags (key text_pattern_ops, secret_uuid);
CREATE INDEX tags_value_pattern_key ON tags (value text_pattern_ops, secret_uuid);
-- Live secrets in ListSecrets order, for deployments with many deleted ones.
CREATE INDEX secrets_live_created_key ON secrets (created_date, uuid)
    WHERE deleted_date IS NULL;
