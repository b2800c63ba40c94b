-- Migration: 006_embedding_profile
-- Description: no BEGIN/COMMIT of its own, but it records itself (the runner's transaction
-- holds it); a DO block adds a column only when it is missing

CREATE TABLE IF NOT EXISTS kg_api.embedding_profile (
    id SERIAL PRIMARY KEY,
    name VARCHAR(200) NOT NULL UNIQUE,
    active BOOLEAN NOT NULL DEFAULT FALSE
);

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM information_schema.columns
        WHERE table_schema = 'kg_api' AND table_name = 'embedding_profile'
          AND column_name = 'device'
    ) THEN
        ALTER TABLE kg_api.embedding_profile ADD COLUMN device VARCHAR(16) DEFAULT 'cpu';
    END IF;
    RAISE NOTICE 'Migration 006: embedding_profile ready';
END $$;

INSERT INTO kg_api.embedding_profile (name, active) VALUES ('local-minilm', TRUE)
ON CONFLICT (name) DO NOTHING;

INSERT INTO public.corpus_runs (version) VALUES (6);

INSERT INTO public.schema_migrations (version, name)
VALUES (6, 'embedding_profile')
ON CONFLICT (version) DO NOTHING;
