-- How the account's webhook deliveries are shaped: `generic` (the signed
-- Toolgate envelope) or `slack` (a Slack incoming-webhook message).
ALTER TABLE accounts ADD COLUMN approval_webhook_format text NOT NULL DEFAULT 'generic'
    CHECK (approval_webhook_format IN ('generic', 'slack'));
