"""Data subjects' access requests (GDPR Art. 15): recording a request with its one-month SLA, and
the export of the subject's cases, decisions, statements of reasons and appeals, with third
parties redacted and any automated involvement explained.

Registered through `cases.privacy.views` (its `init_app` adds the blueprint and the CLI group):
this package's `__init__` ranks as a service, and a service may not import entry points."""
