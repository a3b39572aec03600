#!/usr/bin/env bash
# The bundled models of checkpoints/ in one reproducible command (issue 6): data, the six detector variants and the
# dual-MLP mask proposer under one protocol (same backbone, data, schedule, seed), evaluation on a held-out split made
# with a seed never used for training, bundling (fp16, <= 15 MiB shards) and the paper-style tables.
# Needs a GPU for the default schedule (hours per model on a CPU). Every setting can be overridden, e.g.
#   ITERS=20000 BATCH=8 bash scripts/train_bundled.sh
#   SMOKE=1 bash scripts/train_bundled.sh        # a few iterations on tiny data: checks the pipeline end to end
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-runs/bundled}
DATA=${DATA:-data/pyramid_shapes_bundled}
BACKBONE=${BACKBONE:-resnet18}
ITERS=${ITERS:-12000}
BATCH=${BATCH:-8}
LR=${LR:-0.02}
SIZE=${SIZE:-512}
MAXSIZE=${MAXSIZE:-640}
NTRAIN=${NTRAIN:-8000}
NVAL=${NVAL:-500}
SEED=${SEED:-0}
VAL_SEED=${VAL_SEED:-1000}  # never used for training
CKPTS=${CKPTS:-checkpoints}
EXTRA=${EXTRA:-"--pretrained-backbone"}
if [ "${SMOKE:-0}" = 1 ]; then
    OUT=runs/bundled_smoke DATA=data/pyramid_shapes_smoke ITERS=2 BATCH=2 SIZE=128 MAXSIZE=160 NTRAIN=8 NVAL=4
    CKPTS=runs/bundled_smoke/checkpoints EXTRA=""
fi

$PY scripts/make_dataset.py --out "$DATA" --train "$NTRAIN" --val 0 --seed "$SEED"
$PY scripts/make_dataset.py --out "$DATA" --train 0 --val "$NVAL" --seed "$VAL_SEED"

COMMON=(--data "$DATA" --backbone "$BACKBONE" --iters "$ITERS" --batch-size "$BATCH" --lr "$LR" --seed "$SEED"
        --min-size "$SIZE" --max-size "$MAXSIZE" --eval-split val)
# shellcheck disable=SC2086
$PY scripts/ablation.py --out "$OUT" --variants fpn,c4,c5,bottom_up,no_lateral,p2_only \
    --mask-variants configs/table6_mask_rows.yaml "${COMMON[@]}" $EXTRA

mkdir -p "$CKPTS"
for v in fpn c4 c5 bottom_up no_lateral p2_only; do
    $PY scripts/evaluate.py --checkpoint "$OUT/$v/model" --data "$DATA" --split val --json "$OUT/$v/eval.json"
    $PY scripts/bundle_checkpoint.py --checkpoint "$OUT/$v/model" --eval "$OUT/$v/eval.json" \
        --out "$CKPTS/${v}_${BACKBONE}" --note "variant $v, $BACKBONE, $ITERS iterations x $BATCH images, seed $SEED"
done
$PY scripts/evaluate.py --checkpoint "$OUT/mask_dual_mlp_5x5_7x7/model" --data "$DATA" --split val \
    --json "$OUT/mask_dual_mlp_5x5_7x7/eval.json"
$PY scripts/bundle_checkpoint.py --checkpoint "$OUT/mask_dual_mlp_5x5_7x7/model" \
    --eval "$OUT/mask_dual_mlp_5x5_7x7/eval.json" --out "$CKPTS/mask_proposals_dual_${BACKBONE}" \
    --note "Sec. 6 dual-MLP mask proposer, $BACKBONE, $ITERS iterations x $BATCH images, seed $SEED"
echo "tables: $OUT/tables.md"
