-- Migration: 001_baseline
-- Description: schemas of the platform and the run log the corpus tests read

BEGIN;

CREATE SCHEMA IF NOT EXISTS kg_api;
CREATE SCHEMA IF NOT EXISTS kg_auth;

-- Every file of this corpus appends its version here: a file applied twice shows twice.
CREATE TABLE IF NOT EXISTS public.corpus_runs (
    version integer NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);
INSERT INTO public.corpus_runs (version) VALUES (1);

INSERT INTO public.schema_migrations (version, name)
VALUES (1, 'baseline')
ON CONFLICT (version) DO NOTHING;

COMMIT;
