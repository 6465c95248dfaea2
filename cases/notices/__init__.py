"""Everything sent to a person: the wording of decisions and the notification jobs."""
