"""NCMEC CyberTipline reporting (18 U.S.C. 2258A): the report builder and its schema check, the
API client, the specialist's draft and its resumable submission, the draft page and the CLI."""
