-- kgop's packaged (demo) schema: the subset of the platform's 0.17.1 baseline that its
-- configuration contract uses (knowledge-graph-system 0.17.1, schema/00_baseline.sql).
--
-- Only what kgop's configuration verbs write, the platform's api reads, and the demo's
-- api/web stand-ins need: the same tables, columns, types, defaults, constraints, indexes,
-- functions, triggers, sequences and seed rows, nothing of kgop's own (kgop keeps its
-- bookkeeping in schema kgop). tests/integration/test_packaged_schema.py compares every
-- object declared here with the 0.17.1 baseline and fails on any difference.
-- Line numbers below are those of the platform's 0.17.1 schema/00_baseline.sql.

SET client_min_messages = warning;

-- The graph (baseline 23-32): the platform's api pings it in its /health (a cypher RETURN 1
-- on knowledge_graph, api/app/main.py:611-619), so a database without it is "unhealthy" to
-- the api, whatever else is there.
CREATE EXTENSION IF NOT EXISTS age;
LOAD 'age';
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ag_catalog.ag_graph WHERE name = 'knowledge_graph') THEN
        PERFORM ag_catalog.create_graph('knowledge_graph');
    END IF;
END $$;

SELECT pg_catalog.set_config('search_path', '', false);

CREATE SCHEMA kg_api;
CREATE SCHEMA kg_auth;

-- ---------------------------------------------------------------------------------------------
-- Functions (baseline 493, 706, 738, 766, 884)
-- ---------------------------------------------------------------------------------------------

-- Read one platform_config value; NULL when the key is not there.
CREATE FUNCTION kg_api.get_platform_config(p_key character varying) RETURNS text
    LANGUAGE plpgsql AS $$
DECLARE
    found text;
BEGIN
    SELECT c.value INTO found FROM kg_api.platform_config c WHERE c.key = p_key;
    RETURN found;
END;
$$;

-- Insert or replace one platform_config value, stamping who and when.
CREATE FUNCTION kg_api.set_platform_config(
    p_key character varying, p_value text,
    p_updated_by character varying DEFAULT 'system'::character varying
) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO kg_api.platform_config AS c (key, value, updated_at, updated_by)
    VALUES (p_key, p_value, now(), p_updated_by)
    ON CONFLICT (key) DO UPDATE
        SET value = excluded.value, updated_at = now(), updated_by = excluded.updated_by;
END;
$$;

-- BEFORE UPDATE triggers: a changed row gets the time of the change.
CREATE FUNCTION kg_api.update_ai_extraction_config_timestamp() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := CURRENT_TIMESTAMP;
    RETURN NEW;
END;
$$;

CREATE FUNCTION kg_api.update_embedding_profile_timestamp() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := CURRENT_TIMESTAMP;
    RETURN NEW;
END;
$$;

-- A user's groups: the explicit memberships, and always the implicit 'public' group (id 1).
CREATE FUNCTION kg_auth.get_user_groups(p_user_id integer)
    RETURNS TABLE(group_id integer, group_name character varying)
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
        SELECT g.id, g.group_name
          FROM kg_auth.user_groups m JOIN kg_auth.groups g ON g.id = m.group_id
         WHERE m.user_id = p_user_id
        UNION
        SELECT 1, 'public'::character varying;
END;
$$;

-- ---------------------------------------------------------------------------------------------
-- kg_auth: roles, users, groups, memberships, OAuth clients (baseline 3729-4260)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE kg_auth.roles (
    role_name character varying(50) NOT NULL,
    display_name character varying(100) NOT NULL,
    description text,
    is_builtin boolean DEFAULT false,
    is_active boolean DEFAULT true,
    parent_role character varying(50),
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    created_by integer,
    metadata jsonb DEFAULT '{}'::jsonb,
    CONSTRAINT roles_pkey PRIMARY KEY (role_name)
);

