-- Approvals: a person's decision on one held tools/call, and the durable
-- outbox of its webhook notification.

CREATE TABLE approvals (
    id                uuid PRIMARY KEY,
    account_id        uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    server_id         uuid NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    grant_id          uuid NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    tool              text NOT NULL,
    -- Shown to reviewers: they decide on what the call will actually do.
    arguments         jsonb NOT NULL,
    -- Hex SHA-256 of the canonical JSON of the arguments: the approval is
    -- bound to exactly these arguments.
    arguments_digest  text NOT NULL,
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'approved', 'denied', 'expired', 'abandoned', 'used')),
    -- The deciding user's or API key's prefixed id, and a name a person
    -- recognises (an email, a key's name), kept even if either is deleted.
    decided_by        text,
    decided_by_name   text,
    reason            text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL,
    decided_at        timestamptz,
    used_at           timestamptz,
    -- Webhook outbox: 'none' (no webhook when created), 'pending',
    -- 'delivered', 'failed' (gave up) or 'skipped' (decided before delivery).
    notify_state      text NOT NULL DEFAULT 'none',
    notify_attempts   integer NOT NULL DEFAULT 0,
    notify_next_at    timestamptz
);
CREATE INDEX approvals_account_id ON approvals(account_id, id);
CREATE INDEX approvals_account_pending ON approvals(account_id, id) WHERE status = 'pending';
CREATE INDEX approvals_notify_due ON approvals(notify_next_at) WHERE notify_state = 'pending';
