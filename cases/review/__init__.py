"""The reviewer's workspace: queues, claims, search, bulk actions, the case page and notes."""
