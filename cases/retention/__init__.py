"""Retention schedules and erasure of personal data: the daily sweep, `retention sweep` and the
erasure `trail erase` performs on request (see `cases.retention.service`)."""
