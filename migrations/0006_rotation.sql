-- 0006_rotation: the state of rotations in progress, and empty pending
-- versions (engine/rotation_api.c starts a rotation, engine/rotation_lease.c
-- and engine/rotation_step.c run it; engine/DESIGN.md, "Rotation").
--
-- RotateSecret puts AWSPENDING on a version named by its ClientRequestToken
-- before any rotator step runs, as AWS does (rotators check for it); that
-- version has no value until the createSecret step gives it one.
ALTER TABLE secret_versions DROP CONSTRAINT versions_type;
ALTER TABLE secret_versions ADD CONSTRAINT versions_type
    CHECK (value_type IN (0, 1, 2));   -- 0: no value yet (a pending rotation)

-- One rotation at most per secret.  rotation_token is its pending version;
-- rotation_step the next step to run (1 createSecret, 2 setSecret,
-- 3 testSecret, 4 finishSecret); rotation_test_only: RotateImmediately =
-- false (testSecret alone).  A server runs a rotation under a lease
-- (rotation_lease_until), taken with FOR UPDATE SKIP LOCKED, so each step
-- runs on one server at a time; a server that dies loses its lease and
-- another (or itself, restarted) resumes at rotation_step.
ALTER TABLE secrets
    ADD COLUMN rotation_token       text,
    ADD COLUMN rotation_step        smallint,
    ADD COLUMN rotation_test_only   boolean NOT NULL DEFAULT false,
    ADD COLUMN rotation_attempts    integer NOT NULL DEFAULT 0,
    ADD COLUMN rotation_retry_at    timestamptz,
    ADD COLUMN rotation_lease_until timestamptz,
    ADD COLUMN rotation_lease_owner text,
    ADD COLUMN rotation_error       text,
    ADD CONSTRAINT secrets_rotation_step CHECK ((rotation_token IS NULL) =
        (rotation_step IS NULL) AND (rotation_step IS NULL OR rotation_step BETWEEN 1 AND 4));

-- The scheduler's two questions: which rotations are due, which are running.
CREATE INDEX secrets_rotation_due_key ON secrets (next_rotation_date)
    WHERE rotation_enabled AND rotation_token IS NULL AND deleted_date IS NULL;
CREATE INDEX secrets_rotation_running_key ON secrets (rotation_retry_at)
    WHERE rotation_token IS NOT NULL;
