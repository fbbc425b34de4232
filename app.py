"""Hugging Face Spaces entry point: the readable-fp web UI (readable_fp/app.py)."""
from readable_fp.app import build

demo = build()

if __name__ == "__main__":
    demo.launch()
