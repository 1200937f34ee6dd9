"""Identity: accounts for every role, national-ID validation, password login, access tokens
(Ed25519 JWTs other services verify locally with the published keys) and refresh tokens."""
