-- Migration: 010_warm_label_index
-- Description: stands for the platform's warm files, which need the running application.
-- Applied with `kgop migrate up --warm` (kgop start applies it once api is healthy).

BEGIN;

CREATE TABLE IF NOT EXISTS kg_api.label_cache (
    label VARCHAR(64) PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

INSERT INTO kg_api.label_cache (label) VALUES ('Concept'), ('Source')
ON CONFLICT (label) DO NOTHING;

INSERT INTO public.corpus_runs (version) VALUES (10);

INSERT INTO public.schema_migrations (version, name)
VALUES (10, 'warm_label_index')
ON CONFLICT (version) DO NOTHING;

COMMIT;
