-- Free-form platform settings (key/value), with who changed them and when.
CREATE TABLE kg_api.platform_config (
    key        text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_.]{0,127}$'),
    value      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text
);
