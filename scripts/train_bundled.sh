#!/usr/bin/env bash
# The bundled models of checkpoints/ in one reproducible command (issues 10, 19): PyramidShapes data (train seed 0, a
# held-out split made with seed 1000, never used for training), the six detector variants, the dual-MLP mask proposer
# and the six RPNs trained alone (Table 1's protocol) under one protocol (ResNet-18 from scratch with trainable BN,
# d = 128 pyramid, 512-d fc head, same data, schedule and seed), each bundled as int8 weights (<= 15 MiB files) and
# evaluated on those stored weights as soon as it is trained, then every detector's Fast R-CNN on the proposals of
# the FPN RPN trained alone (Table 2's protocol at test time), then the Table 1 / 2 / 3 / 6 markdown with the paper's
# numbers beside ours (OUT/tables.md).
#
#   bash scripts/train_bundled.sh                  # GPU configuration (not yet run: no GPU was lent so far)
#   PROFILE=cpu bash scripts/train_bundled.sh      # CPU configuration: 2 runs side by side, 1 thread each, bf16
#   SMOKE=1 bash scripts/train_bundled.sh          # a few iterations on tiny data: the pipeline end to end
#   ITERS=20000 BATCH=16 bash scripts/train_bundled.sh   # any setting below can be overridden
#   ONLY="fpn c4" PROFILE=cpu bash scripts/train_bundled.sh   # a subset of the runs (names as in JOBS below)
#   STATUS=1 PROFILE=cpu bash scripts/train_bundled.sh   # where it stands: state, step, hours spent and left per run
#   SLOW_BF16=1 PROFILE=cpu bash scripts/train_bundled.sh   # bf16 on a CPU without bf16 kernels (refused otherwise)
#   CARRY=checkpoints_next/carry PROFILE=cpu bash scripts/train_bundled.sh   # runs that outlast a session: see CARRY
#
# Rerunning continues: a finished run (OUT/NAME/model.json) is reused, an interrupted one resumes bit-exactly from
# its OUT/NAME/resume.pt, a model already bundled and evaluated from that run is kept, and so is a bundled model whose
# JSON records this protocol (bundle.protocol) and its evaluation, even without its run folder (a fresh machine).
# OUT/protocol.txt records the settings: rerunning into OUT with other settings is refused. Each run's log:
# OUT/NAME/train.log.
# PARALLEL workers take the runs in JOBS order from one queue (a run is claimed with flock on OUT/NAME.lock, so two
# workers, or two invocations, never train the same run).
set -euo pipefail
cd "$(dirname "$0")/.."
# This checkout's fpn, not the one an editable install in the venv points at (a worktree sharing another's venv):
# a run that lasts sessions must not pick up edits made elsewhere while it trains.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PY:-.venv/bin/python}
PROFILE=${PROFILE:-gpu}
if [ "${SMOKE:-0}" = 1 ]; then PROFILE=smoke; fi
case "$PROFILE" in
    gpu)   : "${ITERS:=12000}" "${BATCH:=8}" "${SIZE:=512}" "${MAXSIZE:=640}" "${ROIS:=512}" "${AMP:=bf16}"
           : "${PARALLEL:=1}" "${SUFFIX:=}" "${NTRAIN:=8000}" "${NVAL:=500}" "${WORKERS:=4}" ;;
    cpu)   : "${ITERS:=2400}" "${BATCH:=4}" "${SIZE:=384}" "${MAXSIZE:=480}" "${ROIS:=128}" "${AMP:=bf16}"
           : "${PARALLEL:=2}" "${SUFFIX:=_cpu}" "${NTRAIN:=4000}" "${NVAL:=500}" "${WORKERS:=1}" ;;
    smoke) : "${ITERS:=4}" "${BATCH:=2}" "${SIZE:=128}" "${MAXSIZE:=160}" "${ROIS:=64}" "${AMP:=off}"
           : "${PARALLEL:=2}" "${SUFFIX:=_smoke}" "${NTRAIN:=8}" "${NVAL:=4}" "${WORKERS:=0}"
           : "${OUT:=runs/bundled_smoke}" "${DATA:=data/pyramid_shapes_smoke}" "${CKPTS:=runs/bundled_smoke/checkpoints}" ;;
    *)     echo "PROFILE must be gpu or cpu, got $PROFILE" >&2; exit 2 ;;
