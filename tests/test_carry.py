"""Carrying an unfinished run to a fresh machine through git (fpn.training.carry, scripts/carry_run.py): the resume
file comes back byte for byte, parts stay under the commit limit, and a corrupt, incomplete or stale carry is refused
with a message that says which."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fpn.training import LOG_FILE, METRICS_FILE, RESUME_FILE, load_training_state, save_training_state
from fpn.training.carry import MANIFEST, CarryError, pack, unpack

ROOT = Path(__file__).resolve().parents[1]


def _run(folder: Path, step: int) -> Path:
    folder.mkdir(exist_ok=True)
    torch.manual_seed(step)
    save_training_state(str(folder / RESUME_FILE), {"model": {"w": torch.randn(300, 100)}, "step": step})
    (folder / LOG_FILE).write_text("step,loss\n1,0.9\n")
    (folder / METRICS_FILE).write_text("step,AP\n")
    return folder


def test_pack_then_unpack_gives_back_the_resume_file_byte_for_byte(tmp_path):
    run = _run(tmp_path / "run", 7)
    manifest = pack(str(run), str(tmp_path / "carry"), part_bytes=40_000)
    parts = sorted(p.name for p in (tmp_path / "carry").glob(f"{RESUME_FILE}.part*"))
    assert manifest["step"] == 7 and len(parts) == len(manifest["resume"]["parts"]) >= 3
    assert max((tmp_path / "carry" / p).stat().st_size for p in parts) <= 40_000
    assert unpack(str(tmp_path / "carry"), str(tmp_path / "fresh")) == 7
    assert (tmp_path / "fresh" / RESUME_FILE).read_bytes() == (run / RESUME_FILE).read_bytes()
    assert (tmp_path / "fresh" / LOG_FILE).read_text() == "step,loss\n1,0.9\n"
    assert torch.equal(load_training_state(str(tmp_path / "fresh" / RESUME_FILE))["model"]["w"],
                       load_training_state(str(run / RESUME_FILE))["model"]["w"])
    _run(run, 9)  # a later pack into the same folder replaces every part of the earlier one
    manifest = pack(str(run), str(tmp_path / "carry"), part_bytes=200_000)
    assert len(list((tmp_path / "carry").glob(f"{RESUME_FILE}.part*"))) == len(manifest["resume"]["parts"])
    assert unpack(str(tmp_path / "carry"), str(tmp_path / "fresh")) == 9


def test_a_corrupt_incomplete_or_stale_carry_is_refused_and_the_run_folder_kept(tmp_path):
    run = _run(tmp_path / "run", 5)
    carry = tmp_path / "carry"
    pack(str(run), str(carry), part_bytes=40_000)
    with pytest.raises(CarryError, match="is at step 5, the carried run at 5"):  # nothing newer to bring back
        unpack(str(carry), str(run))
    first = carry / f"{RESUME_FILE}.part000"
    good = first.read_bytes()
    first.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.raises(CarryError, match="part000 does not match its sha256"):
        unpack(str(carry), str(tmp_path / "fresh"))
    assert not (tmp_path / "fresh" / RESUME_FILE).exists()
    first.unlink()
    with pytest.raises(CarryError, match="incomplete: resume.pt.part000 is missing"):
        unpack(str(carry), str(tmp_path / "fresh"))
    with pytest.raises(CarryError, match="no carried run"):
        unpack(str(tmp_path / "nowhere"), str(tmp_path / "fresh"))
    with pytest.raises(CarryError, match="nothing to carry: no resume.pt"):
        pack(str(tmp_path / "nowhere"), str(carry))
    (carry / MANIFEST).write_text(json.dumps({"format": 99}))
    with pytest.raises(CarryError, match="not a carry manifest"):
        unpack(str(carry), str(tmp_path / "fresh"))


def test_the_command_line_says_what_it_did_or_why_not(tmp_path):
    _run(tmp_path / "run", 3)
    cmd = [sys.executable, str(ROOT / "scripts" / "carry_run.py")]
    r = subprocess.run(cmd + ["pack", str(tmp_path / "run"), str(tmp_path / "carry")], capture_output=True, text=True)
    assert r.returncode == 0 and "at step 3" in r.stdout and "1 parts" in r.stdout, r.stderr
    r = subprocess.run(cmd + ["show", str(tmp_path / "carry")], capture_output=True, text=True)
    assert r.returncode == 0 and "step 3" in r.stdout and "log.csv, metrics.csv" in r.stdout
    r = subprocess.run(cmd + ["unpack", str(tmp_path / "carry"), str(tmp_path / "run")], capture_output=True,
                       text=True)
    assert r.returncode == 2 and "keeping the newer one here" in r.stderr
    r = subprocess.run(cmd + ["unpack", "--force", str(tmp_path / "carry"), str(tmp_path / "run")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "--resume at step 3" in r.stdout
    assert os.path.getsize(tmp_path / "run" / RESUME_FILE) > 0
