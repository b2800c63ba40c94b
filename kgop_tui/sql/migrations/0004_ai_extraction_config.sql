-- The AI provider and model used for knowledge extraction; at most one row is active.
CREATE TABLE kg_api.ai_extraction_config (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider   text NOT NULL CHECK (provider IN ('openai', 'anthropic', 'ollama', 'openrouter')),
    model      text NOT NULL CHECK (length(model) BETWEEN 1 AND 200),
    max_tokens integer NOT NULL DEFAULT 4096 CHECK (max_tokens BETWEEN 1 AND 1000000),
    active     boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider, model)
);
CREATE UNIQUE INDEX ai_extraction_config_one_active
    ON kg_api.ai_extraction_config (active) WHERE active;
