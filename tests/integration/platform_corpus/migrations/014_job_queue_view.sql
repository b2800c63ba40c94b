-- kgop-managed: no BEGIN/COMMIT and no tracking row; kgop runs it in a transaction and
-- records it.
CREATE OR REPLACE VIEW kg_api.job_queue AS
    SELECT id, kind FROM kg_api.jobs WHERE status = 'queued';

INSERT INTO public.corpus_runs (version) VALUES (14);
