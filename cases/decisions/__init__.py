"""Decisions with their statements of reasons, and the enforcement webhooks that carry them out."""
