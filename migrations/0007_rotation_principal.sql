-- 0007_rotation_principal: who a rotation runs as, and what the database
-- rotators may touch (engine/rotation_api.c records both, rotator_pg_pins
-- in rotator/rotator_pg_value.c makes the pins; docs issue 11).
--
-- rotation_principal: the principal whose RotateSecret configured the
-- rotation (gave RotationLambdaARN or RotationRules).  Every step runs as
-- that principal: reading a master secret needs its GetSecretValue, and
-- each step's audit event names it.  NULL for rotations configured before
-- this migration: the next RotateSecret records its caller.
--
-- rotation_pins: for the PostgreSQL rotators, what the secret's value said
-- when rotation was configured, as {"masterarn", "username" (the base
-- user, without the alternating "_clone"), "host", "port", "dbname"}.  A
-- step refuses a value that no longer matches, so whoever may only
-- PutSecretValue on the secret cannot change which master is used, which
-- role is altered, or which server is logged in to.  No password is kept.
ALTER TABLE secrets
    ADD COLUMN rotation_principal text,
    ADD COLUMN rotation_pins      jsonb;
