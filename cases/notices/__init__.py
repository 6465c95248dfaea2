"""Everything sent to a person: the wording of decisions, the messages per channel (email, the
embedded outbox, the operator's `notice` webhook), their jobs and the admin mail page."""
