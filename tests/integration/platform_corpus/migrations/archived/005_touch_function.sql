-- Migration: 005_touch_function
-- Description: a trigger function whose body holds BEGIN/END and a semicolon-rich string

BEGIN;

CREATE OR REPLACE FUNCTION kg_api.touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- not a transaction: a PL/pgSQL block; COMMIT; here is a comment
    NEW.updated_at := NOW();
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION kg_api.touch_updated_at() IS 'Sets updated_at; used by several tables';

INSERT INTO public.corpus_runs (version) VALUES (5);

INSERT INTO public.schema_migrations (version, name)
VALUES (5, 'touch_function')
ON CONFLICT (version) DO NOTHING;

COMMIT;
