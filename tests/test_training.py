"""Training: the tiny-model overfit, exact resume, NaN stop, SIGTERM, torchrun on 2 CPU processes, config, and
checkpoint metadata without absolute paths."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from tiny_training import TINY_FLAGS, tiny_config
from toy_coco import make_toy_coco, read_json

from fpn.training import (
    ResumableBatchSampler,
    TrainConfig,
    TrainingDiverged,
    TrainingInterrupted,
    WarmupMultiStep,
    load_training_state,
    milestones_for,
    train,
)
from fpn.training import run as training_run
from fpn.training.config import amp_dtype, use_channels_last
from fpn.training.cli import load_config
from fpn.training.cli import main as train_main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SUBPROCESS_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # fpn comes from the installed package


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_coco(str(tmp_path_factory.mktemp("toy")), num_images=4, size=128)


def _log(out):
    with open(os.path.join(out, "log.csv")) as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_tiny_model_overfits(toy, tmp_path):
    """Loss falls and box AP on the training images rises well above 0 (about 20 s on one core)."""
    result = train(tiny_config(toy, tmp_path, iters=150, steps=[0.8], log_every=10, final_eval=True))
    rows = _log(tmp_path)
    first, last = float(rows[0]["loss"]), float(rows[-1]["loss"])
    assert last < 0.5 * first, (first, last)
    ap = result["metrics"]["bbox"]["AP"]
    assert ap > 30.0, result["metrics"]
    assert result["metrics"]["proposals"]["AR@100"] > 30.0
    meta = read_json(tmp_path / "model.json")
    assert meta["metrics"]["bbox"]["AP"] == ap and meta["training"]["iters"] == 150
    assert meta["model"]["class_names"] == ["__background__", "square", "disc"]
    assert os.path.getsize(tmp_path / "training_curves.png") > 1000


@pytest.mark.parametrize("amp", ["off", "bf16"])
def test_interrupt_and_resume_is_exact(toy, tmp_path, amp):
    """Stop after step 3 of 5 (2 batches per epoch, flips on), resume: identical weights and losses; in fp32 and under
    the CPU's bf16 autocast (channels-last maps), the CPU configuration of scripts/train_bundled.sh."""
    full, part = tmp_path / "full", tmp_path / "part"
    train(tiny_config(toy, full, iters=5, hflip=0.5, warmup_iters=2, steps=[4], amp=amp))
    with pytest.raises(TrainingInterrupted):
        train(tiny_config(toy, part, iters=5, hflip=0.5, warmup_iters=2, steps=[4], stop_at_step=3, amp=amp))
    saved = load_training_state(str(part / "resume.pt"))
    assert saved["step"] == 3 and saved["train_seconds"] > 0
    assert not (part / "model.json").exists()
    train(tiny_config(toy, part, iters=5, hflip=0.5, warmup_iters=2, steps=[4], resume=True, amp=amp))
    record = read_json(part / "model.json")["training"]
    assert record["amp"] == {"off": "off", "bf16": "bfloat16"}[amp]
    assert record["train_seconds"] >= round(saved["train_seconds"], 1)  # counts the first process's time too
    from safetensors.torch import load_file

    a, b = load_file(str(full / "model.safetensors")), load_file(str(part / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    la, lb = _log(full), _log(part)
    assert [r["step"] for r in lb] == ["1", "2", "3", "4", "5"]
    for ra, rb in zip(la, lb):
        assert ra["loss"] == rb["loss"] and ra["lr"] == rb["lr"]


def test_autocast_and_memory_layout_per_device():
    """bf16 autocast on the CPU only when asked (channels-last maps with it); fp16 autocast needs CUDA."""
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    cfg = lambda amp: TrainConfig(data="d", out="o", amp=amp)  # noqa: E731
    assert amp_dtype(cfg("auto"), cpu) is None and amp_dtype(cfg("off"), cpu) is None
    assert amp_dtype(cfg("bf16"), cpu) == torch.bfloat16 and amp_dtype(cfg("auto"), cuda) == torch.float16
    with pytest.raises(ValueError, match="--amp fp16 needs a CUDA device; on the CPU use --amp bf16"):
        amp_dtype(cfg("fp16"), cpu)
    assert use_channels_last(cfg("bf16"), cpu, torch.bfloat16) and not use_channels_last(cfg("auto"), cpu, None)
    assert use_channels_last(cfg("auto"), cuda, torch.float16)


def test_resume_refuses_other_settings(toy, tmp_path):
    with pytest.raises(TrainingInterrupted):
        train(tiny_config(toy, tmp_path, iters=3, stop_at_step=1))
    with pytest.raises(ValueError, match="batch_size"):
        train(tiny_config(toy, tmp_path, iters=3, batch_size=1, resume=True))
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train(tiny_config(toy, tmp_path / "empty", iters=3, resume=True))


def _nan_at_step(n):
    real = training_run.build_model

    def build(task, config):
        model = real(task, config)
        forward, calls = model.forward, [0]

        def poisoned(images, targets=None):
            out = forward(images, targets)
            calls[0] += 1
            if calls[0] == n:
                out = {**out, "loss_classifier": out["loss_classifier"] * float("nan")}
            return out

        model.forward = poisoned
        return model

    return build


def test_nan_loss_stops_cleanly(toy, tmp_path, monkeypatch):
    monkeypatch.setattr(training_run, "build_model", _nan_at_step(3))
    with pytest.raises(TrainingDiverged, match=r"step 3 .*loss_classifier=nan"):
        train(tiny_config(toy, tmp_path, iters=6, checkpoint_every=2))
    assert load_training_state(str(tmp_path / "resume.pt"))["step"] == 2  # the last good state is intact
    assert not (tmp_path / "model.json").exists()
    monkeypatch.setattr(training_run, "build_model", _nan_at_step(1))
    rc = train_main(["--data", toy, "--out", str(tmp_path / "cli"), "--backbone", "resnet18", "--min-size",
                            "128", "--max-size", "128", "--iters", "3", "--workers", "0", "--quiet", *TINY_FLAGS])
    assert rc == 3


@pytest.mark.slow
def test_sigterm_saves_resume_state_then_resume_finishes(toy, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "scripts/train.py", "--data", toy, "--out", str(out), "--backbone", "resnet18",
           "--min-size", "96", "--max-size", "96", "--batch-size", "1", "--workers", "0", "--log-every", "1",
           "--checkpoint-every", "0", "--no-final-eval", "--quiet", *TINY_FLAGS]
    proc = subprocess.Popen(cmd + ["--iters", "1000"], cwd=ROOT, env=SUBPROCESS_ENV, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (out / "log.csv").exists() and len(_log(out)) >= 2:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "--resume" in err
    step = load_training_state(str(out / "resume.pt"))["step"]
    assert 2 <= step < 1000
    r = subprocess.run(cmd + ["--iters", str(step + 2), "--resume"], cwd=ROOT, env=SUBPROCESS_ENV,
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    assert [int(row["step"]) for row in _log(out)] == list(range(1, step + 3))
    assert read_json(out / "model.json")["training"]["iters"] == step + 2


@pytest.mark.slow
def test_torchrun_two_cpu_processes(toy, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "scripts/train.py",
           "--data", toy, "--out", str(out), "--backbone", "resnet18", "--min-size", "96", "--max-size", "96",
           "--batch-size", "1", "--iters", "3", "--workers", "0", "--log-every", "1", "--device", "cpu",
           "--no-final-eval", "--quiet", *TINY_FLAGS]
    r = subprocess.run(cmd, cwd=ROOT, env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    meta = read_json(out / "model.json")
    assert meta["training"]["world_size"] == 2 and meta["training"]["batch_size"] == 2
    assert [row["step"] for row in _log(out)] == ["1", "2", "3"]


def test_sampler_is_a_function_of_seed_and_epoch():
    s = ResumableBatchSampler(10, 3, seed=4)
    s.set_epoch(2)
    full = list(s)
    s.set_epoch(2, start_batch=2)
    assert list(s) == full[2:]
    assert ResumableBatchSampler(10, 3, seed=4).epoch_batches(2) == full
    assert ResumableBatchSampler(10, 3, seed=4).epoch_batches(3) != full
    assert ResumableBatchSampler(10, 3, seed=5).epoch_batches(2) != full
    assert sorted(i for b in full for i, _ in b) == list(range(10))
    ranks = [ResumableBatchSampler(10, 2, seed=4, rank=r, world_size=2).epoch_batches(0) for r in range(2)]
    seen = [i for batches in ranks for b in batches for i, _ in b]
    assert sorted(seen) == list(range(10)) and len(ranks[0]) == len(ranks[1])


def test_schedule_warmup_steps_and_lr_scaling():
    f = WarmupMultiStep(10, 1 / 3, milestones_for([0.5, 0.75], 100), 0.1)
    assert f(0) == pytest.approx(1 / 3) and f(5) == pytest.approx(2 / 3) and f(10) == 1.0
    assert f(49) == 1.0 and f(50) == pytest.approx(0.1) and f(75) == pytest.approx(0.01)
    assert milestones_for([0.5, 3000], 100) == [50, 3000]


def test_yaml_config_and_cli_override(tmp_path, capsys):
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text("variant: c4\nbackbone: resnet18\ndata: /d\nout: /o\niters: 100\nlr: 0.01\n"
                        "steps: '0.5,0.9'\nmodel: {pyramid_channels: 128}\npretrained-backbone: true\n")
    cfg = load_config(["--config", str(cfg_file), "--lr", "0.04", "--set", "box_nms_thresh=0.6",
                                    "--no-hflip"])
    assert cfg.variant == "c4" and cfg.lr == 0.04 and cfg.iters == 100 and cfg.steps == [0.5, 0.9]
    assert cfg.model == {"pyramid_channels": 128, "box_nms_thresh": 0.6}
    assert cfg.backbone_weights == "imagenet" and cfg.hflip == 0.0
    cfg_file.write_text("data: /d\nout: /o\niters: 1\nlearning_rate: 3\n")
    with pytest.raises(SystemExit):
        load_config(["--config", str(cfg_file)])
    with pytest.raises(SystemExit):
        load_config(["--data", "/d", "--out", "/o"])  # neither --iters nor --epochs
    base = ["--data", "/d", "--out", "/o", "--iters", "100", "--eval-every", "25"]  # --eval-from: 0..100
    for bad, says in ((["--eval-from", "-1"], "--eval-from must be >= 0"), (["--eval-from", "101"], "past --iters 100"),
                      (["--eval-every", "-5"], "--eval-every must be >= 0")):
        with pytest.raises(SystemExit):
            load_config(base + bad)
        assert says in capsys.readouterr().err, bad


def test_mask_proposals_task_trains_and_evaluates(toy, tmp_path):
    """--task mask_proposals: masks as targets, fpn.mask_proposals.build_mask_proposer, segment AR at the end."""
    cfg = tiny_config(toy, tmp_path, task="mask_proposals", iters=2, final_eval=True, eval_max_images=2,
               model={"d": 32, "hidden": 64, "mlps": "5x5", "num_proposals": 100})
    result = train(cfg)
    assert set(result["metrics"]["segm_proposals"]) == {"AR@10", "AR@100", "AR@1000", "AR_s@1000", "AR_m@1000",
                                                        "AR_l@1000"}
    from fpn.weights.checkpoint import load_checkpoint, read_metadata

    model = load_checkpoint(str(tmp_path / "model"))
    assert read_metadata(str(tmp_path / "model"))["task"] == "mask_proposals" and model.config["pyramid_channels"] == 32


def _strings(value):
    """Every string inside a JSON value (keys included)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def test_checkpoint_metadata_holds_no_absolute_paths(toy, tmp_path, monkeypatch):
    """Absolute --data / --out / script paths, typed or given to train(), are written relative to the working
    directory in model.json."""
    monkeypatch.chdir(tmp_path)
    train(tiny_config(toy, tmp_path / "api", iters=1, min_size=96, max_size=96, batch_size=1))
    out = tmp_path / "cli"
    monkeypatch.setattr(sys, "argv", [os.path.join(ROOT, "scripts", "train.py"), "--data", toy, f"--out={out}",
                                      "--backbone", "resnet18", "--min-size", "96", "--max-size", "96",
                                      "--batch-size", "1", "--iters", "1", "--workers", "0", "--no-final-eval",
                                      "--quiet", *TINY_FLAGS])
    assert train_main() == 0
    base = os.path.dirname(str(tmp_path))  # holds the toy data set too
    for run in ("api", "cli"):
        with open(tmp_path / run / "model.json") as f:
            meta = json.load(f)
        bad = [s for s in _strings(meta) if s.startswith("/") or base in s]
        assert not bad, (run, bad)
        training = meta["training"]
        assert os.path.samefile(training["data"], toy) and os.path.samefile(training["config"]["out"], run)
        assert training["command"].startswith("python ")
    assert f"--out={out.name}" in training["command"]


def test_eval_from_skips_the_early_validations(toy, tmp_path, monkeypatch):
    """--eval-from: the --eval-every validations before that step are skipped (the bundle's c4 skips its 25 % one)."""
    steps = []
    monkeypatch.setattr(training_run.Run, "evaluate", lambda self: steps.append(self.step) or {})
    train(tiny_config(toy, tmp_path, iters=6, eval_every=2, eval_from=3))
    assert steps == [4]  # 2 is before --eval-from; 6 is the end, validated only by final_eval
    steps.clear()
    train(tiny_config(toy, tmp_path / "all", iters=6, eval_every=2))
    assert steps == [2, 4]
