"""The one exception type users see: its message is a single line meant for a terminal."""


class FingerprintError(Exception):
    """Bad or unsupported input. The CLI prints the message alone, without a traceback."""


def printable(text: str) -> str:
    """One terminal- and page-safe line: messages quote names and settings read from files, which
    may hold escape sequences; those are shown escaped, never sent on."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
