"""The evidence trail (DESIGN section 4).

Pure modules, importable without Flask or a database: `canonical` (JCS bytes and timestamps),
`merkle` (RFC 6962/9162 tree, proofs and incremental state), `notes` (C2SP signed-note
checkpoints), `events` (per-case hash chain), `verify` (the offline bundle verifier and the
bundle format) and `bundle` (the bundle writer). The database side (`models`, appends, blob
store, CLI) builds on them.
"""
