-- Secrets the platform's services need (object-store credentials, ...), Fernet-encrypted
-- with ENCRYPTION_KEY like the provider keys, and covered by the key canary.
CREATE TABLE kg_api.platform_secrets (
    name            text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_.]{0,127}$'),
    encrypted_value bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
