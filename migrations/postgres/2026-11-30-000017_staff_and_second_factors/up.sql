-- Staff: a realm of its own (not shopper accounts). A member's work e-mail is sealed under a key of
-- their own (`staff:<id>` in the keyring) and found by its blind index; the password only as an
-- argon2id hash (none until the one-time setup link is used). One role each: admin, support, finance.
CREATE TABLE staff_members (
    id            TEXT PRIMARY KEY NOT NULL,
    email_index   TEXT NOT NULL UNIQUE,
    email         TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'support', 'finance')),
    password_hash TEXT,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    disabled_at   TIMESTAMP
);

-- Staff sessions: the token only as its SHA-256 hash. `verified`: the second factor was shown for this
-- session (at login, or by enrolling in it); until then only enrolment is open to it.
CREATE TABLE staff_sessions (
    token_hash   TEXT PRIMARY KEY NOT NULL,
    staff_id     TEXT NOT NULL REFERENCES staff_members (id),
    verified     BOOLEAN NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL
);
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);

-- One-time setup links (set the password: a new member, or a reset by an admin): hash only.
CREATE TABLE staff_setup_links (
    token_hash TEXT PRIMARY KEY NOT NULL,
    staff_id   TEXT NOT NULL REFERENCES staff_members (id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at    TIMESTAMP
);
CREATE INDEX staff_setup_links_staff ON staff_setup_links (staff_id);

-- Second factors (TOTP, RFC 6238) of staff (required) and shoppers (opt-in), one per holder. The
-- secret is sealed under the holder's key; `last_step` refuses a code used before. Unconfirmed until a
-- first code from the authenticator proves it was set up.
CREATE TABLE second_factors (
    realm        TEXT NOT NULL CHECK (realm IN ('staff', 'shopper')),
    holder_id    TEXT NOT NULL,
    secret       TEXT NOT NULL,
    confirmed_at TIMESTAMP,
    last_step    BIGINT,
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (realm, holder_id)
);

-- Single-use recovery codes, kept only as hashes.
CREATE TABLE recovery_codes (
    code_hash  TEXT PRIMARY KEY NOT NULL,
    realm      TEXT NOT NULL,
    holder_id  TEXT NOT NULL,
    used_at    TIMESTAMP
);
CREATE INDEX recovery_codes_holder ON recovery_codes (realm, holder_id);
