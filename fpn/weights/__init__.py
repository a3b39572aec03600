"""fpn.weights."""