CREATE SEQUENCE kg_auth.users_id_seq AS integer START WITH 1 INCREMENT BY 1 NO MINVALUE NO MAXVALUE CACHE 1;
CREATE TABLE kg_auth.users (
    id integer DEFAULT nextval('kg_auth.users_id_seq'::regclass) NOT NULL,
    username character varying(100) NOT NULL,
    password_hash character varying(255) NOT NULL,
    primary_role character varying(50) NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_login timestamp with time zone,
    disabled boolean DEFAULT false,
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_username_key UNIQUE (username)
);
ALTER SEQUENCE kg_auth.users_id_seq OWNED BY kg_auth.users.id;

CREATE SEQUENCE kg_auth.groups_id_seq START WITH 1000 INCREMENT BY 1 NO MINVALUE NO MAXVALUE CACHE 1;
CREATE TABLE kg_auth.groups (
    id integer DEFAULT nextval('kg_auth.groups_id_seq'::regclass) NOT NULL,
    group_name character varying(100) NOT NULL,
    display_name character varying(200),
    description text,
    is_system boolean DEFAULT false,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    created_by integer,
    CONSTRAINT groups_pkey PRIMARY KEY (id),
    CONSTRAINT groups_group_name_key UNIQUE (group_name)
);

CREATE TABLE kg_auth.user_groups (
    user_id integer NOT NULL,
    group_id integer NOT NULL,
    added_at timestamp with time zone DEFAULT now() NOT NULL,
    added_by integer,
    CONSTRAINT user_groups_pkey PRIMARY KEY (user_id, group_id)
);

CREATE TABLE kg_auth.oauth_clients (
    client_id character varying(255) NOT NULL,
    client_secret_hash character varying(255),
    client_name character varying(255) NOT NULL,
    client_type character varying(50) NOT NULL,
    grant_types text[] NOT NULL,
    redirect_uris text[],
    scopes text[],
    is_active boolean DEFAULT true,
    created_by integer,
    created_at timestamp with time zone DEFAULT now(),
    metadata jsonb DEFAULT '{}'::jsonb,
    CONSTRAINT oauth_clients_pkey PRIMARY KEY (client_id),
    CONSTRAINT oauth_clients_client_type_check
        CHECK (((client_type)::text = ANY ((ARRAY['public'::character varying, 'confidential'::character varying])::text[])))
);

ALTER TABLE kg_auth.roles
    ADD CONSTRAINT roles_parent_role_fkey FOREIGN KEY (parent_role) REFERENCES kg_auth.roles(role_name),
    ADD CONSTRAINT fk_roles_created_by FOREIGN KEY (created_by) REFERENCES kg_auth.users(id);
ALTER TABLE kg_auth.users
    ADD CONSTRAINT users_primary_role_fkey FOREIGN KEY (primary_role) REFERENCES kg_auth.roles(role_name);
ALTER TABLE kg_auth.groups
    ADD CONSTRAINT groups_created_by_fkey FOREIGN KEY (created_by) REFERENCES kg_auth.users(id);
ALTER TABLE kg_auth.user_groups
    ADD CONSTRAINT user_groups_added_by_fkey FOREIGN KEY (added_by) REFERENCES kg_auth.users(id),
    ADD CONSTRAINT user_groups_group_id_fkey FOREIGN KEY (group_id) REFERENCES kg_auth.groups(id) ON DELETE CASCADE,
    ADD CONSTRAINT user_groups_user_id_fkey FOREIGN KEY (user_id) REFERENCES kg_auth.users(id) ON DELETE CASCADE;
ALTER TABLE kg_auth.oauth_clients
    ADD CONSTRAINT oauth_clients_created_by_fkey FOREIGN KEY (created_by) REFERENCES kg_auth.users(id);

