-- Migration: 016_unqualified_public
-- Description: an unqualified table: it belongs in public (a fresh session's search_path)

BEGIN;

CREATE TABLE IF NOT EXISTS platform_notes (
    id SERIAL PRIMARY KEY,
    note TEXT NOT NULL
);

INSERT INTO public.corpus_runs (version) VALUES (16);

INSERT INTO public.schema_migrations (version, name)
VALUES (16, 'unqualified_public')
ON CONFLICT (version) DO NOTHING;

COMMIT;
