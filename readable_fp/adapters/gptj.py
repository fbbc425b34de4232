"""gptj: not written yet."""
FAMILIES: tuple[str, ...] = ()
