package approvals

// WebhookEventOf exposes the audit-action → webhook-event mapping to the
// external tests (the crash test checks the outbox against the audit log).
var WebhookEventOf = webhookEventOf
