"""Deprecated since 0.3.0: release 0.2.0's request core, kept only for ``client.endpoints`` (removed in 1.0)."""
