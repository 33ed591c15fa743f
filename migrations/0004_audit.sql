-- 0004_audit: the tamper-evident, append-only audit trail (audit/DESIGN.md)
-- and the restricted role cofferd connects as.
--
-- Run by the database owner (`cofferd migrate` with admin_database), never
-- by cofferd's own role, which after this migration can only INSERT and
-- SELECT audit rows.  Creating the role needs CREATEROLE; an operator who
-- prefers to create it (with a password or certificate login) first may.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'coffer_app') THEN
        CREATE ROLE coffer_app LOGIN;
    END IF;
END
$$;

DROP TABLE audit_events;   -- the placeholder of 0001, never written to

-- One row per event.  Each server process writes its own chain: seq runs
-- 1, 2, 3... within chain_id, prev_hash is the hash of the event before
-- (32 zero bytes for seq 1), hash is SHA-256 over the canonical encoding
-- of every other column (audit/DESIGN.md), hmac is HMAC-SHA256(hash) made
-- in the token with a key that never leaves it.
CREATE TABLE audit_events (
    chain_id    uuid NOT NULL,
    seq         bigint NOT NULL,
    event_time  timestamptz NOT NULL,
    request_id  text NOT NULL,
    principal   text NOT NULL,
    peer        text NOT NULL,
    operation   text NOT NULL,
    secret_arn  text,
    version_id  text,
    outcome     text NOT NULL,
    prev_hash   bytea NOT NULL,
    hash        bytea NOT NULL,
    hmac        bytea NOT NULL,
    CONSTRAINT audit_seq_positive CHECK (seq >= 1),
    CONSTRAINT audit_hash_len CHECK (octet_length(prev_hash) = 32 AND
        octet_length(hash) = 32 AND octet_length(hmac) = 32)
) PARTITION BY RANGE (event_time);

-- Verification walks a chain in order; queries filter by secret, by
-- principal and by time.  Indexes on the parent are made on every
-- partition.
CREATE INDEX audit_events_chain_key ON audit_events (chain_id, seq);
CREATE INDEX audit_events_time_key ON audit_events (event_time);
CREATE INDEX audit_events_secret_key ON audit_events (secret_arn, event_time)
    WHERE secret_arn IS NOT NULL;
CREATE INDEX audit_events_principal_key ON audit_events (principal, event_time);

-- Every chain ever started, so that verify can find a chain whose events
-- were all removed.  The token keeps each chain's head as well.
CREATE TABLE audit_chains (
    chain_id    uuid PRIMARY KEY,
    server      text NOT NULL,          -- host:pid, for people
    started     timestamptz NOT NULL DEFAULT now()
);

-- Where a chain now begins after the operator archived (detached and
-- dropped) its oldest partitions: the last archived event's seq, hash and
-- hmac.  verify checks the hmac in the token, so an anchor cannot be
-- invented; cofferd only reads this table.
CREATE TABLE audit_anchors (
    chain_id    uuid NOT NULL,
    seq         bigint NOT NULL,
    hash        bytea NOT NULL,
    hmac        bytea NOT NULL,
    archived    timestamptz NOT NULL DEFAULT now(),
    note        text,
    PRIMARY KEY (chain_id, seq)
);

-- Nobody, the owner included, updates, deletes or truncates audit rows.
-- (A superuser can still disable triggers: that is what the hash chain
-- and the token's hmac are for.)
CREATE FUNCTION coffer_audit_reject() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit records are append-only: % on % refused',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION coffer_audit_reject();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION coffer_audit_reject();
CREATE TRIGGER audit_chains_append_only BEFORE UPDATE OR DELETE ON audit_chains
    FOR EACH ROW EXECUTE FUNCTION coffer_audit_reject();
CREATE TRIGGER audit_chains_no_truncate BEFORE TRUNCATE ON audit_chains
    FOR EACH STATEMENT EXECUTE FUNCTION coffer_audit_reject();

-- Monthly partitions (UTC), from last month to ${months} ahead.  cofferd
-- calls it at start and daily; it runs with the owner's rights so that
-- cofferd's role needs no CREATE.  Row triggers are inherited by each
-- partition; TRUNCATE triggers are not, so each partition gets its own.
CREATE FUNCTION coffer_audit_ensure_partitions(months integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    first date;
    m date;
    part text;
    made integer := 0;
BEGIN
    IF months < 0 OR months > 24 THEN
        RAISE EXCEPTION 'months must be 0..24';
    END IF;
    PERFORM pg_advisory_xact_lock(7165431098451227649);
    first := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    FOR i IN -1..months LOOP
        m := (first + make_interval(months => i))::date;
        part := format('audit_events_%s', to_char(m, 'YYYY_MM'));
        IF to_regclass('public.' || quote_ident(part)) IS NULL THEN
            EXECUTE format('CREATE TABLE public.%I PARTITION OF public.audit_events '
                'FOR VALUES FROM (%L) TO (%L)', part,
                m::timestamp AT TIME ZONE 'UTC',
                (m + interval '1 month')::timestamp AT TIME ZONE 'UTC');
            EXECUTE format('CREATE TRIGGER audit_events_no_truncate BEFORE '
                'TRUNCATE ON public.%I FOR EACH STATEMENT EXECUTE FUNCTION '
                'public.coffer_audit_reject()', part);
            made := made + 1;
        END IF;
    END LOOP;
    RETURN made;
END
$$;
REVOKE ALL ON FUNCTION coffer_audit_ensure_partitions(integer) FROM PUBLIC;
SELECT coffer_audit_ensure_partitions(3);

-- cofferd's role: the secrets tables in full, the audit trail append-only.
GRANT USAGE ON SCHEMA public TO coffer_app;
GRANT SELECT, INSERT, UPDATE, DELETE
    ON secrets, secret_versions, version_stages, tags TO coffer_app;
GRANT SELECT, INSERT ON server_keys TO coffer_app;
GRANT SELECT ON schema_migrations TO coffer_app;
GRANT SELECT, INSERT ON audit_events, audit_chains TO coffer_app;
GRANT SELECT ON audit_anchors TO coffer_app;
GRANT EXECUTE ON FUNCTION coffer_audit_ensure_partitions(integer) TO coffer_app;