CREATE INDEX idx_roles_active ON kg_auth.roles USING btree (is_active);
CREATE INDEX idx_roles_builtin ON kg_auth.roles USING btree (is_builtin);
CREATE INDEX idx_roles_parent ON kg_auth.roles USING btree (parent_role);
CREATE INDEX idx_users_primary_role ON kg_auth.users USING btree (primary_role);
CREATE INDEX idx_users_username ON kg_auth.users USING btree (username);
CREATE INDEX idx_groups_name ON kg_auth.groups USING btree (group_name);
CREATE INDEX idx_groups_system ON kg_auth.groups USING btree (is_system);
CREATE INDEX idx_user_groups_group ON kg_auth.user_groups USING btree (group_id);
CREATE INDEX idx_user_groups_user ON kg_auth.user_groups USING btree (user_id);
CREATE INDEX idx_oauth_clients_active ON kg_auth.oauth_clients USING btree (is_active);
CREATE INDEX idx_oauth_clients_created_by ON kg_auth.oauth_clients USING btree (created_by);

-- ---------------------------------------------------------------------------------------------
-- kg_api: platform config, extraction provider, embedding profiles, model catalog, keys
-- (baseline 1375, 2078, 2592, 2612, 3321)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE kg_api.platform_config (
    key character varying(100) NOT NULL,
    value text NOT NULL,
    description text,
    updated_at timestamp with time zone DEFAULT now(),
    updated_by character varying(100) DEFAULT 'system'::character varying,
    CONSTRAINT platform_config_pkey PRIMARY KEY (key)
);

CREATE SEQUENCE kg_api.ai_extraction_config_id_seq AS integer START WITH 1 INCREMENT BY 1 NO MINVALUE NO MAXVALUE CACHE 1;
CREATE TABLE kg_api.ai_extraction_config (
    id integer DEFAULT nextval('kg_api.ai_extraction_config_id_seq'::regclass) NOT NULL,
    provider character varying(50) NOT NULL,
    model_name character varying(200) NOT NULL,
    supports_vision boolean DEFAULT false,
    supports_json_mode boolean DEFAULT true,
    max_tokens integer,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    updated_by character varying(100),
    active boolean DEFAULT true,
    base_url character varying(255),
    temperature double precision DEFAULT 0.1,
    top_p double precision DEFAULT 0.9,
    gpu_layers integer DEFAULT '-1'::integer,
    num_threads integer DEFAULT 4,
    thinking_mode character varying(20) DEFAULT 'off'::character varying,
    max_concurrent_requests integer DEFAULT 4,
    max_retries integer DEFAULT 8,
    CONSTRAINT ai_extraction_config_pkey PRIMARY KEY (id),
    CONSTRAINT ai_extraction_config_provider_key UNIQUE (provider),
    CONSTRAINT ai_extraction_config_max_concurrent_requests_check
        CHECK (((max_concurrent_requests >= 1) AND (max_concurrent_requests <= 100))),
    CONSTRAINT ai_extraction_config_max_retries_check CHECK (((max_retries >= 0) AND (max_retries <= 20))),
    CONSTRAINT ai_extraction_config_provider_check
        CHECK (((provider)::text = ANY ((ARRAY['openai'::character varying, 'anthropic'::character varying, 'ollama'::character varying, 'openrouter'::character varying, 'llamacpp'::character varying])::text[]))),
    CONSTRAINT ai_extraction_config_temperature_check
        CHECK (((temperature >= (0.0)::double precision) AND (temperature <= (1.0)::double precision))),
    CONSTRAINT ai_extraction_config_thinking_mode_check
        CHECK (((thinking_mode)::text = ANY ((ARRAY['off'::character varying, 'low'::character varying, 'medium'::character varying, 'high'::character varying])::text[]))),
    CONSTRAINT ai_extraction_config_top_p_check
        CHECK (((top_p >= (0.0)::double precision) AND (top_p <= (1.0)::double precision)))
);
ALTER SEQUENCE kg_api.ai_extraction_config_id_seq OWNED BY kg_api.ai_extraction_config.id;
-- One active row: the platform's operator upserts ON CONFLICT (active) WHERE active = true.
CREATE UNIQUE INDEX idx_ai_extraction_config_unique_active
    ON kg_api.ai_extraction_config USING btree (active) WHERE (active = true);
