"""PII at rest: encrypted model fields (AES-256-GCM, or SM4-GCM in 国密 mode), HMAC blind index,
masking helpers and the audited reveal service."""
