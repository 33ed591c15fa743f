-- 0010_list_words: the words of ListSecrets' `all` and `description`
-- filters, split as AWS splits them (issue 15).
--
-- A filter word matches a secret when a word of its name, description,
-- tag key or tag value starts with it, ignoring case.  AWS starts a word
-- after punctuation (what store_search.c matched until now) and also at
-- a change of case: a capital after a lower-case letter (DescTwo: Desc,
-- Two; prod/AppBeta/x: prod, App, Beta, x), and the last capital of an
-- upper-case run followed by lower case (COMPANYthings: COMPAN, Ythings;
-- uat/COMPANY/x keeps COMPANY).  So `company` does not match COMPANYthings.
--
-- coffer_words(t) is ${t} with a space put at every such change of case,
-- so that the regular expression store_search.c has always used, "the
-- word at the start of the text or after a character that is not a letter
-- or digit", sees those words too.  Digits start no word of their own.
-- Two regexp_replace calls and no loop: the filters run over every row
-- they pass, so the split must stay cheap and SQL-inlinable.
CREATE FUNCTION coffer_words(t text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT regexp_replace(regexp_replace(t,
        '([[:lower:]])([[:upper:]])', '\1 \2', 'g'),
        '([[:upper:]])([[:upper:]][[:lower:]])', '\1 \2', 'g') $$;

-- Does a word of ${t} start with filter word ${word}, ignoring case?  The
-- word is split as the text is (a filter word AppBeta is the two words
-- App Beta, and matches only where they stand together, as in
-- prod/AppBeta/x) and taken literally: every character that is not a
-- letter or digit is escaped.  NULL when ${t} is NULL.
--
-- The strpos() comes first because it is necessary (a word that matches
-- stands in the text as written, so AppBeta does not match "App Beta"
-- written with a space) and cheap: a row without the word at all, most
-- rows of a selective filter, is rejected without rewriting its text,
-- which costs about as much as the match itself (200,000 names: 140 ms
-- rejected so, 450 ms by coffer_words and the match, 137 ms for the
-- plain match this replaces).  Inlined by the planner; with the word a
-- parameter of the one-off statement, its pattern is built at plan time.
CREATE FUNCTION coffer_word_match(t text, word text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT strpos(lower(t), lower(word)) > 0 AND
        coffer_words(t) ~* ('(^|[^[:alnum:]])' ||
        coffer_words(regexp_replace(word, '([^[:alnum:]])', '\\\1', 'g'))) $$;

GRANT EXECUTE ON FUNCTION coffer_words(text) TO coffer_app;
GRANT EXECUTE ON FUNCTION coffer_word_match(text, text) TO coffer_app;
