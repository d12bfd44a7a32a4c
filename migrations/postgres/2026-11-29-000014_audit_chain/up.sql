-- The access audit log becomes a chain: each entry carries its place (seq), the hash of the entry
-- before it and its own hash over both and its fields, so an edited, removed or inserted entry is
-- detected (`leancart audit verify`). Who (actor type and id), what, which record, the outcome and the
-- network it came from (truncated: /24 or /48, not a device). The head row holds the chain's end;
-- entries written before the chain have no seq.
ALTER TABLE audit_log ADD COLUMN actor_id TEXT;
ALTER TABLE audit_log ADD COLUMN outcome TEXT NOT NULL DEFAULT 'ok';
ALTER TABLE audit_log ADD COLUMN network TEXT;
ALTER TABLE audit_log ADD COLUMN seq BIGINT;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
CREATE UNIQUE INDEX audit_log_seq ON audit_log (seq);
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, 'leancart-audit-genesis');
