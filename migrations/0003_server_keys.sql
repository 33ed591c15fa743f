-- 0003_server_keys: keys that every cofferd of a deployment must share.
-- 'list-token-mac' authenticates the opaque NextToken cursors so that an
-- edited token is refused (InvalidNextTokenException).  It protects
-- cursors, not secrets: values are sealed by the token's KEKs.
CREATE TABLE server_keys (
    name      text PRIMARY KEY,
    key       bytea NOT NULL,
    created   timestamptz NOT NULL DEFAULT now()
);
