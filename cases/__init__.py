"""Docket: the case domain. Import-free, so `cases.trail` and `cases.enums` load without Flask."""
