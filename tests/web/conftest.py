"""The page tests' fixtures (``demo``, ``demo_sqlite``, ``chromium``) live in
tests/support/web_fixtures.py, shared with the group-chat pages."""
