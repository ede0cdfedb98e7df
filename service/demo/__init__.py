"""The demo school and the local demo (./dev demo)."""
