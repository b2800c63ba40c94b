-- Migration: 013_graph_metrics
-- Description: a DO block with its own exception handler inside the file's transaction

BEGIN;

CREATE TABLE IF NOT EXISTS kg_api.graph_metrics (
    metric VARCHAR(64) PRIMARY KEY,
    value DOUBLE PRECISION NOT NULL DEFAULT 0
);

DO $$
DECLARE
    metric_name text;
BEGIN
    FOREACH metric_name IN ARRAY ARRAY['concepts', 'edges', 'sources'] LOOP
        BEGIN
            INSERT INTO kg_api.graph_metrics (metric) VALUES (metric_name);
        EXCEPTION WHEN unique_violation THEN
            RAISE NOTICE 'metric % exists', metric_name;
        END;
    END LOOP;
END $$;

INSERT INTO public.corpus_runs (version) VALUES (13);

INSERT INTO public.schema_migrations (version, name)
VALUES (13, 'graph_metrics')
ON CONFLICT (version) DO NOTHING;

COMMIT;
