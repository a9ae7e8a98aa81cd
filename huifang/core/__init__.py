"""Shared mechanisms with no business rules: calendar, audit, crypto, jobs, permissions."""