esac
OUT=${OUT:-runs/bundled$SUFFIX}
DATA=${DATA:-data/pyramid_shapes_bundled}
CKPTS=${CKPTS:-checkpoints}
BACKBONE=${BACKBONE:-resnet18}
LR=${LR:-0.04}          # per 16 images (scaled by the batch): twice the paper's 0.02, for training from scratch
# lr x0.1 at 60% and 70%: the last 30% at the final rate, so the last quarter's evaluations show whether the model
# still learns rather than the jump a drop gives (issue 19's recipe search, docs/training.md).
STEPS=${STEPS:-0.6,0.7}
WARMUP=${WARMUP:-100}
SEED=${SEED:-0}
VAL_SEED=${VAL_SEED:-1000}  # never used for training
STORAGE=${STORAGE:-int8}
# CARRY=folder (e.g. checkpoints_next/carry): a run stopped here (SIGINT saves its resume.pt) is packed into
# CARRY/NAME, in parts small enough to commit, and a fresh machine's rerun unpacks it and resumes (scripts/carry_run.py)
CARRY=${CARRY:-}
DETECTORS=(fpn c4 c5 bottom_up no_lateral p2_only)
MASK=mask_proposals_dual
# Every run, longest-needed first: the joint detectors (c4's conv5 head on 14x14 RoIs costs ~4 FPN runs, so it starts
# early), the mask proposer, then each variant's RPN trained alone (Table 1's protocol, OUT/<variant>_rpn).
JOBS=(fpn c4 c5 p2_only bottom_up no_lateral "$MASK" fpn_rpn c4_rpn c5_rpn p2_only_rpn bottom_up_rpn no_lateral_rpn)
if [ -n "${ONLY:-}" ]; then
    for name in $ONLY; do
        [[ " ${JOBS[*]} " == *" $name "* ]] || { echo "ONLY: unknown run $name; runs: ${JOBS[*]}" >&2; exit 2; }
    done
    read -r -a JOBS <<< "$ONLY"
fi

COMMON=(--data "$DATA" --backbone "$BACKBONE" --iters "$ITERS" --batch-size "$BATCH" --lr "$LR" --seed "$SEED"
        --warmup-iters "$WARMUP" --steps "$STEPS" --min-size "$SIZE" --max-size "$MAXSIZE" --amp "$AMP"
        --workers "$WORKERS" --checkpoint-every 100 --eval-every $((ITERS / 4)))
# --eval-every ITERS/4: held-out metrics at 25/50/75/100% of the schedule in OUT/NAME/metrics.csv, stored by
# bundle_checkpoint.py as the model's "plateau" evidence. PLATEAU_IMAGES=N evaluates those on the first N images.
if [ -n "${PLATEAU_IMAGES:-}" ]; then COMMON+=(--eval-max-images "$PLATEAU_IMAGES"); fi
# Runs that skip the held-out evaluation at 25 % of the schedule (--eval-from ITERS/2): it is no plateau evidence (50 /
# 75 / 100 % are), and c4's costs 1.3 thread-hours on the CPU (its conv5 head on 1000 RoIs per image). Weights, and
# so the protocol, are the same either way.
LATE_EVAL=${LATE_EVAL:-c4}
DETECTOR_SET=(--set pyramid_channels=128 --set representation_size=512 --set "box_batch_size_per_image=$ROIS")

protocol="${COMMON[*]} ${DETECTOR_SET[*]} storage=$STORAGE"
if [ "${STATUS:-0}" = 1 ]; then  # where a run of these settings stands; trains nothing, writes nothing
    exec $PY scripts/bundle_progress.py --out "$OUT" --checkpoints "$CKPTS" --suffix "_${BACKBONE}$SUFFIX" \
        --iters "$ITERS" --protocol "$protocol" --parallel "$PARALLEL" --carry "$CARRY" "${JOBS[@]}"
fi
# bf16 autocast on a CPU without oneDNN's bf16 kernels (AVX2 only, e.g. some AMD EPYC) runs generic fallbacks, about
# 15x slower than fp32 per training step (docs/training.md): refused unless asked for (SLOW_BF16=1)
if [ "$AMP" = bf16 ] && [ "${SLOW_BF16:-0}" != 1 ] && ! $PY -c '
import sys, torch
from fpn.devices import cpu_has_bf16_kernels
sys.exit(0 if torch.cuda.is_available() or cpu_has_bf16_kernels() else 1)'; then
    echo "error: AMP=bf16, but this CPU has no oneDNN bf16 kernels (no AVX-512 / AMX): bf16 autocast would train" \
         "about 15x slower than fp32 here. SLOW_BF16=1 trains under this protocol anyway; AMP=off trains in fp32," \
         "which is another protocol (another OUT; bundled bf16 models are not kept); a stopped run can go on in" \
         "fp32 with its train.py command and --amp off (docs/training.md)" >&2
    exit 2
