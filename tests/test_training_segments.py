"""A resumed run records which steps each of its processes trained, in which precision and on what processor
(``training.segments`` in the JSON), and bf16 autocast on a CPU without bf16 kernels is warned about."""
from __future__ import annotations

import pytest
import torch
from tiny_training import tiny_config
from toy_coco import make_toy_coco, read_json

from fpn.training import TrainingInterrupted, load_training_state, train
from fpn.training import run as training_run
from fpn.training.state import save_training_state

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_coco(str(tmp_path_factory.mktemp("toy")), num_images=4, size=128)


def test_a_run_resumed_in_another_precision_records_both(toy, tmp_path):
    with pytest.raises(TrainingInterrupted):
        train(tiny_config(toy, tmp_path, iters=4, stop_at_step=2, amp="off"))
    saved = load_training_state(str(tmp_path / "resume.pt"))["segments"]
    assert [(s["from_step"], s["to_step"], s["amp"]) for s in saved] == [(0, 2, "off")]
    train(tiny_config(toy, tmp_path, iters=4, resume=True, amp="bf16"))
    record = read_json(tmp_path / "model.json")["training"]
    segments = record["segments"]
    assert [(s["from_step"], s["to_step"], s["amp"]) for s in segments] == [(0, 2, "off"), (2, 4, "bfloat16")]
    assert record["amp"] == "bfloat16"  # the last process's
    assert all(s["device"] == "cpu" and s["seconds"] > 0 for s in segments)
    assert all(s["processor"].endswith(f"({torch.backends.cpu.get_cpu_capability()})") for s in segments)
    assert sum(s["seconds"] for s in segments) == pytest.approx(record["train_seconds"], abs=1.0)


def test_a_resume_file_without_segments_marks_its_steps_unrecorded(toy, tmp_path):
    with pytest.raises(TrainingInterrupted):
        train(tiny_config(toy, tmp_path, iters=3, stop_at_step=2))
    state = load_training_state(str(tmp_path / "resume.pt"))
    del state["segments"]  # as written before segments were recorded
    save_training_state(str(tmp_path / "resume.pt"), state)
    train(tiny_config(toy, tmp_path, iters=3, resume=True))
    segments = read_json(tmp_path / "model.json")["training"]["segments"]
    assert [(s["from_step"], s["to_step"], s["amp"]) for s in segments] == [(0, 2, "unrecorded"), (2, 3, "off")]


@pytest.mark.parametrize("has_kernels", [True, False])
def test_bf16_on_a_cpu_without_bf16_kernels_is_warned_about(toy, tmp_path, monkeypatch, capsys, has_kernels):
    monkeypatch.setattr(training_run, "cpu_has_bf16_kernels", lambda: has_kernels)
    train(tiny_config(toy, tmp_path, iters=1, amp="bf16"))
    err = capsys.readouterr().err
    assert ("--amp bf16 on a CPU without oneDNN's bf16 kernels" in err) != has_kernels
    assert ("--amp off trains in fp32" in err) != has_kernels


def test_the_bf16_kernel_check_answers_on_this_build():
    from fpn.devices import cpu_has_bf16_kernels

    assert isinstance(cpu_has_bf16_kernels(), bool)
    assert cpu_has_bf16_kernels() == bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
