package approvals

// WebhookEventOf exposes the audit-action → webhook-event mapping to the
// external tests (the crash test checks the outbox against the audit log).
var WebhookEventOf = webhookEventOf

// VerifyKeySignature exposes audit verify's check of one stored key
// signature, so its refusals are tested on hand-altered records.
var VerifyKeySignature = verifyKeySignature