fi
mkdir -p "$OUT" "$CKPTS"
if [ -f "$OUT/protocol.txt" ] && [ "$(cat "$OUT/protocol.txt")" != "$protocol" ]; then
    echo "error: $OUT was trained with other settings:" >&2
    echo "  then: $(cat "$OUT/protocol.txt")" >&2
    echo "  now:  $protocol" >&2
    echo "Set OUT to another folder (or delete $OUT) to train under the new settings." >&2
    exit 2
fi
echo "$protocol" > "$OUT/protocol.txt"
if [ ! -f "$DATA/annotations/instances_val.json" ]; then
    $PY scripts/make_dataset.py --out "$DATA" --train 0 --val "$NVAL" --seed "$VAL_SEED" --quiet
fi
if [ ! -f "$DATA/annotations/instances_train.json" ]; then
    $PY scripts/make_dataset.py --out "$DATA" --train "$NTRAIN" --val 0 --seed "$SEED" --quiet
fi

train_one() {  # NAME: train (or reuse, or resume) OUT/NAME
    local name=$1 dir="$OUT/$1" args
    case "$name" in
        "$MASK") args=(--task mask_proposals --set mlps=dual) ;;
        *_rpn)   args=(--task rpn --variant "${name%_rpn}" "${DETECTOR_SET[@]}") ;;
        *)       args=(--variant "$name" "${DETECTOR_SET[@]}") ;;
    esac
    if [[ " $LATE_EVAL " == *" $name "* ]]; then args+=(--eval-from $((ITERS / 2))); fi
    if [ -f "$dir/model.json" ]; then echo "reusing $dir/model"; return 0; fi
    if [ -n "$CARRY" ] && [ ! -f "$dir/resume.pt" ] && [ -f "$CARRY/$name/carry.json" ]; then
        $PY scripts/carry_run.py unpack "$CARRY/$name" "$dir" || return 1
    fi
    local resume=() status=0
    if [ -f "$dir/resume.pt" ]; then resume=(--resume); fi
    echo "training $name -> $dir/train.log"
    $PY scripts/train.py "${COMMON[@]}" "${args[@]}" --out "$dir" "${resume[@]}" >> "$dir/train.log" 2>&1 || status=$?
    if [ $status -ne 0 ]; then
        echo "error: $name failed or was stopped (exit $status), see $dir/train.log" >&2
        if [ -n "$CARRY" ] && [ -f "$dir/resume.pt" ]; then $PY scripts/carry_run.py pack "$dir" "$CARRY/$name"; fi
        return 1
    fi
}

bundle_one() {  # NAME: bundle as stored (int8 per output channel, dequantised on load), then evaluate those weights
    local name=$1 target="$CKPTS/${1}_${BACKBONE}$SUFFIX" note
    case "$name" in
        "$MASK") note="Sec. 6 dual-MLP mask proposer" ;;
        *_rpn)   note="RPN of variant ${name%_rpn} trained alone (Table 1's protocol)" ;;
        *)       note="variant $name" ;;
    esac
    if [ -f "$OUT/$name/eval_bundled.json" ] && [ "$OUT/$name/eval_bundled.json" -nt "$OUT/$name/model.json" ] \
        && [ -f "$target.json" ]; then
        echo "keeping $target (bundled and evaluated from $OUT/$name/model)"; return 0
    fi
    $PY scripts/bundle_checkpoint.py --checkpoint "$OUT/$name/model" --out "$target" --storage "$STORAGE" \
        --profile "$PROFILE" --protocol "$protocol" --note "$note, $BACKBONE from scratch, $ITERS iterations x $BATCH images at $SIZE px, seed $SEED ($PROFILE configuration of scripts/train_bundled.sh)" || return 1
    $PY scripts/evaluate.py --checkpoint "$target" --data "$DATA" --split val --json "$OUT/$name/eval_bundled.json" \
        --device "${EVAL_DEVICE:-auto}" --write-metadata --quiet
}

