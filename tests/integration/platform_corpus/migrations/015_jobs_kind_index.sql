-- kgop:no-transaction
-- Built without locking writers: CONCURRENTLY cannot run inside a transaction.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jobs_kind ON kg_api.jobs (kind);

INSERT INTO public.corpus_runs (version) VALUES (15);
