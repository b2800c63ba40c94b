-- Embedding profiles (model + dimensions + device); exactly one is active.
CREATE TABLE kg_api.embedding_profile (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,63}$'),
    provider   text NOT NULL CHECK (provider IN ('local', 'openai', 'ollama')),
    model      text NOT NULL,
    dimensions integer NOT NULL CHECK (dimensions > 0),
    device     text NOT NULL DEFAULT 'cpu' CHECK (device IN ('cpu', 'cuda', 'mps')),
    active     boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX embedding_profile_one_active
    ON kg_api.embedding_profile (active) WHERE active;

INSERT INTO kg_api.embedding_profile (name, provider, model, dimensions, device, active) VALUES
    ('local-minilm',   'local',  'sentence-transformers/all-MiniLM-L6-v2', 384,  'cpu', true),
    ('local-bge-base', 'local',  'BAAI/bge-base-en-v1.5',                  768,  'cpu', false),
    ('openai-small',   'openai', 'text-embedding-3-small',                 1536, 'cpu', false),
    ('openai-large',   'openai', 'text-embedding-3-large',                 3072, 'cpu', false),
    ('ollama-nomic',   'ollama', 'nomic-embed-text',                       768,  'cpu', false);
