-- Provider API keys, Fernet-encrypted with ENCRYPTION_KEY from .env; never stored in clear.
CREATE TABLE kg_api.system_api_keys (
    provider          text PRIMARY KEY
                      CHECK (provider IN ('openai', 'anthropic', 'ollama', 'openrouter')),
    encrypted_key     bytea NOT NULL,
    key_hint          text NOT NULL,
    validation_status text NOT NULL DEFAULT 'untested'
                      CHECK (validation_status IN ('valid', 'invalid', 'untested')),
    validated_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
COMMENT ON COLUMN kg_api.system_api_keys.key_hint IS
    'Masked form for display, e.g. sk-...4f2a; never enough to use the key';
