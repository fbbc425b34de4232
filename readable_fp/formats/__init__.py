"""Checkpoint formats. `open_checkpoint` picks the reader from what the path looks like."""
