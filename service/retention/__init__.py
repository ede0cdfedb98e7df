"""How long data is kept, and the purge that enforces it."""
