-- 0021_tag_limit: the 50-tag quota checked by a statement that can be
-- held (issue 14).
--
-- TagResource's tags go to PostgreSQL with its audit event and COMMIT in
-- one round trip (store/DESIGN.md, "Writes that report nothing back"), so
-- the count that enforces the quota cannot come back for cofferd to judge
-- before the commit: the statement judges it itself, as
-- coffer_labels_within (0019) does for staging labels.
-- coffer_tags_within(n, lim) is ${n}, or the error Coffer gives when a
-- secret would carry more than ${lim} tags, with SQLSTATE CF002, which
-- cofferd maps to InvalidParameterException with this message.  Failing,
-- the statement aborts the pipeline: the event's INSERT and the COMMIT
-- never run.
CREATE FUNCTION coffer_tags_within(n bigint, lim int) RETURNS bigint
    LANGUAGE plpgsql IMMUTABLE
    AS $$
BEGIN
    IF n > lim THEN
        RAISE EXCEPTION 'A secret can have at most % tags; this request would leave it with %.', lim, n
            USING ERRCODE = 'CF002';
    END IF;
    RETURN n;
END $$;
