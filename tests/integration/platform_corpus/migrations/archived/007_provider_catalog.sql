-- Migration: 007_provider_catalog
-- Description: catalog with seeds and a function quoted with a named dollar tag

BEGIN;

CREATE TABLE IF NOT EXISTS kg_api.provider_model_catalog (
    provider VARCHAR(32) NOT NULL,
    model VARCHAR(128) NOT NULL,
    price_per_mtok NUMERIC(10, 4),
    PRIMARY KEY (provider, model)
);

INSERT INTO kg_api.provider_model_catalog (provider, model, price_per_mtok) VALUES
    ('openai', 'gpt-4o-mini', 0.15),
    ('anthropic', 'claude-haiku', 0.25),
    ('ollama', 'llama3', NULL)
ON CONFLICT (provider, model) DO UPDATE SET price_per_mtok = EXCLUDED.price_per_mtok;

CREATE OR REPLACE FUNCTION kg_api.catalog_size() RETURNS integer
LANGUAGE sql STABLE AS $body$
    SELECT count(*)::integer FROM kg_api.provider_model_catalog; -- $$ inside is fine
$body$;

INSERT INTO public.corpus_runs (version) VALUES (7);

INSERT INTO public.schema_migrations (version, name)
VALUES (7, 'provider_catalog')
ON CONFLICT (version) DO NOTHING;

COMMIT;
