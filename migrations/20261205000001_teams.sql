-- Teams: a person (user) may belong to several accounts, each membership with
-- a role; sessions that can be revoked; invitations; password resets; and the
-- account's own trail of who changed what.

CREATE TABLE memberships (
    account_id  uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        text NOT NULL
                CHECK (role IN ('admin', 'policy_manager', 'approver', 'viewer', 'auditor')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, user_id)
);
CREATE INDEX memberships_user_id ON memberships(user_id);

-- Today's single user of each account becomes its admin.
INSERT INTO memberships (account_id, user_id, role, created_at)
    SELECT account_id, id, 'admin', created_at FROM users;

-- A user is a person, no longer an account's: their accounts are their memberships.
ALTER TABLE users DROP COLUMN account_id;

-- A signed-in session, for one account at a time. The session token names it;
-- every request checks it is neither revoked nor expired, so a revocation
-- holds on every replica at once.
CREATE TABLE sessions (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    account_id  uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX sessions_user_id ON sessions(user_id) WHERE revoked_at IS NULL;

-- Keys carry a role, never more than their creator's (checked when used, so a
-- creator's demotion or removal takes their stronger keys with them). Keys made
-- before roles existed were made by the account's only user, an admin.
ALTER TABLE api_keys
    ADD COLUMN role text NOT NULL DEFAULT 'admin'
        CHECK (role IN ('admin', 'policy_manager', 'approver', 'viewer', 'auditor')),
    ADD COLUMN created_by uuid REFERENCES users(id) ON DELETE SET NULL;
ALTER TABLE api_keys ALTER COLUMN role DROP DEFAULT;

CREATE TABLE invitations (
    id           uuid PRIMARY KEY,
    account_id   uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    -- Lower-cased, like users.email: only this address may accept.
    email        text NOT NULL,
    role         text NOT NULL
                 CHECK (role IN ('admin', 'policy_manager', 'approver', 'viewer', 'auditor')),
    -- SHA-256 of the single-use token; the token is shown once.
    token_hash   bytea NOT NULL UNIQUE,
    invited_by   uuid REFERENCES users(id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    accepted_at  timestamptz,
    accepted_by  uuid REFERENCES users(id) ON DELETE SET NULL,
    revoked_at   timestamptz
);
CREATE INDEX invitations_account_id ON invitations(account_id, id);

CREATE TABLE password_resets (
    -- SHA-256 of the single-use token.
    token_hash  bytea PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX password_resets_user_id ON password_resets(user_id);

-- Every state change made through the API: who, when, from where, what, and a
-- summary that never holds a secret. Append-only.
CREATE TABLE account_events (
    id           uuid PRIMARY KEY,
    account_id   uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    at           timestamptz NOT NULL DEFAULT now(),
    actor_kind   text NOT NULL CHECK (actor_kind IN ('user', 'api_key')),
    -- The user or key; kept when either is deleted later (the trail outlives them).
    actor_id     uuid NOT NULL,
    -- The user's email or the key's name at the time.
    actor_label  text NOT NULL,
    ip           text,
    user_agent   text,
    resource     text NOT NULL,
    resource_id  text,
    action       text NOT NULL,
    summary      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX account_events_account_at ON account_events(account_id, at DESC, id DESC);

CREATE FUNCTION account_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'account events are append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER account_events_no_update BEFORE UPDATE ON account_events
    FOR EACH ROW EXECUTE FUNCTION account_events_append_only();
