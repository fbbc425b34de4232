#!/usr/bin/env bash
# Train the dog generator in ONE call on a lent GPU machine (the device tool), evaluate it and
# leave in $OUT what must come back: generator.part.NN (the EMA generator split under 15 MiB)
# and train.tar (record, sample grids, log, generator.sha256) as soon as training ends, then
# eval.tar (evaluate.py's outputs and the whole log), so a call cut off during the evaluation
# still brings the generator back.
#
#   here:    python gan_training/shrink_photos.py       # -> gan_training/_data/dogs128 (27 MiB)
#   device:  run(command="bash gan_training/device_run.sh", carry=["gan_training/_data"], timeout_s=600)
#   here:    bash gan_training/device_unpack.sh FILES_AT NAME [--ship]  # -> gan_training/results/NAME
#
# Why it looks like this: a drawn task gets 15 minutes of device time in all (start-up
# included) and one command may run 10; the machine has torch but no network, so nothing is
# installed (the work tree is imported through PYTHONPATH; only torch, numpy, Pillow and
# safetensors are used); at most 8 files of 16 MiB come back, so checkpoints (hundreds of MB
# with both Adam states) stay there and each call is a complete run. A short smoke run first
# proves the CUDA path; if bf16 autocast fails there it falls back to fp32 rather than losing
# the call. Every setting can be overridden from the environment, e.g. BUDGET=400 RES=128.
set -u -o pipefail
BUDGET=${BUDGET:-570}     # seconds for this whole script: the device tool's timeout_s=600, less a margin
RESERVE=${RESERVE:-75}    # seconds kept for export, evaluation and packing after training
MINUTES=${MINUTES:-}      # training wall time; default: what BUDGET leaves after the smoke run
RES=${RES:-64}; BATCH=${BATCH:-64}; CBASE=${CBASE:-8192}; CMAX=${CMAX:-256}; MAP=${MAP:-2}
PRECISION=${PRECISION:-bf16}
SMOKE_KIMG=${SMOKE_KIMG:-1}
EVAL_N=${EVAL_N:-200}
DATA=${DATA:-gan_training/_data/dogs128}
RUN=${RUN:-/tmp/dogrun}
PY=${PYTHON:-python3}
: "${OUT:?OUT must name the folder whose files come back (the device tool sets it)}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

say() { echo "== $(date -u +%H:%M:%S) $*"; }
[ -d "$DATA" ] || { echo "error: no photos at $DATA: run 'python gan_training/shrink_photos.py' here and carry gan_training/_data" >&2; exit 2; }
rm -rf "$RUN" "$RUN-smoke"; mkdir -p "$RUN" "$OUT"
LOG="$RUN/device_run.log"
exec 3>&1 4>&2  # the call's own stdout/stderr, for after the log is closed
exec > >(tee -a "$LOG") 2>&1
TEE=$!
# tee writes the log asynchronously: before the log is packed, stop writing to it and wait until
# tee has written every line (a log packed mid-write once lost its last lines).
close_log() { exec 1>&3 2>&4; wait "$TEE" 2>/dev/null || true; }

say "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "(no nvidia-smi)"
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"

net=(--resolution "$RES" --batch "$BATCH" --channel-base "$CBASE" --channel-max "$CMAX" --mapping-layers "$MAP")

smoke() {  # SMOKE_KIMG images (16 iterations at the defaults) on 512 photos: proves the CUDA path in this precision
    rm -rf "$RUN-smoke"
    $PY gan_training/train.py --out "$RUN-smoke" --data "$DATA" --max-images 512 "${net[@]}" \
        --precision "$1" --kimg "$SMOKE_KIMG" --tick-kimg "$SMOKE_KIMG" --snap-kimg 1000 --no-progress
}
say "smoke run ($SMOKE_KIMG kimg, $PRECISION)"
if ! smoke "$PRECISION"; then
    PRECISION=fp32
    say "smoke run failed; retrying in fp32"
    smoke fp32 || { say "smoke run failed in fp32 too: nothing to train"; exit 1; }
fi

[ -n "$MINUTES" ] || MINUTES=$(awk "BEGIN { m = ($BUDGET - $SECONDS - $RESERVE) / 60; printf \"%.2f\", (m < 0.5 ? 0.5 : m) }")
say "training ($MINUTES min, $PRECISION)"
$PY gan_training/train.py --out "$RUN" --data "$DATA" "${net[@]}" --precision "$PRECISION" \
    --time-limit "$MINUTES" --tick-kimg 20 --snap-kimg 200 --keep-checkpoints 1 --no-progress
train_rc=$?
if [ ! -f "$RUN/generator.safetensors" ] && ls "$RUN"/checkpoint-*.pt >/dev/null 2>&1; then
    say "training stopped early (rc $train_rc); exporting the newest checkpoint's EMA generator"
    $PY gan_training/train.py --resume "$RUN" --data "$DATA" --kimg 0 --no-progress
fi
[ -f "$RUN/generator.safetensors" ] || { say "no generator was written"; tar -cf "$OUT/train.tar" -C "$RUN" --exclude 'checkpoint-*' .; exit 1; }

say "packing the generator"
(cd "$RUN" && sha256sum generator.safetensors > generator.sha256)
rm -f "$RUN"/checkpoint-*.pt
split -b 15M -d "$RUN/generator.safetensors" "$OUT/generator.part."
tar -cf "$OUT/train.tar" -C "$RUN" --exclude generator.safetensors .

say "evaluating"
$PY gan_training/evaluate.py --generator "$RUN/generator.safetensors" --out "$RUN/eval" --n "$EVAL_N" \
    --real "$DATA" --record "$RUN/training_record.json" --threads 8 || say "evaluation failed"
say "packing the evaluation (training rc $train_rc, $SECONDS s in all)"
close_log
tar -cf "$OUT/eval.tar" -C "$RUN" eval device_run.log 2>/dev/null || tar -cf "$OUT/eval.tar" -C "$RUN" device_run.log
ls -l "$OUT"
