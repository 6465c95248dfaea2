"""Staff accounts, sign-in, API keys, the admin users page, and who may see which case."""