CREATE TRIGGER ai_extraction_config_update_timestamp BEFORE UPDATE ON kg_api.ai_extraction_config
    FOR EACH ROW EXECUTE FUNCTION kg_api.update_ai_extraction_config_timestamp();

CREATE SEQUENCE kg_api.embedding_profile_id_seq AS integer START WITH 1 INCREMENT BY 1 NO MINVALUE NO MAXVALUE CACHE 1;
CREATE TABLE kg_api.embedding_profile (
    id integer DEFAULT nextval('kg_api.embedding_profile_id_seq'::regclass) NOT NULL,
    name character varying(200) NOT NULL,
    vector_space character varying(100) NOT NULL,
    multimodal boolean DEFAULT false,
    text_provider character varying(50) NOT NULL,
    text_model_name character varying(200) NOT NULL,
    text_loader character varying(50) NOT NULL,
    text_revision character varying(200),
    text_dimensions integer NOT NULL,
    text_precision character varying(20) DEFAULT 'float16'::character varying,
    text_trust_remote_code boolean DEFAULT false,
    image_provider character varying(50),
    image_model_name character varying(200),
    image_loader character varying(50),
    image_revision character varying(200),
    image_dimensions integer,
    image_precision character varying(20) DEFAULT 'float16'::character varying,
    image_trust_remote_code boolean DEFAULT false,
    device character varying(20) DEFAULT 'cpu'::character varying,
    max_memory_mb integer,
    num_threads integer,
    batch_size integer DEFAULT 8,
    max_seq_length integer,
    normalize_embeddings boolean DEFAULT true,
    active boolean DEFAULT false,
    delete_protected boolean DEFAULT false,
    change_protected boolean DEFAULT false,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    updated_by character varying(100),
    text_query_prefix character varying(200),
    text_document_prefix character varying(200),
    image_vector_space character varying(100),
    CONSTRAINT embedding_profile_pkey PRIMARY KEY (id),
    CONSTRAINT chk_image_loader
        CHECK ((((image_loader)::text = ANY ((ARRAY['sentence-transformers'::character varying, 'transformers'::character varying, 'api'::character varying])::text[])) OR (image_loader IS NULL))),
    CONSTRAINT chk_multimodal_no_image
        CHECK (((NOT multimodal) OR ((image_provider IS NULL) AND (image_model_name IS NULL) AND (image_loader IS NULL) AND (image_dimensions IS NULL)))),
    CONSTRAINT chk_text_loader
        CHECK (((text_loader)::text = ANY ((ARRAY['sentence-transformers'::character varying, 'transformers'::character varying, 'api'::character varying])::text[])))
);
ALTER SEQUENCE kg_api.embedding_profile_id_seq OWNED BY kg_api.embedding_profile.id;
CREATE UNIQUE INDEX idx_embedding_profile_unique_active
    ON kg_api.embedding_profile USING btree (active) WHERE (active = true);
CREATE TRIGGER embedding_profile_update_timestamp BEFORE UPDATE ON kg_api.embedding_profile
    FOR EACH ROW EXECUTE FUNCTION kg_api.update_embedding_profile_timestamp();

