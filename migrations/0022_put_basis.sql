-- 0022_put_basis: PutSecretValue seals its value before its transaction
-- (issue 14), and checks under the row lock that what it sealed against
-- still holds.
--
-- The value is sealed in the token (bound to the secret's uuid and KEK)
-- after an unlocked read and before the one round trip that locks the
-- row, writes the version, appends the audit event and commits
-- (store/DESIGN.md, "Sealed before the transaction").  Whatever the
-- outcome of the Put depends on may change in between: the KMS key it was
-- sealed under, the resource policy and tags it was authorized by, a
-- deletion, the rotation settings that AWSCURRENT moving touches, whether
-- the secret has AWSCURRENT, and whether a version with its
-- ClientRequestToken exists.
--
-- coffer_put_digest(...) is a digest of exactly that state, given as
-- values: both statements that need it (store_stmt.c, PUT_DIGEST: the
-- read, and the check after the lock) compute them from the tables and
-- hand them in.  SHA-256 of the record's text form (which quotes every
-- field, so two states never share a text) rather than the text itself:
-- a policy can be 20 KiB.  A SQL function of one expression without FROM,
-- so PostgreSQL inlines it (one with a FROM was parsed and planned again
-- at every call: a Put ran a quarter slower, docs/performance.md, ninth
-- pass).  What a Put or a read changes on its own (LastChangedDate,
-- LastAccessedDate, where AWSCURRENT points, other versions) is not an
-- argument, so that Puts to one secret do not send each other back.
CREATE FUNCTION coffer_put_digest(name text, arn text, kms_key_id text,
    deleted boolean, resource_policy text, rotation_enabled boolean,
    rotation_rules jsonb, owning_service text, tags text,
    has_current boolean, has_version boolean) RETURNS bytea
    LANGUAGE sql STABLE
    AS $$
SELECT sha256(convert_to(ROW(name, arn, kms_key_id, deleted, resource_policy,
    rotation_enabled, rotation_rules, owning_service, tags, has_current,
    has_version)::text, 'UTF8'))
$$;

-- coffer_put_same(now, sealed): nothing when the basis computed after the
-- row lock (${now}; NULL when the secret is gone) is the one the value was
-- sealed against, else SQLSTATE CF003.  The Put's transaction sends the
-- lock, then the statement that calls this (a statement of its own, so
-- its snapshot, taken after the lock, sees what the lock's last holder
-- committed), then its writes: failing, it stops the pipeline, nothing is
-- written and no event recorded, and cofferd runs the Put again the old
-- way, sealing under the lock.
CREATE FUNCTION coffer_put_same(now bytea, sealed bytea) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    AS $$
BEGIN
    IF now IS DISTINCT FROM sealed THEN
        RAISE EXCEPTION 'the secret changed after the value was sealed'
            USING ERRCODE = 'CF003';
    END IF;
END $$;
