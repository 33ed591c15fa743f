-- 0008_audit_request_params: what each call asked for, and finding events
-- by the secret asked for (audit/DESIGN.md, "Request parameters").
--
-- request_params is the JSON object of the request's non-secret members
-- (SecretId as given, VersionId, VersionStage, Filters, ...), written by
-- cofferd and covered by the event's hash (format v2).  Events written
-- before this migration, and events without a request (ServerStart, an
-- unknown method, a purge), have none and keep format v1.  It is text,
-- not jsonb, because the hash covers its exact bytes.  Adding a column
-- without a default rewrites nothing.
ALTER TABLE audit_events ADD COLUMN request_params text;
ALTER TABLE audit_events ADD CONSTRAINT audit_params_len CHECK
    (request_params IS NULL OR octet_length(request_params) <= 8192);

-- The secret a call asked for: its SecretId as given, or the Name of a
-- CreateSecret.  A failed call (no such secret, access denied) has no
-- secret_arn; ListAuditEvents finds it by this.
CREATE FUNCTION coffer_audit_requested_secret(params text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN coalesce((params::jsonb) ->> 'SecretId', (params::jsonb) ->> 'Name');

-- Made on every partition, like the other indexes of 0004.
CREATE INDEX audit_events_requested_key ON audit_events
    (coffer_audit_requested_secret(request_params), event_time)
    WHERE coffer_audit_requested_secret(request_params) IS NOT NULL;

GRANT EXECUTE ON FUNCTION coffer_audit_requested_secret(text) TO coffer_app;
