-- Ingestion jobs: documents queued for extraction, one row per job (platform 0.6.0).
CREATE TABLE IF NOT EXISTS kg_api.ingestion_jobs (
    id          bigserial PRIMARY KEY,
    source      text        NOT NULL,
    status      text        NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'done', 'failed')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    error       text
);

CREATE INDEX IF NOT EXISTS ingestion_jobs_status_idx
    ON kg_api.ingestion_jobs (status, created_at);
