-- First of the init scripts, as in the apache/age image (its docker/docker-entrypoint-initdb.d/):
-- AGE is created in POSTGRES_DB before anything mounted after it (the platform's baseline,
-- 10-baseline.sql) runs.
CREATE EXTENSION age;