CREATE SEQUENCE kg_api.provider_model_catalog_id_seq AS integer START WITH 1 INCREMENT BY 1 NO MINVALUE NO MAXVALUE CACHE 1;
CREATE TABLE kg_api.provider_model_catalog (
    id integer DEFAULT nextval('kg_api.provider_model_catalog_id_seq'::regclass) NOT NULL,
    provider character varying(50) NOT NULL,
    model_id character varying(300) NOT NULL,
    display_name character varying(300),
    category character varying(50) NOT NULL,
    context_length integer,
    max_completion_tokens integer,
    supports_vision boolean DEFAULT false,
    supports_json_mode boolean DEFAULT false,
    supports_tool_use boolean DEFAULT false,
    supports_streaming boolean DEFAULT true,
    price_prompt_per_m numeric,
    price_completion_per_m numeric,
    price_cache_read_per_m numeric,
    enabled boolean DEFAULT false,
    is_default boolean DEFAULT false,
    sort_order integer DEFAULT 0,
    upstream_provider character varying(100),
    raw_metadata jsonb,
    fetched_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now(),
    updated_at timestamp with time zone DEFAULT now(),
    CONSTRAINT provider_model_catalog_pkey PRIMARY KEY (id),
    CONSTRAINT provider_model_catalog_provider_model_id_category_key UNIQUE (provider, model_id, category)
);
ALTER SEQUENCE kg_api.provider_model_catalog_id_seq OWNED BY kg_api.provider_model_catalog.id;
CREATE UNIQUE INDEX idx_catalog_default
    ON kg_api.provider_model_catalog USING btree (provider, category) WHERE (is_default = true);
CREATE INDEX idx_catalog_provider ON kg_api.provider_model_catalog USING btree (provider, enabled);

-- Provider keys (and Garage's ACCESS:SECRET as provider 'garage'), Fernet with ENCRYPTION_KEY.
CREATE TABLE kg_api.system_api_keys (
    provider character varying(50) NOT NULL,
    encrypted_key bytea NOT NULL,
    updated_at timestamp with time zone DEFAULT now(),
    validation_status character varying(20) DEFAULT 'untested'::character varying,
    last_validated_at timestamp with time zone,
    validation_error text,
    CONSTRAINT system_api_keys_pkey PRIMARY KEY (provider),
    CONSTRAINT system_api_keys_validation_status_check
        CHECK (((validation_status)::text = ANY ((ARRAY['valid'::character varying, 'invalid'::character varying, 'untested'::character varying])::text[])))
);
CREATE INDEX idx_system_api_keys_updated ON kg_api.system_api_keys USING btree (updated_at);

-- ---------------------------------------------------------------------------------------------
-- public.schema_migrations: the platform's tracking table (baseline 4501)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp without time zone DEFAULT now() NOT NULL,
    CONSTRAINT schema_migrations_pkey PRIMARY KEY (version)
);
CREATE INDEX idx_schema_migrations_applied ON public.schema_migrations USING btree (applied_at DESC);

-- ---------------------------------------------------------------------------------------------
-- Seed rows (baseline 6793-7377): the same values; times are those of this database.
-- ---------------------------------------------------------------------------------------------

INSERT INTO kg_auth.roles (role_name, display_name, description, is_builtin, is_active, parent_role) VALUES
    ('read_only', 'Read Only', 'Read access to public resources', true, true, NULL),
    ('contributor', 'Contributor', 'Can create and modify content', true, true, NULL),
    ('curator', 'Curator', 'Can approve and manage content', true, true, 'contributor'),
    ('admin', 'Administrator', 'Full system access', true, true, 'curator'),
    ('platform_admin', 'Platform Administrator',
     'Full platform access including critical operations. Recovery requires re-running migration.',
     true, true, 'admin');

-- 'system' cannot log in; the seeded 'admin' (a well-known hash) is given its password by
-- `kgop configure admin` (install.sh runs it), as by the platform's operator.
INSERT INTO kg_auth.users (id, username, password_hash, primary_role, disabled) VALUES
    (1, 'system', 'SYSTEM_NO_LOGIN', 'admin', true),
    (1000, 'admin', '$2b$12$LQv3c1yqBWVHxkd0LHAkCOYz6TtxMQJqhN8/LewY5oCDxDO1b5tZK', 'platform_admin', false);
