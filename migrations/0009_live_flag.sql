-- 0009_live_flag: live secrets marked by a boolean, so that a ListSecrets
-- page reads a page even before PostgreSQL has statistics (issue 14).
--
-- A page of live secrets is the first rows of secrets_live_created_key, an
-- index on (created_date, uuid) of live secrets only.  Until the table is
-- first analyzed (autovacuum gets to a table just filled a minute or so
-- later; a restored or pg_upgraded database has no statistics until
-- ANALYZE), PostgreSQL guesses that "deleted_date IS NULL" keeps 0.5 % of
-- the rows.  Up to some tens of thousands of secrets that guess is less
-- than a page, so it reads and sorts every live secret for each page
-- rather than walk the index: bench/run, listing seconds after its writes
-- had made 20,000 secrets, got 94 pages/s.  For a boolean column the guess
-- is half the rows, and the index wins; with statistics both are estimated
-- alike.
--
-- Generated from deleted_date, so no writer can make the two disagree.
-- Adding it rewrites the table once, under this migration's lock.
ALTER TABLE secrets
    ADD COLUMN live boolean GENERATED ALWAYS AS (deleted_date IS NULL) STORED;
-- The index of 0002, on the predicate the statements now use.
DROP INDEX secrets_live_created_key;
CREATE INDEX secrets_live_created_key ON secrets (created_date, uuid)
    WHERE live;
