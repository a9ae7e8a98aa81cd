"""A test-only app with encrypted fields (installed by config/test_settings.py only)."""
