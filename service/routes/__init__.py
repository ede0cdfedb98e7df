"""HTTP routes: each module parses, calls one use case and maps its errors."""
