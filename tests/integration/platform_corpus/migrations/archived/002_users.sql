-- Migration: 002_users
-- Description: platform users, with a comment on the table

BEGIN;

CREATE TABLE IF NOT EXISTS kg_auth.users (
    id SERIAL PRIMARY KEY,
    username VARCHAR(64) NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    primary_role VARCHAR(32) NOT NULL DEFAULT 'user',
    disabled BOOLEAN NOT NULL DEFAULT FALSE
);

COMMENT ON TABLE kg_auth.users IS 'People who sign in; passwords are bcrypt hashes; never plain text';

INSERT INTO public.corpus_runs (version) VALUES (2);

INSERT INTO public.schema_migrations (version, name)
VALUES (2, 'users')
ON CONFLICT (version) DO NOTHING;

COMMIT;
