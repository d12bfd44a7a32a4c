-- Password resets: a single-use link valid for 15 minutes, sent through the outbox. The token only as
-- its hash; until the message is sent, also sealed under the account holder's key (the mailer renders
-- it then, and it is cleared once sent).
CREATE TABLE password_resets (
    id          TEXT PRIMARY KEY NOT NULL,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    token_hash  TEXT NOT NULL UNIQUE,
    secret      TEXT,
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    used_at     TIMESTAMP
);
CREATE INDEX password_resets_account ON password_resets (account_id);
