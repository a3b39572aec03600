#!/usr/bin/env bash
# The bundled models of checkpoints/ in one reproducible command (issue 10): PyramidShapes data (train seed 0, a
# held-out split made with seed 1000, never used for training), the six detector variants and the dual-MLP mask
# proposer under one protocol (ResNet-18 from scratch with trainable BN, d = 128 pyramid, 512-d fc head, same data,
# schedule and seed), each bundled as int8 weights (<= 15 MiB files) and evaluated on those stored weights, then the
# Table 1 / 3 / 6 markdown with the paper's numbers beside ours (OUT/tables.md).
#
#   bash scripts/train_bundled.sh                  # GPU configuration (not yet run: no GPU was lent so far)
#   PROFILE=cpu bash scripts/train_bundled.sh      # CPU configuration: 2 runs side by side, 1 thread each, bf16
#   SMOKE=1 bash scripts/train_bundled.sh          # a few iterations on tiny data: the pipeline end to end
#   ITERS=20000 BATCH=16 bash scripts/train_bundled.sh   # any setting below can be overridden
#
# Rerunning continues: a finished run (OUT/NAME/model.json) is reused, an interrupted one resumes bit-exactly from
# its OUT/NAME/resume.pt; bundling and evaluation are redone. Each run's log: OUT/NAME/train.log.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PROFILE=${PROFILE:-gpu}
if [ "${SMOKE:-0}" = 1 ]; then PROFILE=smoke; fi
case "$PROFILE" in
    gpu)   : "${ITERS:=12000}" "${BATCH:=8}" "${SIZE:=512}" "${MAXSIZE:=640}" "${ROIS:=512}" "${AMP:=bf16}"
           : "${PARALLEL:=1}" "${SUFFIX:=}" "${NTRAIN:=8000}" "${NVAL:=500}" "${WORKERS:=4}" ;;
    cpu)   : "${ITERS:=1200}" "${BATCH:=4}" "${SIZE:=384}" "${MAXSIZE:=480}" "${ROIS:=128}" "${AMP:=bf16}"
           : "${PARALLEL:=2}" "${SUFFIX:=_cpu}" "${NTRAIN:=4000}" "${NVAL:=500}" "${WORKERS:=1}" ;;
    smoke) : "${ITERS:=2}" "${BATCH:=2}" "${SIZE:=128}" "${MAXSIZE:=160}" "${ROIS:=64}" "${AMP:=off}"
           : "${PARALLEL:=2}" "${SUFFIX:=_smoke}" "${NTRAIN:=8}" "${NVAL:=4}" "${WORKERS:=0}"
           : "${OUT:=runs/bundled_smoke}" "${DATA:=data/pyramid_shapes_smoke}" "${CKPTS:=runs/bundled_smoke/checkpoints}" ;;
    *)     echo "PROFILE must be gpu or cpu, got $PROFILE" >&2; exit 2 ;;
esac
OUT=${OUT:-runs/bundled$SUFFIX}
DATA=${DATA:-data/pyramid_shapes_bundled}
CKPTS=${CKPTS:-checkpoints}
BACKBONE=${BACKBONE:-resnet18}
LR=${LR:-0.04}          # per 16 images (scaled by the batch): twice the paper's 0.02, for training from scratch
WARMUP=${WARMUP:-100}
SEED=${SEED:-0}
VAL_SEED=${VAL_SEED:-1000}  # never used for training
STORAGE=${STORAGE:-int8}
DETECTORS=(fpn c4 c5 bottom_up no_lateral p2_only)
MASK=mask_proposals_dual
# Two queues of about equal CPU time (c4's conv5 head on 14x14 RoIs costs ~4 FPN runs); one queue when PARALLEL=1.
QUEUE_A=(c4 p2_only)
QUEUE_B=(fpn c5 bottom_up no_lateral "$MASK")

if [ ! -f "$DATA/annotations/instances_val.json" ]; then
    $PY scripts/make_dataset.py --out "$DATA" --train 0 --val "$NVAL" --seed "$VAL_SEED" --quiet
