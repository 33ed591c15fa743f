-- 0013_audit_transport: which transport carried each call, and for AWS's
-- JSON protocol the access key that signed it (audit/DESIGN.md, "One
-- event per call"; CloudTrail's accessKeyId).
--
-- transport is 'grpc' or 'aws-json', written by cofferd for every call it
-- answers; access_key_id is the SigV4 access key id of an authenticated
-- 'aws-json' call, NULL otherwise.  Both are covered by the event's hash
-- (format v3).  Events written before this migration, and cofferd's own
-- events (ServerStart, rotation steps, purges, refusal summaries), have
-- no transport and keep format v1 or v2.  Adding columns without a
-- default rewrites nothing; 0004's table-wide grants (coffer_app INSERTs
-- and SELECTs audit_events) cover them.
ALTER TABLE audit_events ADD COLUMN transport text,
    ADD COLUMN access_key_id text;
ALTER TABLE audit_events ADD CONSTRAINT audit_transport_known CHECK
    (transport IS NULL OR transport IN ('grpc', 'aws-json'));
ALTER TABLE audit_events ADD CONSTRAINT audit_access_key_id_len CHECK
    (access_key_id IS NULL OR octet_length(access_key_id) <= 128);
ALTER TABLE audit_events ADD CONSTRAINT audit_access_key_id_transport CHECK
    (access_key_id IS NULL OR transport = 'aws-json');
