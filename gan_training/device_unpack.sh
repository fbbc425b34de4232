#!/usr/bin/env bash
# Unpack what gan_training/device_run.sh left in $OUT on the GPU machine, once it is here.
#
#   bash gan_training/device_unpack.sh FILES_AT NAME          # look first
#   bash gan_training/device_unpack.sh FILES_AT NAME --ship   # then ship it (no second unpack)
#
# -> gan_training/results/NAME/ (training record, sample grids, evaluation, device log: small
#    files to commit) and gan_training/_runs/NAME/generator.safetensors (git-ignored), joined
#    from its parts and checked against the SHA-256 computed on the GPU machine. --ship also
#    copies the generator and its record to pretrained/dog_generator.safetensors and
#    pretrained/dog_generator_training_record.json: do that only after looking at the contact
#    sheet, since the issue asks for dogs a person recognises. DEST (default: this repository)
#    is the tree written into.
set -eu -o pipefail
usage="usage: bash gan_training/device_unpack.sh FILES_AT NAME [--ship]"
src=${1:?$usage}; name=${2:?$usage}; ship=${3:-}
[ -z "$ship" ] || [ "$ship" = --ship ] || { echo "error: unknown option '$ship'; $usage" >&2; exit 2; }
case "$name" in *[!A-Za-z0-9._-]*|"") echo "error: NAME must be letters, digits, '.', '_' or '-'" >&2; exit 2;; esac
[ -f "$src/train.tar" ] || { echo "error: no train.tar in $src" >&2; exit 2; }
ls "$src"/generator.part.* >/dev/null 2>&1 || { echo "error: no generator.part.* in $src" >&2; exit 2; }

repo=${DEST:-$(cd "$(dirname "$0")/.." && pwd)}
results="$repo/gan_training/results/$name"
run="$repo/gan_training/_runs/$name"
ship() {
    mkdir -p "$repo/pretrained"
    cp "$run/generator.safetensors" "$repo/pretrained/dog_generator.safetensors"
    cp "$results/training_record.json" "$repo/pretrained/dog_generator_training_record.json"
    echo "shipped:   pretrained/dog_generator.safetensors, pretrained/dog_generator_training_record.json"
}
if [ -e "$results" ]; then  # unpacked before: --ship ships what was looked at
    [ "$ship" = --ship ] && [ -f "$run/generator.safetensors" ] && { ship; exit 0; }
    echo "error: $results exists; pick another NAME" >&2; exit 2
fi
mkdir -p "$repo/gan_training"
tmp=$(mktemp -d "$repo/gan_training/.unpack.XXXXXX")
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT

tar -xf "$src/train.tar" -C "$tmp"
if [ -f "$src/eval.tar" ]; then tar -xf "$src/eval.tar" -C "$tmp"  # its log is the whole one
else echo "note: no eval.tar (the call ended during the evaluation): run gan_training/evaluate.py here"; fi
cat "$src"/generator.part.* > "$tmp/generator.safetensors"   # parts sort in order (split -d)
(cd "$tmp" && sha256sum --quiet -c generator.sha256) || { echo "error: joined generator does not match generator.sha256" >&2; exit 1; }

mkdir -p "$run" "$(dirname "$results")"
mv "$tmp/generator.safetensors" "$run/generator.safetensors"
mv "$tmp" "$results"
trap - EXIT
echo "results:   $results"
echo "generator: $run/generator.safetensors ($(du -h "$run/generator.safetensors" | cut -f1))"
[ "$ship" != --ship ] || ship
