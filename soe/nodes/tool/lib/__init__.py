"""Optional helpers for tool authors; the engine itself does not call them."""
