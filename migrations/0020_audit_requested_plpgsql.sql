-- 0020_audit_requested_plpgsql: the audit index's function in PL/pgSQL
-- (issue 14; docs/performance.md, "Issue 14, seventh pass").
--
-- coffer_audit_requested_secret() (0008) is the expression and the
-- predicate of audit_events_requested_key, so every audit INSERT calls it
-- twice per event.  As a SQL function PostgreSQL cannot inline (STRICT
-- over a body that is not), each call ran an executor of its own, each
-- statement parsed its body again, and each call parsed the parameters
-- as JSON twice.  PL/pgSQL keeps the compiled function for the session,
-- evaluates its expressions without an executor, and parses the JSON
-- once: an audit INSERT of one event took about a third less backend
-- time, one of eight about a fifth less.
--
-- The results are the same for every input (NULL for NULL, as STRICT;
-- otherwise the same coalesce), so the index stays valid and is not
-- rebuilt.  The planner sees an opaque function as before, so the
-- estimates behind ListAuditEvents by secret do not change (inlining the
-- function would change them, and a plan with them: docs/performance.md,
-- sixth pass).  A PL/pgSQL body is resolved with the caller's
-- search_path at run time, so its type and operator are named in
-- pg_catalog: no one's search_path can change what the index stores.
CREATE OR REPLACE FUNCTION coffer_audit_requested_secret(params text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
    j pg_catalog.jsonb := params::pg_catalog.jsonb;
BEGIN
    RETURN coalesce(j OPERATOR(pg_catalog.->>) 'SecretId',
        j OPERATOR(pg_catalog.->>) 'Name');
END
$$;