SELECT pg_catalog.setval('kg_auth.users_id_seq', 1001, true);

INSERT INTO kg_auth.groups (id, group_name, display_name, description, is_system, created_by) VALUES
    (1, 'public', 'All Users', 'All authenticated users - implicit membership', true, 1),
    (2, 'admins', 'Administrators', 'Platform administrators with elevated access', true, 1);
SELECT pg_catalog.setval('kg_auth.groups_id_seq', 1000, true);

INSERT INTO kg_auth.user_groups (user_id, group_id, added_by) VALUES (1000, 2, 1);

INSERT INTO kg_auth.oauth_clients (client_id, client_secret_hash, client_name, client_type, grant_types,
                                   redirect_uris, scopes, is_active, created_by, metadata) VALUES
    ('kg-cli', NULL, 'Knowledge Graph CLI', 'public',
     '{urn:ietf:params:oauth:grant-type:device_code,refresh_token}', NULL, '{read:*,write:*}', true, NULL,
     '{"builtin": true, "description": "Official CLI tool for knowledge graph operations"}'),
    ('kg-web', NULL, 'Knowledge Graph Web', 'public', '{authorization_code,refresh_token}',
     '{http://localhost:3000/callback,https://viz.kg.example.com/callback}', '{read:*,write:*}', true, NULL,
     '{"builtin": true, "description": "Web-based knowledge graph interface"}'),
    ('kg-mcp', NULL, 'Knowledge Graph MCP Server', 'confidential', '{client_credentials}', NULL,
     '{read:*,write:*}', true, NULL,
     '{"builtin": true, "description": "Model Context Protocol server for AI assistants"}');

INSERT INTO kg_api.platform_config (key, value, description, updated_by) VALUES
    ('dev_mode', 'false', 'Enable development mode with hot reload (true/false)', 'system'),
    ('gpu_mode', 'auto', 'GPU acceleration mode: auto, nvidia, mac, cpu', 'system'),
    ('initialized_at', '', 'Timestamp of initial quickstart setup', 'system'),
    ('initialized_by', '', 'How platform was initialized (quickstart/manual)', 'system'),
    ('compose_files', '', 'Comma-separated list of compose files used', 'system'),
    ('registration_enabled', 'true', 'Allow open self-registration via POST /auth/register (true/false). Set false for internet-facing deployments; elevated roles are assigned only through the users:create-gated admin path.', 'system'),
    ('search_default_similarity_threshold', '0.6', 'Default min cosine similarity for /query/search when a client omits min_similarity (0.0-1.0). ADR-508.', 'system');

INSERT INTO kg_api.ai_extraction_config (id, provider, model_name, supports_vision, supports_json_mode,
    max_tokens, updated_by, active, base_url, temperature, top_p, gpu_layers, num_threads, thinking_mode,
    max_concurrent_requests, max_retries) VALUES
    (1, 'openai', 'gpt-4o', true, true, 16384, 'system', true, NULL, 0.1, 0.9, -1, 4, 'off', 8, 8);
SELECT pg_catalog.setval('kg_api.ai_extraction_config_id_seq', 1, true);

INSERT INTO kg_api.embedding_profile (id, name, vector_space, multimodal, text_provider, text_model_name,
    text_loader, text_revision, text_dimensions, text_precision, text_trust_remote_code, image_provider,
    image_model_name, image_loader, image_revision, image_dimensions, image_precision,
    image_trust_remote_code, device, max_memory_mb, num_threads, batch_size, max_seq_length,
    normalize_embeddings, active, delete_protected, change_protected, updated_by, text_query_prefix,
    text_document_prefix, image_vector_space) VALUES
    (1, 'Nomic v1.5', 'nomic-v1.5', false, 'local', 'nomic-ai/nomic-embed-text-v1.5', 'sentence-transformers',
     NULL, 768, 'float16', true, 'local', 'nomic-ai/nomic-embed-vision-v1.5', 'transformers', NULL, 768,
     'float16', true, 'cpu', 512, 4, 8, 8192, true, true, false, false, 'migration-056', 'search_query: ',
     'search_document: ', NULL),
    (2, 'OpenAI Small', 'openai-v3', false, 'openai', 'text-embedding-3-small', 'api', NULL, 1536, 'float32',
     false, NULL, NULL, NULL, NULL, NULL, 'float16', false, NULL, NULL, NULL, 8, 8191, true, false, true,
     true, 'migration-055', NULL, NULL, NULL);
