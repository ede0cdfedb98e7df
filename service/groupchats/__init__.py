"""The register of class group chats and its checks."""
