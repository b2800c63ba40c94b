-- Migration: 009_remove_ollama_seed
-- Description: data only, no BEGIN/COMMIT; records itself

DELETE FROM kg_api.provider_model_catalog WHERE provider = 'ollama';

INSERT INTO public.corpus_runs (version) VALUES (9);

INSERT INTO public.schema_migrations (version, name)
VALUES (9, 'remove_ollama_seed')
ON CONFLICT (version) DO NOTHING;
