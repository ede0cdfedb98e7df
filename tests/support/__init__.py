"""What the test folders share: the fake school day, the database fixtures (migrated once per
worker and copied), the collector on loopback or in process, and the browser-like clients.

Loaded through ``pytest_plugins`` in ``tests/conftest.py``; nothing here edits ``sys.path``.
"""