SELECT pg_catalog.setval('kg_api.embedding_profile_id_seq', 2, true);

INSERT INTO kg_api.provider_model_catalog (id, provider, model_id, display_name, category, context_length,
    max_completion_tokens, supports_vision, supports_json_mode, supports_tool_use, supports_streaming,
    price_prompt_per_m, price_completion_per_m, price_cache_read_per_m, enabled, is_default, sort_order,
    upstream_provider, raw_metadata, fetched_at) VALUES
    (1, 'openai', 'gpt-4o', 'GPT-4o', 'extraction', 128000, NULL, true, true, true, true, 2.50, 10.00, NULL, true, true, 1, NULL, NULL, NULL),
    (2, 'openai', 'gpt-4o-mini', 'GPT-4o Mini', 'extraction', 128000, NULL, true, true, true, true, 0.15, 0.60, NULL, true, false, 2, NULL, NULL, NULL),
    (3, 'openai', 'gpt-4-turbo', 'GPT-4 Turbo', 'extraction', 128000, NULL, true, true, true, true, 10.00, 30.00, NULL, false, false, 3, NULL, NULL, NULL),
    (4, 'openai', 'o1-preview', 'o1 Preview', 'extraction', 128000, NULL, false, false, false, true, 15.00, 60.00, NULL, false, false, 4, NULL, NULL, NULL),
    (5, 'openai', 'o1-mini', 'o1 Mini', 'extraction', 128000, NULL, false, false, false, true, 3.00, 12.00, NULL, false, false, 5, NULL, NULL, NULL),
    (6, 'openai', 'text-embedding-3-small', 'Embedding v3 Small', 'embedding', 8191, NULL, false, false, false, true, 0.02, NULL, NULL, true, true, 1, NULL, NULL, NULL),
    (7, 'openai', 'text-embedding-3-large', 'Embedding v3 Large', 'embedding', 8191, NULL, false, false, false, true, 0.13, NULL, NULL, true, false, 2, NULL, NULL, NULL),
    (8, 'openai', 'text-embedding-ada-002', 'Embedding Ada 002', 'embedding', 8191, NULL, false, false, false, true, 0.10, NULL, NULL, false, false, 3, NULL, NULL, NULL),
    (9, 'anthropic', 'claude-sonnet-4-20250514', 'Claude Sonnet 4', 'extraction', 200000, NULL, true, true, true, true, 3.00, 15.00, NULL, true, true, 1, NULL, NULL, NULL),
    (10, 'anthropic', 'claude-3-5-sonnet-20241022', 'Claude 3.5 Sonnet', 'extraction', 200000, NULL, true, true, true, true, 3.00, 15.00, NULL, false, false, 2, NULL, NULL, NULL),
    (11, 'anthropic', 'claude-3-opus-20240229', 'Claude 3 Opus', 'extraction', 200000, NULL, true, true, true, true, 15.00, 75.00, NULL, false, false, 3, NULL, NULL, NULL),
    (12, 'anthropic', 'claude-3-sonnet-20240229', 'Claude 3 Sonnet', 'extraction', 200000, NULL, true, true, true, true, 3.00, 15.00, NULL, false, false, 4, NULL, NULL, NULL),
    (13, 'anthropic', 'claude-3-haiku-20240307', 'Claude 3 Haiku', 'extraction', 200000, NULL, true, true, true, true, 0.25, 1.25, NULL, false, false, 5, NULL, NULL, NULL);
