"""readable-fp: human-readable fingerprints for language models, from their weights alone."""
__version__ = "0.2.0"

from .api import compare, invariants, latent, load  # noqa: E402
from .fingerprint import fingerprint, render  # noqa: E402

__all__ = ["compare", "fingerprint", "invariants", "latent", "load", "render", "__version__"]
