"""gpt_neox: not written yet."""
FAMILIES: tuple[str, ...] = ()
