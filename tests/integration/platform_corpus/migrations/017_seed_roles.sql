-- Migration: 017_seed_roles
-- Description: seeds that update on conflict, a comment on a column, an E'' string

BEGIN;

CREATE TABLE IF NOT EXISTS kg_auth.roles (
    name VARCHAR(32) PRIMARY KEY,
    description TEXT NOT NULL
);

INSERT INTO kg_auth.roles (name, description) VALUES
    ('admin', E'Runs the platform;\nmanages users'),
    ('user', 'Reads and writes the graph')
ON CONFLICT (name) DO UPDATE SET description = EXCLUDED.description;

COMMENT ON COLUMN kg_auth.roles.description IS 'Shown in the admin screen';

INSERT INTO public.corpus_runs (version) VALUES (17);

INSERT INTO public.schema_migrations (version, name)
VALUES (17, 'seed_roles')
ON CONFLICT (version) DO NOTHING;

COMMIT;
