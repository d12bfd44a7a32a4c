-- Data subjects: a pseudonymous id per person (a guest known by e-mail; accounts later), found by the
-- e-mail's blind index. The person's data key is the `keys` row owned by `subject:<id>`. Erasure
-- deletes that key and the index entry; the row stays as the record that the person was erased.
CREATE TABLE subjects (
    id TEXT PRIMARY KEY,
    email_index TEXT UNIQUE,
    created_at TIMESTAMP NOT NULL,
    erased_at TIMESTAMP
);
