"""The one exception type users see: its message is a single line meant for a terminal."""


class FingerprintError(Exception):
    """Bad or unsupported input. The CLI prints the message alone, without a traceback."""
