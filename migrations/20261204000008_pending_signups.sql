-- Sign-ups waiting for their email address to be confirmed
-- (TOOLGATE_SIGNUP=verify). A row becomes an account and its first user when
-- the token mailed to the address is redeemed, once.

CREATE TABLE pending_signups (
    -- Lower-cased, as in users: the latest sign-up for an address replaces
    -- the earlier one (and its link).
    email          text PRIMARY KEY,
    -- SHA-256 of the single-use token; the token itself is only mailed.
    token_hash     bytea NOT NULL UNIQUE,
    -- The argon2id hash of the password given at sign-up.
    password_hash  text NOT NULL,
    account_name   text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL
);
CREATE INDEX pending_signups_expires_at ON pending_signups(expires_at);
