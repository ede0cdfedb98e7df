"""Lessons and the permissions granted for them."""
