-- Retries find their approval: a call handed back while its approval is
-- pending is retried by the agent with the same arguments, and the retry
-- must find that approval (grant, server, target and argument digest)
-- instead of asking a person again.

-- When an ended approval's outcome (denied, expired) was first told to a
-- call: retries are told it too for a short while, then a call with the same
-- arguments asks a person again.
ALTER TABLE approvals ADD COLUMN told_at timestamptz;

CREATE INDEX approvals_retry
    ON approvals(account_id, grant_id, server_id, arguments_digest, created_at DESC);
