-- Accounts, their users and management keys, upstream servers, agent grants and
-- policy versions. Every tenant-owned row carries account_id, and every query
-- filters on it.

CREATE TABLE accounts (
    id                    uuid PRIMARY KEY,
    slug                  text NOT NULL UNIQUE,
    name                  text NOT NULL,
    approval_webhook_url  text,
    -- AES-256-GCM ciphertext (nonce || ciphertext) of the webhook signing secret.
    webhook_secret_enc    bytea,
    created_at            timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id             uuid PRIMARY KEY,
    account_id     uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    -- Stored lower-cased: one address, one user.
    email          text NOT NULL UNIQUE,
    password_hash  text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_account_id ON users(account_id);

CREATE TABLE api_keys (
    id            uuid PRIMARY KEY,
    account_id    uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name          text NOT NULL,
    -- The first characters of the key, shown in listings so a person can tell keys apart.
    prefix        text NOT NULL,
    -- SHA-256 of the whole key: keys are 256-bit random, so a fast hash is safe.
    secret_hash   bytea NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz
);
CREATE INDEX api_keys_account_id ON api_keys(account_id, id);

CREATE TABLE servers (
    id           uuid PRIMARY KEY,
    account_id   uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    -- The server's slug in its gateway URL.
    name         text NOT NULL,
    url          text NOT NULL,
    -- Names of the upstream headers, in clear, so they can be listed...
    header_names text[] NOT NULL DEFAULT '{}',
    -- ...and their values, as AES-256-GCM ciphertext of a JSON object.
    headers_enc  bytea,
    timeout_ms   integer NOT NULL DEFAULT 30000 CHECK (timeout_ms BETWEEN 100 AND 600000),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, name)
);

CREATE TABLE grants (
    id            uuid PRIMARY KEY,
    account_id    uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name          text NOT NULL,
    prefix        text NOT NULL,
    -- SHA-256 of the token; the token itself is shown once and never stored.
    token_hash    bytea NOT NULL UNIQUE,
    -- true: every server of the account; false: only the rows of grant_servers.
    all_servers   boolean NOT NULL,
    expires_at    timestamptz,
    revoked_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX grants_account_id ON grants(account_id, id);

CREATE TABLE grant_servers (
    grant_id   uuid NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    server_id  uuid NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    PRIMARY KEY (grant_id, server_id)
);
CREATE INDEX grant_servers_server_id ON grant_servers(server_id);

CREATE TABLE policy_versions (
    account_id  uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    server_id   uuid NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    version     integer NOT NULL CHECK (version > 0),
    document    jsonb NOT NULL,
    created_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (server_id, version)
);

-- Versions are immutable: history is an audit record.
CREATE FUNCTION policy_versions_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'policy versions are immutable';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER policy_versions_no_update BEFORE UPDATE ON policy_versions
    FOR EACH ROW EXECUTE FUNCTION policy_versions_immutable();

-- Generated development secrets (JWT signing key, encryption key) for
-- deployments that set none, so that every process sharing this database
-- agrees on them and encrypted data stays readable across restarts.
CREATE TABLE dev_secrets (
    name        text PRIMARY KEY,
    value       bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
