"""Auth: community units, accounts, roles, passwords, tokens and lockout."""
