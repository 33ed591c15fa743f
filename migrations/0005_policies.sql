-- 0005_policies: identity policies, and the notification that keeps every
-- cofferd's compiled-policy cache fresh (engine/authz.c).
--
-- Resource policies live in secrets.resource_policy (0001) and are read
-- with the secret's row, so they need no notification.  Identity policies
-- are cached per server; every change to this table notifies channel
-- coffer_policy, and each cofferd drops its cache when it hears one (or
-- when its listening connection drops, until it listens again).

CREATE TABLE identity_policies (
    principal     text NOT NULL,
    policy_name   text NOT NULL,
    document      text NOT NULL,
    created_date  timestamptz NOT NULL DEFAULT now(),
    updated_date  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, policy_name),
    CONSTRAINT identity_principal_len CHECK (char_length(principal) BETWEEN 1 AND 1024),
    CONSTRAINT identity_name_len CHECK (char_length(policy_name) BETWEEN 1 AND 128),
    CONSTRAINT identity_document_len CHECK (char_length(document) BETWEEN 1 AND 20480)
);

ALTER TABLE secrets ADD CONSTRAINT secrets_policy_len
    CHECK (resource_policy IS NULL OR char_length(resource_policy) BETWEEN 1 AND 20480);

CREATE FUNCTION coffer_policy_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('coffer_policy', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER identity_policies_notify
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON identity_policies
    FOR EACH STATEMENT EXECUTE FUNCTION coffer_policy_notify();

GRANT SELECT, INSERT, UPDATE, DELETE ON identity_policies TO coffer_app;
