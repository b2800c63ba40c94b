-- The platform's two schemas: authentication and the API's own data.
CREATE SCHEMA IF NOT EXISTS kg_auth;
CREATE SCHEMA IF NOT EXISTS kg_api;
