-- 0019_label_limit: the 20-label quota checked by the statement that adds
-- a version (issue 14).
--
-- PutSecretValue's new version can be held and sent with its audit event
-- and COMMIT in one round trip (store/DESIGN.md, "Writes that report
-- nothing back"), so the statement that adds it cannot hand its label
-- count back for cofferd to judge before the commit: it judges it itself.
-- coffer_labels_within(n, lim) is ${n}, or the error AWS gives when a
-- secret would carry more than ${lim} staging labels across its versions,
-- with SQLSTATE CF001, which cofferd maps to LimitExceededException with
-- this message.  Failing, the statement aborts the pipeline: the event's
-- INSERT and the COMMIT never run.
CREATE FUNCTION coffer_labels_within(n bigint, lim int) RETURNS bigint
    LANGUAGE plpgsql IMMUTABLE
    AS $$
BEGIN
    IF n > lim THEN
        RAISE EXCEPTION 'A secret can have at most % staging labels attached across its versions.', lim
            USING ERRCODE = 'CF001';
    END IF;
    RETURN n;
END $$;
