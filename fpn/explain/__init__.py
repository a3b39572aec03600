"""fpn.explain."""
