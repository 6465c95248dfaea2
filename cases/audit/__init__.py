"""The auditor's workspace: verification, exports, checkpoint signing and the trail CLI."""
