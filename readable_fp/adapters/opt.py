"""opt: not written yet."""
FAMILIES: tuple[str, ...] = ()
