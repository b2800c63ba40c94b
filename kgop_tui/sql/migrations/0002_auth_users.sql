-- Platform users. Passwords are bcrypt hashes, never plaintext.
CREATE TABLE kg_auth.users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL,
    password_hash text NOT NULL,
    primary_role  text NOT NULL DEFAULT 'viewer'
                  CHECK (primary_role IN ('admin', 'editor', 'viewer')),
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_username_format CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$'),
    CONSTRAINT users_password_hash_bcrypt CHECK (password_hash ~ '^\$2[aby]\$')
);
CREATE UNIQUE INDEX users_username_key ON kg_auth.users (lower(username));
