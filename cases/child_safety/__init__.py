"""Restricted child-safety handling: preservation holds and CyberTipline reporting."""
