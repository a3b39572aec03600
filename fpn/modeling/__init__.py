"""fpn.modeling."""
