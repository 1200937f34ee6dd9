"""The notification service: the contact directory used for mailing (the only place with recipients'
e-mail addresses), the in-app inbox, e-mail preferences and the e-mail outbox, and company webhooks
with their signed, retried and replayable deliveries. Everything it sends is caused by events."""
