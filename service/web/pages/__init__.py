"""Page builders: framework-free functions that take a database session, the viewer and ``now``
and return the page's data as a JSON-ready dict (rendered by a template or sent as JSON)."""
