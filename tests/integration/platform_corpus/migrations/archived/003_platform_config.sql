-- Migration: 003_platform_config
-- Description: key/value settings with seeds that a re-run must not duplicate

BEGIN;

CREATE TABLE IF NOT EXISTS kg_api.platform_config (
    key VARCHAR(128) PRIMARY KEY,
    value JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

INSERT INTO kg_api.platform_config (key, value) VALUES
    ('registration.enabled', 'false'::jsonb),
    ('search.threshold', '0.75'::jsonb),
    ('motd', '"Welcome; mind the semicolons -- and the dashes"'::jsonb)
ON CONFLICT (key) DO NOTHING;

INSERT INTO public.corpus_runs (version) VALUES (3);

INSERT INTO public.schema_migrations (version, name)
VALUES (3, 'platform_config')
ON CONFLICT (version) DO NOTHING;

COMMIT;
