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
-- coffer_put_basis(id, token) is a digest of exactly that state.  It is
-- STABLE, so inside the read's statement it sees that statement's
-- snapshot; the read carries it to cofferd with the rest.  PL/pgSQL, not
-- SQL: a SQL function whose body has a FROM is not inlined, and was
-- parsed and planned again at every call (a Put ran a third slower,
-- docs/performance.md, ninth pass); PL/pgSQL keeps its plan for the
-- session, and, being STABLE, runs it on its caller's snapshot.  SHA-256 of the
-- record's text form (which quotes every field, so two states never share
-- a text) rather than the text itself: a policy can be 20 KiB.  What a Put
-- changes itself (LastChangedDate, versions other than its own, where
-- AWSCURRENT points) and what a read changes (LastAccessedDate) is left
-- out, so that Puts to one secret do not invalidate one another.
CREATE FUNCTION coffer_put_basis(id uuid, token text) RETURNS bytea
    LANGUAGE plpgsql STABLE
    AS $$
DECLARE
    b bytea;
BEGIN
    SELECT sha256(convert_to(ROW(
        s.name, s.arn, s.kms_key_id, s.deleted_date, s.resource_policy,
        s.rotation_enabled, s.rotation_rules, s.owning_service,
        (SELECT array_agg(ROW(g.key, g.value) ORDER BY g.key)
            FROM tags g WHERE g.secret_uuid = s.uuid),
        EXISTS (SELECT 1 FROM version_stages c
            WHERE c.secret_uuid = s.uuid AND c.stage = 'AWSCURRENT'),
        EXISTS (SELECT 1 FROM secret_versions v
            WHERE v.secret_uuid = s.uuid AND v.version_id = token))::text,
        'UTF8'))
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
