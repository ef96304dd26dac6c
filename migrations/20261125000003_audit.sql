-- The audit trail: one row per tools/call decision of the gateway. Rows arrive
-- from the audit queue in batches and are inserted idempotently by event id,
-- so a redelivered batch adds nothing. No foreign keys: an event outlives the
-- server or grant it names, and a deleted account's late events are harmless
-- (retention removes them).

CREATE TABLE audit_events (
    -- UUIDv7 minted by the gateway: the idempotency key.
    id              uuid PRIMARY KEY,
    account_id      uuid NOT NULL,
    occurred_at     timestamptz NOT NULL,
    server_id       uuid NOT NULL,
    grant_id        uuid NOT NULL,
    -- A digest of the legacy session id, never the id itself.
    session_hash    text,
    tool            text NOT NULL,
    decision        text NOT NULL,
    rule            text,
    policy_version  integer,
    reason          text,
    upstream        text NOT NULL,
    latency_ms      integer NOT NULL,
    -- The names of the call's arguments; their values only when the policy
    -- rule opts in with "audit_arguments": true.
    argument_keys   text[] NOT NULL DEFAULT '{}',
    arguments       jsonb,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);

-- Listing (newest first, keyset by time then id) and every filter start with the account.
CREATE INDEX audit_events_account_time ON audit_events (account_id, occurred_at DESC, id DESC);
CREATE INDEX audit_events_account_server ON audit_events (account_id, server_id, occurred_at DESC);
CREATE INDEX audit_events_account_grant ON audit_events (account_id, grant_id, occurred_at DESC);
-- Retention deletes by age across accounts.
CREATE INDEX audit_events_occurred_at ON audit_events (occurred_at);
