"""The complaint service: complaints and their lifecycle (filing, answer, refusal review,
evaluation, deadlines), the messages and attachments exchanged, the append-only history, and a
local replica of the participating companies fed by company_registry events."""
