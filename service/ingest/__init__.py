"""Lesson summaries arriving from devices: parsing, checking, storing, group commit."""
