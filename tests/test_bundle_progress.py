"""STATUS=1 bash scripts/train_bundled.sh (scripts/bundle_progress.py): each run's state, step, held-out metrics,
hours spent and left, read from the run folders and the checkpoint JSONs without writing anything."""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fpn.training.carry import pack
from fpn.training.state import save_training_state

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = "--iters 1000 --lr 0.04 storage=int8"


def _progress():
    sys.path.insert(0, str(ROOT / "scripts"))
    return importlib.import_module("bundle_progress")


def _write(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj) if isinstance(obj, dict) else obj)


@pytest.fixture
def folders(tmp_path):
    out, ck = tmp_path / "runs", tmp_path / "checkpoints"
    # fpn: trained, bundled and evaluated as stored (eval_bundled.json newer than model.json)
    _write(out / "fpn" / "model.json", {"training": {"train_seconds": 7200}})
    _write(out / "fpn" / "metrics.csv", "step,AP,AR@1000\n250,6,40\n500,18.5,50\n750,30.6,60\n1000,31.4,61\n")
    _write(ck / "fpn_r18.json", {"metrics": {"bbox": {}}, "fixed_proposals": {"proposals_from": "ck/fpn_rpn_r18"}})
    _write(out / "fpn" / "eval_bundled.json", {})
    os.utime(out / "fpn" / "model.json", (1, 1))
    # c4: stopped at step 500 after an hour; log.csv went on to 520
    save_training_state(str(out / "c4" / "resume.pt"), {"step": 500, "train_seconds": 3600.0})
    _write(out / "c4" / "log.csv", "step,loss\n500,1.0\n520,0.9\n")
    _write(out / "c4" / "metrics.csv", "step,AP,AR@1000\n250,0.8,37.5\n")
    # c5: trained, not bundled yet
    _write(out / "c5" / "model.json", {"training": {"train_seconds": 1800}})
    # p2_only: bundled under this protocol on another machine (no run folder)
    _write(ck / "p2_only_r18.json", {"metrics": {"bbox": {}}, "bundle": {"protocol": PROTOCOL},
                                     "training": {"iters": 1000, "train_seconds": 5400},
                                     "plateau": {"metric": "AP", "0.5": 10.0, "0.75": 12.0, "1.0": 12.5}})
    # bottom_up: only an older protocol's model (500 iterations in 2 h): queued, its pace scaled to 1000
    _write(ck / "bottom_up_r18.json", {"metrics": {"bbox": {}}, "bundle": {"protocol": "older"},
                                       "training": {"iters": 500, "train_seconds": 7200}})
    # mask_proposals_dual: a broken resume.pt
    _write(out / "mask_proposals_dual" / "resume.pt", "not a torch file")
    # fpn_rpn: carried from another machine at step 250 after half an hour (scripts/carry_run.py pack)
    save_training_state(str(tmp_path / "moved" / "resume.pt"), {"step": 250, "train_seconds": 1800.0})
    _write(tmp_path / "moved" / "metrics.csv", "step,AP,AR@1000\n250,0.0,41.5\n")
    pack(str(tmp_path / "moved"), str(tmp_path / "carry" / "fpn_rpn"))
    return out, ck


def test_each_state_its_hours_and_the_totals(folders, capsys):
    out, ck = folders
    names = ["fpn", "c4", "c5", "p2_only", "bottom_up", "mask_proposals_dual", "fpn_rpn"]
    assert _progress().main([*names, "--out", str(out), "--checkpoints", str(ck), "--suffix", "_r18",
                             "--iters", "1000", "--protocol", PROTOCOL, "--parallel", "2",
                             "--carry", str(out.parent / "carry")]) == 0
    lines = capsys.readouterr().out.splitlines()
    row = {line.split(" | ")[0][2:]: line for line in lines if line.startswith("| ") and " | " in line}
    assert row["fpn"] == "| fpn | bundled | 1000/1000 | AP 6 / 18.5 / 30.6 / 31.4 | 2.0 | 0.0 |"
    # 1 h for 500 steps: the 480 left take 0.96 h
    assert row["c4"] == "| c4 | stopped at step 500 | 520/1000 | AP 0.8 / - / - / - | 1.0 | 1.0 |"
    assert row["c5"] == "| c5 | trained | 1000/1000 | AP - / - / - / - | 0.5 | 0.0 |"
    assert row["p2_only"] == ("| p2_only | bundled, run folder gone | 1000/1000 | AP - / 10.0 / 12.0 / 12.5 | 1.5 | "
                              "0.0 |")
    assert row["bottom_up"] == "| bottom_up | queued | 0/1000 | AP - / - / - / - | - | 4.0 ~ |"
    assert "unreadable resume.pt" in row["mask_proposals_dual"]
    assert row["fpn_rpn"] == ("| fpn_rpn | carried at step 250 (unpacked by the next run) | 250/1000 | AR@1000 41.5 / "
                              "- / - / - | 0.5 | 1.5 |")
    assert lines[-2] == ("2 of 7 runs bundled; 5.5 training hours spent (one thread each); about 6.5 thread-hours "
                         "left, ~3.2 h with 2 runs side by side, not counting 1 run(s) of unknown length.")
    assert lines[-1] == ("Table 2 (each detector's Fast R-CNN on the proposals of fpn_rpn_r18, after the runs): done "
                         "for fpn; to do: c4, c5, p2_only, bottom_up.")


def test_status_through_the_script_writes_nothing(tmp_path):
    env = {**os.environ, "STATUS": "1", "SMOKE": "1", "OUT": str(tmp_path / "runs"),
           "DATA": str(tmp_path / "data"), "CKPTS": str(tmp_path / "ck")}
    done = subprocess.run(["bash", "scripts/train_bundled.sh"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "nothing has been trained with these settings here" in done.stderr
    assert not list(tmp_path.iterdir())  # no data made, no folders
    (tmp_path / "runs").mkdir()
    done = subprocess.run(["bash", "scripts/train_bundled.sh"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "| mask_proposals_dual | queued | 0/4 |" in done.stdout and "0 of 13 runs bundled" in done.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["runs"] and not list((tmp_path / "runs").iterdir())


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads Linux /proc")
def test_a_running_process_is_found_by_its_folder_whatever_the_working_folder(tmp_path):
    progress = _progress()
    proc = subprocess.Popen([sys.executable, "-c", "print(flush=True); import time; time.sleep(60)", "--out",
                             "runs/c4"], cwd=tmp_path, stdout=subprocess.PIPE)
    try:
        proc.stdout.readline()  # started: its command line is in /proc
        assert progress._running("--out", str(tmp_path / "runs" / "c4"))
        assert not progress._running("--out", str(tmp_path / "runs" / "c4_rpn"))  # c4 is not c4_rpn
        assert not progress._running("--checkpoint", str(tmp_path / "runs" / "c4"))
    finally:
        proc.kill()
        proc.wait()
    assert not progress._running("--out", str(tmp_path / "runs" / "c4"))
