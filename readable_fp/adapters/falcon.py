"""falcon: not written yet."""
FAMILIES: tuple[str, ...] = ()
