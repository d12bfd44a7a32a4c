-- Shopper accounts (guest checkout stays first-class). The account's person is a data subject like a
-- guest's: its e-mail and name are sealed under that person's key, and found by the e-mail's blind
-- index in the keyring (one account per person). The password only as an argon2id hash (PHC string).
CREATE TABLE accounts (
    id                  TEXT PRIMARY KEY NOT NULL,
    subject_id          TEXT NOT NULL UNIQUE,
    email               TEXT NOT NULL,
    name                TEXT,
    password_hash       TEXT NOT NULL,
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL,
    password_changed_at TIMESTAMP NOT NULL
);

-- Sessions: the token only as its SHA-256 hash; an idle and an absolute lifetime.
CREATE TABLE account_sessions (
    token_hash   TEXT PRIMARY KEY NOT NULL,
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    created_at   TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL
);
CREATE INDEX account_sessions_account ON account_sessions (account_id);