fi
if [ ! -f "$DATA/annotations/instances_train.json" ]; then
    $PY scripts/make_dataset.py --out "$DATA" --train "$NTRAIN" --val 0 --seed "$SEED" --quiet
fi

COMMON=(--data "$DATA" --backbone "$BACKBONE" --iters "$ITERS" --batch-size "$BATCH" --lr "$LR" --seed "$SEED"
        --warmup-iters "$WARMUP" --min-size "$SIZE" --max-size "$MAXSIZE" --amp "$AMP" --workers "$WORKERS"
        --checkpoint-every 100 --eval-every $((ITERS / 4)))
# --eval-every ITERS/4: held-out metrics at 25/50/75/100% of the schedule in OUT/NAME/metrics.csv, stored by
# bundle_checkpoint.py as the model's "plateau" evidence. PLATEAU_IMAGES=N evaluates those on the first N images.
if [ -n "${PLATEAU_IMAGES:-}" ]; then COMMON+=(--eval-max-images "$PLATEAU_IMAGES"); fi
DETECTOR_SET=(--set pyramid_channels=128 --set representation_size=512 --set "box_batch_size_per_image=$ROIS")

train_one() {  # NAME: train (or reuse, or resume) OUT/NAME
    local name=$1 dir="$OUT/$1" args
    if [ "$name" = "$MASK" ]; then args=(--task mask_proposals --set mlps=dual); else args=(--variant "$name" "${DETECTOR_SET[@]}"); fi
    if [ -f "$dir/model.json" ]; then echo "reusing $dir/model"; return 0; fi
    mkdir -p "$dir"
    local resume=()
    if [ -f "$dir/resume.pt" ]; then resume=(--resume); fi
    echo "training $name -> $dir/train.log"
    $PY scripts/train.py "${COMMON[@]}" "${args[@]}" --out "$dir" "${resume[@]}" >> "$dir/train.log" 2>&1 \
        || { echo "error: $name failed (exit $?), see $dir/train.log" >&2; return 1; }
}

for_each() {  # FUNC NAME...: FUNC on each name in turn; stops at the first failure
    local fn=$1 name; shift
    for name in "$@"; do "$fn" "$name" || return 1; done
}

in_queues() {  # FUNC: FUNC on every model, the two queues side by side when PARALLEL > 1
    if [ "$PARALLEL" -gt 1 ]; then
        local a b status=0
        for_each "$1" "${QUEUE_A[@]}" & a=$!
        for_each "$1" "${QUEUE_B[@]}" & b=$!
        wait $a || status=1; wait $b || status=1
        return $status
    fi
    for_each "$1" "${DETECTORS[@]}" "$MASK"
}

if [ "$PARALLEL" -gt 1 ]; then
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # one thread per run: two runs use both cores without contention
fi
in_queues train_one

# Bundle as stored (int8 per output channel, dequantised on load), then evaluate exactly those weights.
mkdir -p "$CKPTS"
bundle_one() {  # NAME
    local name=$1 target note
    if [ "$name" = "$MASK" ]; then target="$CKPTS/${MASK}_${BACKBONE}$SUFFIX"; note="Sec. 6 dual-MLP mask proposer"
    else target="$CKPTS/${name}_${BACKBONE}$SUFFIX"; note="variant $name"; fi
    $PY scripts/bundle_checkpoint.py --checkpoint "$OUT/$name/model" --out "$target" --storage "$STORAGE" \
        --profile "$PROFILE" --note "$note, $BACKBONE from scratch, $ITERS iterations x $BATCH images at $SIZE px, seed $SEED ($PROFILE configuration of scripts/train_bundled.sh)" || return 1
    $PY scripts/evaluate.py --checkpoint "$target" --data "$DATA" --split val --json "$OUT/$name/eval_bundled.json" \
        --device "${EVAL_DEVICE:-auto}" --write-metadata --quiet
}
in_queues bundle_one

$PY scripts/ablation.py --from-checkpoints "$CKPTS" --profile "$PROFILE" --out "$OUT"
echo "tables: $OUT/tables.md"
