"""The own_model example's models."""
