"""The JSON API surface: thin routes that call the subjects' operations."""
