"""Hugging Face Spaces entry point: the readable-fp web UI (readable_fp/app.py).

Settings come from the environment: $READABLE_FP_MAX_UPLOAD (bytes), $READABLE_FP_ALLOW_HUB=1,
$READABLE_FP_ALLOW_LOCAL_PATHS (folders), $READABLE_FP_RENDERER (the dog drawn first; default afhqdog
when `readable-fp renderer get afhqdog` has installed it); Spaces set the host and port.
"""
import sys

from readable_fp.app import build, launch

demo = build()  # for `gradio app.py` and anything that imports the Blocks

if __name__ == "__main__":
    sys.exit(launch())
