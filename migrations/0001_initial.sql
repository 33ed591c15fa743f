-- 0001_initial: secrets, their versions, staging labels, tags, and the
-- audit table's first shape.  Applied once, inside a transaction, by
-- `cofferd migrate` or at start-up; recorded in schema_migrations.
--
-- Dates are timestamptz; the engine reads them as epoch milliseconds.
-- Nothing here ever holds plaintext: versions store only the envelope
-- (wrapped data key, IV, ciphertext with tag) of hsm/DESIGN.md.

CREATE TABLE secrets (
    uuid              uuid PRIMARY KEY,
    name              text NOT NULL,
    arn               text NOT NULL,
    description       text,
    kms_key_id        text,                 -- NULL: the default KEK
    created_date      timestamptz NOT NULL DEFAULT now(),
    last_changed_date timestamptz NOT NULL DEFAULT now(),
    last_accessed_date date,                -- date resolution, as AWS
    deleted_date      timestamptz,          -- DeleteSecret time
    purge_after       timestamptz,          -- deleted_date + recovery window
    rotation_enabled  boolean,              -- NULL: never configured
    rotation_lambda_arn text,
    rotation_rules    jsonb,
    last_rotated_date timestamptz,
    next_rotation_date timestamptz,
    resource_policy   text,
    owning_service    text,
    CONSTRAINT secrets_name_len CHECK (char_length(name) BETWEEN 1 AND 512),
    CONSTRAINT secrets_deletion CHECK ((deleted_date IS NULL) = (purge_after IS NULL))
);
-- A name is unique among secrets not yet purged (a purge deletes the row).
CREATE UNIQUE INDEX secrets_name_key ON secrets (name);
CREATE UNIQUE INDEX secrets_arn_key ON secrets (arn);
-- ListSecrets pages by (created_date, uuid) in both directions.
CREATE INDEX secrets_created_key ON secrets (created_date, uuid);
CREATE INDEX secrets_purge_key ON secrets (purge_after) WHERE purge_after IS NOT NULL;

CREATE TABLE secret_versions (
    secret_uuid       uuid NOT NULL REFERENCES secrets (uuid) ON DELETE CASCADE,
    version_id        text NOT NULL,
    created_date      timestamptz NOT NULL DEFAULT now(),
    last_accessed_date date,
    value_type        smallint NOT NULL,    -- 1: SecretString, 2: SecretBinary
    format            integer NOT NULL,     -- envelope format (hsm/DESIGN.md)
    kek_label         text NOT NULL,
    iv                bytea NOT NULL,
    wrapped_dek       bytea NOT NULL,
    ciphertext        bytea NOT NULL,
    PRIMARY KEY (secret_uuid, version_id),
    CONSTRAINT versions_id_len CHECK (char_length(version_id) BETWEEN 32 AND 64),
    CONSTRAINT versions_type CHECK (value_type IN (1, 2))
);
CREATE INDEX secret_versions_created_key ON secret_versions (secret_uuid, created_date);

-- One label on at most one version of a secret: the primary key says so.
CREATE TABLE version_stages (
    secret_uuid       uuid NOT NULL,
    stage             text NOT NULL,
    version_id        text NOT NULL,
    PRIMARY KEY (secret_uuid, stage),
    FOREIGN KEY (secret_uuid, version_id)
        REFERENCES secret_versions (secret_uuid, version_id) ON DELETE CASCADE,
    CONSTRAINT stages_len CHECK (char_length(stage) BETWEEN 1 AND 256)
);
CREATE INDEX version_stages_version_key ON version_stages (secret_uuid, version_id);

CREATE TABLE tags (
    secret_uuid       uuid NOT NULL REFERENCES secrets (uuid) ON DELETE CASCADE,
    key               text NOT NULL,
    value             text NOT NULL,
    position          bigint NOT NULL,      -- insertion order, as AWS lists
    PRIMARY KEY (secret_uuid, key)
);

-- Audit events.  This first shape is a placeholder that the audit issue
-- replaces with the hash-chained, append-only design of design.md.
CREATE TABLE audit_events (
    seq               bigserial PRIMARY KEY,
    event_time        timestamptz NOT NULL DEFAULT now(),
    request_id        text NOT NULL,
    principal         text NOT NULL,
    peer              text,
    operation         text NOT NULL,
    secret_arn        text,
    version_id        text,
    outcome           text NOT NULL
);
