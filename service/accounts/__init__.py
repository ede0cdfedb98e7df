"""People who sign in: users, their roles and API tokens."""
