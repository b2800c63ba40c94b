-- Migration: 011_api_keys
-- Description: encrypted provider keys (first migration after the checkpoint)

BEGIN;

CREATE TABLE IF NOT EXISTS kg_api.system_api_keys (
    provider VARCHAR(32) PRIMARY KEY,
    encrypted_key BYTEA NOT NULL,
    validation_status VARCHAR(16) NOT NULL DEFAULT 'untested',
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

COMMENT ON COLUMN kg_api.system_api_keys.encrypted_key IS 'Fernet token; the key is in .env';

INSERT INTO public.corpus_runs (version) VALUES (11);

INSERT INTO public.schema_migrations (version, name)
VALUES (11, 'api_keys')
ON CONFLICT (version) DO NOTHING;

COMMIT;
