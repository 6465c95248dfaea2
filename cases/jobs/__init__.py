"""Background work: the outbox, the job registry and runner, RQ workers, periodic tasks and the
admin jobs page."""
