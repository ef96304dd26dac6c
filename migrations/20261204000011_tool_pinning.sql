-- Definition pinning: the definition of each tool a person reviewed (or
-- that was trusted on first use). A tool whose current definition is not
-- its pinned one is withheld from agents until someone pins it again.

-- `allow`: a tool first seen is pinned as seen (trust on first use).
-- `review`: it stays unpinned, withheld from agents, until someone pins it.
ALTER TABLE servers ADD COLUMN new_tools text NOT NULL DEFAULT 'allow'
    CHECK (new_tools IN ('allow', 'review'));

ALTER TABLE catalog_tools ADD COLUMN pinned_hash text;
ALTER TABLE catalog_tools ADD COLUMN pinned_at timestamptz;
-- Catalogs discovered before pinning existed trust what they hold.
UPDATE catalog_tools SET pinned_hash = hash, pinned_at = changed_at;

-- Events the control plane records itself (a tool's definition changing,
-- as discovery saw it) are caused by no grant.
ALTER TABLE audit_events ALTER COLUMN grant_id DROP NOT NULL;

-- Account events other than new approvals (which keep their outbox in
-- `approvals`), for the account's webhook: queued in the transaction that
-- records what happened, delivered by the webhook dispatcher.
CREATE TABLE webhook_events (
    id          uuid PRIMARY KEY,
    account_id  uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    type        text NOT NULL,
    data        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- 'none' (no webhook when queued), 'pending', 'delivered' or 'failed'.
    state       text NOT NULL CHECK (state IN ('none', 'pending', 'delivered', 'failed')),
    attempts    integer NOT NULL DEFAULT 0,
    next_at     timestamptz
);
CREATE INDEX webhook_events_due ON webhook_events (next_at) WHERE state = 'pending';
CREATE INDEX webhook_events_account ON webhook_events (account_id, created_at DESC);
