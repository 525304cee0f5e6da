"""cascadelab package."""