bundled_under_protocol() {  # NAME: is CKPTS/<NAME> bundled from a run of this protocol and evaluated as stored?
    local target="$CKPTS/${1}_${BACKBONE}$SUFFIX"
    [ -f "$target.json" ] && [ ! -f "$OUT/$1/resume.pt" ] && PROTOCOL="$protocol" $PY -c '
import json, os, sys
meta = json.load(open(sys.argv[1]))
sys.exit(0 if meta.get("bundle", {}).get("protocol") == os.environ["PROTOCOL"] and meta.get("metrics") else 1)' \
        "$target.json"
}

claim_each() {  # LOCK_SUFFIX FUNCTION NAME...: FUNCTION NAME for each NAME that no other worker holds (flock on
    # OUT/NAME<LOCK_SUFFIX>: two workers, or two invocations, never do the same one); stops at the first failure
    local suffix=$1 fn=$2 name status lock; shift 2
    for name in "$@"; do
        mkdir -p "$OUT/$name"
        exec {lock}> "$OUT/$name$suffix"
        if ! flock -n "$lock"; then exec {lock}>&-; continue; fi  # another worker has it
        "$fn" "$name"
        status=$?
        exec {lock}>&-
        [ $status -eq 0 ] || return 1
    done
}

in_parallel() {  # LOCK_SUFFIX FUNCTION NAME...: PARALLEL workers of claim_each over one queue; fails if one failed
    local pids=() pid status=0
    for _ in $(seq "$PARALLEL"); do claim_each "$@" & pids+=($!); sleep 1; done
    for pid in "${pids[@]}"; do wait "$pid" || status=1; done
    return $status
}

train_and_bundle() {  # NAME: train (or resume) the run, bundle and evaluate it, unless it is bundled already
    if [ ! -f "$OUT/$1/model.json" ] && bundled_under_protocol "$1"; then
        echo "keeping $CKPTS/${1}_${BACKBONE}$SUFFIX (bundled under this protocol; its run folder is gone)"
        return 0
    fi
    train_one "$1" && bundle_one "$1"
}

if [ "$PARALLEL" -gt 1 ]; then
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # one thread per run: two runs use both cores without contention
fi
in_parallel .lock train_and_bundle "${JOBS[@]}" \
    || { echo "error: a run failed; rerun the same command to resume" >&2; exit 1; }

# Table 2's protocol at test time: every detector's Fast R-CNN on the proposals of the FPN RPN trained alone (Table 1
# (c)), stored in its JSON under "fixed_proposals" (kept when already there from this proposer).
PROPOSER="$CKPTS/fpn_rpn_${BACKBONE}$SUFFIX"
on_fixed_proposals() {  # NAME
    local target="$CKPTS/${1}_${BACKBONE}$SUFFIX"
    [ -f "$target.json" ] || return 0
    PROPOSER="$PROPOSER" $PY -c '
import json, os, sys
from fpn.evaluation.report import proposer_name
fixed = json.load(open(sys.argv[1])).get("fixed_proposals")
sys.exit(0 if proposer_name(fixed) == os.path.basename(os.environ["PROPOSER"]) else 1)' \
        "$target.json" && { echo "keeping $target's Table 2 evaluation"; return 0; }
    echo "Table 2: $1 on the proposals of $PROPOSER"
    $PY scripts/evaluate.py --checkpoint "$target" --proposals-from "$PROPOSER" --data "$DATA" --split val \
        --json "$OUT/$1/eval_fixed_proposals.json" --device "${EVAL_DEVICE:-auto}" --write-metadata --quiet \
        > "$OUT/$1/eval_fixed_proposals.log" 2>&1 || { echo "error: see $OUT/$1/eval_fixed_proposals.log" >&2; return 1; }
}
if [ -f "$PROPOSER.json" ]; then
    in_parallel .fixed.lock on_fixed_proposals "${DETECTORS[@]}" \
        || { echo "error: a Table 2 evaluation failed; rerun the same command" >&2; exit 1; }
fi

# The tables; written into README.md too when this is the bundle the README describes (checkpoints/, cpu or gpu).
readme=()
if [ "$CKPTS" = checkpoints ] && [ "$PROFILE" != smoke ]; then
    readme=(--readme "${README:-README.md}" --readme-figure "docs/screenshots/ablation_$PROFILE.png")
fi
$PY scripts/ablation.py --from-checkpoints "$CKPTS" --profile "$PROFILE" --out "$OUT" "${readme[@]}"
echo "tables: $OUT/tables.md"