SELECT pg_catalog.setval('kg_api.provider_model_catalog_id_seq', 27, true);

-- The versions the platform's 0.17.1 baseline records (migrations 001-080 consolidated).
INSERT INTO public.schema_migrations (version, name) VALUES
    (1, 'baseline'),
    (3, 'add_embedding_config'),
    (4, 'add_ai_extraction_config'),
    (5, 'add_api_key_validation'),
    (6, 'add_embedding_config_protection'),
    (7, 'add_local_extraction_providers'),
    (8, 'add_nomic_embedding_preset'),
    (9, 'add_thinking_mode'),
    (11, 'add_grounding_metrics'),
    (12, 'add_embedding_worker_support'),
    (13, 'add_schema_version_tracking'),
    (14, 'vocabulary_as_graph'),
    (15, 'probabilistic_vocabulary_categorization'),
    (16, 'llm_determined_relationship_direction'),
    (17, 'vocabulary_configuration_system'),
    (18, 'add_rate_limiting_config'),
    (19, 'scheduled_jobs_system'),
    (20, 'track_authenticated_users_in_jobs'),
    (21, 'graph_provenance_tracking'),
    (22, 'oauth_client_management'),
    (23, 'image_storage_source_properties'),
    (24, 'add_concept_descriptions'),
    (25, 'graph_metrics_table'),
    (26, 'epistemic_remeasurement_job'),
    (27, 'source_text_embeddings'),
    (28, 'platform_admin_resources'),
    (29, 'fix_role_hierarchy'),
    (30, 'users_create_permission'),
    (31, 'platform_config'),
    (32, 'projection_scheduled_job'),
    (33, 'graph_change_triggers'),
    (34, 'user_scoping_groups'),
    (35, 'artifact_persistence'),
    (36, 'job_artifact_linking'),
    (37, 'admin_backup_permissions'),
    (38, 'admin_to_platform_admin'),
    (39, 'query_definition_metadata'),
    (40, 'graph_crud_permissions'),
    (41, 'job_permissions'),
    (42, 'storage_admin_permissions'),
    (43, 'backfill_document_meta_content_type'),
    (44, 'ontology_graph_nodes'),
    (45, 'ontology_lifecycle_permissions'),
    (46, 'annealing_proposals'),
    (47, 'annealing_scheduled_job'),
    (48, 'ontology_edges'),
    (49, 'proposal_execution'),
    (50, 'exploration_definition_type'),
    (51, 'graph_accel_extension'),
    (52, 'program_definition_type'),
    (53, 'annealing_autonomous_default'),
    (54, 'sources_delete_permission'),
    (55, 'embedding_profile'),
    (56, 'embedding_task_prefix'),
    (57, 'worker_lanes_and_job_dispatch'),
    (58, 'precreate_graph_labels'),
    (59, 'provider_model_catalog'),
    (60, 'remove_ollama_catalog_seeds'),
    (61, 'llamacpp_provider'),
    (62, 'per_provider_config'),
    (63, 'graph_epoch_events'),
    (64, 'graph_epoch_kinds_lookup'),
    (65, 'annealing_cadence_floors'),
    (66, 'ontology_tombstones'),
    (67, 'annealing_vocab_v2'),
    (68, 'annealing_pressure_history'),
    (69, 'vocab_embedding_lifecycle'),
    (70, 'vocab_embedding_scheduled_job'),
    (71, 'registration_enabled_flag'),
    (72, 'admin_oauth_clients_write'),
    (73, 'catalog_index'),
    (74, 'ai_vision_config'),
    (75, 'decouple_image_embedding_space'),
    (76, 'freshness_clock'),
    (77, 'restore_epoch_kind'),
    (78, 'seed_primordial_ontology'),
    (79, 'search_default_threshold'),
    (80, 'search_config_permission');
