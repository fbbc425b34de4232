"""bloom: not written yet."""
FAMILIES: tuple[str, ...] = ()
