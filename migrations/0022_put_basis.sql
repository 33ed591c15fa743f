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
-- values: the read computes them for its own columns (store_stmt.c,
-- PUT_BASIS) and hands them in, so nothing is looked up twice.  SHA-256 of
-- the record's text form (which quotes every field, so two states never
-- share a text) rather than the text itself: a policy can be 20 KiB.  A
-- SQL function of one expression without FROM, so PostgreSQL inlines it
-- (one with a FROM was parsed and planned again at every call: a Put ran
-- a quarter slower, docs/performance.md, ninth pass).  ${tags} is the
-- secret's tags as store_stmt.c's TAGS_JSON writes them; what a Put or a
-- read changes on its own (LastChangedDate, LastAccessedDate, where
-- AWSCURRENT points, other versions) is not an argument, so that Puts to
-- one secret do not send each other back.
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

-- coffer_put_basis(id, token): that digest for secret ${id} and a Put of
-- version ${token}, as the database has it now (NULL: no such secret).
-- The same expressions as the read's: the tags exactly as TAGS_JSON
-- (store_stmt.c) writes them.  PL/pgSQL keeps its plan for the session;
-- STABLE, it runs on its caller's snapshot.
CREATE FUNCTION coffer_put_basis(id uuid, token text) RETURNS bytea
    LANGUAGE plpgsql STABLE
    AS $$
DECLARE
    b bytea;
BEGIN
    SELECT coffer_put_digest(s.name, s.arn, s.kms_key_id,
        s.deleted_date IS NOT NULL, s.resource_policy, s.rotation_enabled,
        s.rotation_rules, s.owning_service,
        (SELECT coalesce(json_agg(json_build_array(g.key, g.value)
            ORDER BY g.position), '[]')::text FROM tags g
            WHERE g.secret_uuid = s.uuid),
        EXISTS (SELECT 1 FROM version_stages c
            WHERE c.secret_uuid = s.uuid AND c.stage = 'AWSCURRENT'),
        EXISTS (SELECT 1 FROM secret_versions v
            WHERE v.secret_uuid = s.uuid AND v.version_id = token))
    INTO b FROM secrets s WHERE s.uuid = id;
    RETURN b;
END $$;

-- coffer_put_unchanged(id, token, basis): the first statement of the
-- Put's transaction.  It locks the secret's row (waiting for a writer
-- that holds it), then computes the basis again in a statement of its own,
-- whose snapshot, taken after the lock, sees what the lock's last holder
-- committed.  A secret gone or a basis changed raises SQLSTATE CF003: the
-- pipeline stops there, nothing is written and no event recorded, and
-- cofferd runs the Put again the old way, sealing under the lock.
CREATE FUNCTION coffer_put_unchanged(id uuid, token text, basis bytea)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    AS $$
BEGIN
    PERFORM 1 FROM secrets WHERE uuid = id FOR UPDATE;
    IF NOT FOUND OR coffer_put_basis(id, token) IS DISTINCT FROM basis THEN
        RAISE EXCEPTION 'the secret changed after the value was sealed'
            USING ERRCODE = 'CF003';
    END IF;
END $$;
