-- The keyring: every data key (one per data subject) and the blind-index key, wrapped by the master
-- key. It lives apart from the shop's data (its own SQLite file, or on PostgreSQL its own schema or
-- database), so backups of the two can be kept apart. Destroying a subject's row shreds that person's
-- data everywhere.
CREATE TABLE keys (
    owner TEXT PRIMARY KEY,
    wrapped_key TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    rotated_at TIMESTAMP
);
