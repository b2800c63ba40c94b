-- Key canary: which ENCRYPTION_KEY encrypted the stored secrets. kgop refuses to read or
-- write encrypted values under a key whose fingerprint differs.
CREATE TABLE kg_api.encryption_canary (
    id              smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    key_fingerprint text NOT NULL,
    token           bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    rotated_at      timestamptz
);
