-- Migration: 008_jobs
-- Description: jobs table, its trigger, an index

BEGIN;

CREATE TABLE IF NOT EXISTS kg_api.jobs (
    id BIGSERIAL PRIMARY KEY,
    kind VARCHAR(64) NOT NULL,
    status VARCHAR(16) NOT NULL DEFAULT 'queued',
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

DROP TRIGGER IF EXISTS jobs_touch ON kg_api.jobs;
CREATE TRIGGER jobs_touch BEFORE UPDATE ON kg_api.jobs
    FOR EACH ROW EXECUTE FUNCTION kg_api.touch_updated_at();

CREATE INDEX IF NOT EXISTS idx_jobs_status ON kg_api.jobs (status);

INSERT INTO public.corpus_runs (version) VALUES (8);

INSERT INTO public.schema_migrations (version, name)
VALUES (8, 'jobs')
ON CONFLICT (version) DO NOTHING;

COMMIT;
