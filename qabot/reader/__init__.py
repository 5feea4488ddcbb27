"""qabot's extractive reader."""
