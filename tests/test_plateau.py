"""The plateau evidence of a run (fpn.training.plateau): the held-out metric at 50 / 75 / 100% of the schedule from
metrics.csv, and whether it still rose by more than a point over the last quarter."""
import pytest

from fpn.training.plateau import plateau


def _ablation():
    """scripts/ablation.py as a module (scripts/ is not a package)."""
    import importlib
    import os
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
    return importlib.import_module("ablation")


def _metrics(folder, rows):
    lines = ["step,AP,AR@1000,mask_AR@1000"] + [f"{s},{ap},{ar},{m}" for s, ap, ar, m in rows]
    (folder / "metrics.csv").write_text("\n".join(lines) + "\n")


def test_a_run_that_levelled_off_is_done(tmp_path):
    _metrics(tmp_path, [(300, 10.0, 40, ""), (600, 20.04, 50, ""), (900, 24.1, 55, ""), (1200, 24.6, 56, "")])
    assert plateau(str(tmp_path), 1200) == {"metric": "AP", "0.5": 20.0, "0.75": 24.1, "1.0": 24.6,
                                            "rise_last_quarter": 0.5, "done": True}
    assert plateau(str(tmp_path), 1200, "rpn")["1.0"] == 56.0


def test_a_run_still_rising_is_not_done(tmp_path):
    _metrics(tmp_path, [(600, 20.0, 50, 30), (900, 22.0, 55, 31), (1200, 24.6, 56, 33)])
    result = plateau(str(tmp_path), 1200)
    assert result["rise_last_quarter"] == 2.6 and result["done"] is False
    assert plateau(str(tmp_path), 1200, "mask_proposals")["metric"] == "mask_AR@1000"


def test_missing_steps_say_how_to_get_them(tmp_path):
    _metrics(tmp_path, [(1200, 24.6, 56, "")])
    with pytest.raises(ValueError, match=r"no AP at step 600 .* evaluated steps: \[1200\]\. Train with --eval-every 300"):
        plateau(str(tmp_path), 1200)
    with pytest.raises(ValueError, match="evaluated steps: none"):
        plateau(str(tmp_path / "nowhere"), 1200)


def test_a_bundle_states_its_protocols_hours_and_plateaus(tmp_path):
    """scripts/ablation.py --from-checkpoints on a bundle being retrained: the rows' different commands are each named
    with their rows (never one protocol claimed for all), and the training table gives hours and plateau per model;
    the RPNs trained alone give Table 1 under the paper's protocol, the joint detectors' Table 1 below it."""
    import json

    ablation = _ablation()
    base = "python scripts/train.py --data d --iters {} --batch-size 4 --out runs/x/{} --variant {}"
    metrics = {"bbox": {"AP": 20.0}, "proposals": {"AR@1000": 50.0}, "data": "d", "split": "val", "num_images": 500,
               "inference_ms": {"mean": 3600.0}}  # 500 images x 3.6 s: half an hour as stored
    bundle = {"trained_on": "CPU", "configuration": "PROFILE=cpu bash scripts/train_bundled.sh"}
    models = {
        "fpn_resnet18_cpu": ("detection", "fpn", 2400, {"metric": "AP", "0.5": 18.5, "0.75": 30.6, "1.0": 31.0,
                                                         "rise_last_quarter": 0.4, "done": True}),
        "c4_resnet18_cpu": ("detection", "c4", 1200, None),
        "fpn_rpn_resnet18_cpu": ("rpn", "fpn", 2400, {"metric": "AR@1000", "0.5": 50.0, "0.75": 55.0, "1.0": 58.0,
                                                       "rise_last_quarter": 3.0, "done": False}),
    }
    for stem, (task, variant, iters, plateau_) in models.items():
        meta = {"task": task, "model": {"variant": variant}, "metrics": metrics, "bundle": bundle,
                "training": {"command": base.format(iters, stem, variant) + (" --task rpn" if task == "rpn" else ""),
                             "iters": iters, "batch_size": 4, "train_seconds": 3600 * iters / 1200}}
        if plateau_:
            meta["plateau"] = plateau_
        if task == "detection":  # Table 2: its Fast R-CNN on another model's proposals (two proposers here)
            proposer = "checkpoints/fpn_rpn_resnet18_cpu" if variant == "fpn" else "checkpoints/fpn_resnet18_cpu"
            meta["fixed_proposals"] = {"bbox": {"AP50": 40.0, "AP": 21.5 if variant == "fpn" else 6.5},
                                       "proposals_from": proposer, "num_images": 500,
                                       "inference_ms": {"mean": 7200.0 if variant == "c4" else None}}
        (tmp_path / f"{stem}.json").write_text(json.dumps(meta))
        (tmp_path / f"{stem}.safetensors").write_bytes(b"")
    readme = tmp_path / "doc" / "README.md"
    readme.parent.mkdir()
    readme.write_text(f"# Title\n\nkept\n\n{ablation.README_START}\nold tables\n{ablation.README_END}\n\nkept too\n")
    no_markers = tmp_path / "OTHER.md"
    no_markers.write_text("nothing to replace\n")
    figure = tmp_path / "doc" / "pictures" / "ablation_cpu.png"
    assert ablation.main(["--out", str(tmp_path / "tables"), "--from-checkpoints", str(tmp_path),
                          "--readme", str(readme), "--readme-figure", str(figure)]) == 0
    md = (tmp_path / "tables" / "tables.md").read_text()
    text = readme.read_text()  # the tables between the markers, headings one level down, the chart linked
    assert text.startswith("# Title\n\nkept\n\n") and text.endswith(f"{ablation.README_END}\n\nkept too\n")
    assert "old tables" not in text and "# FPN ablations" not in text and "\n### Table 3: Faster R-CNN" in text
    assert "![our Table 3 next to the paper's](pictures/ablation_cpu.png)" in text and figure.is_file()
    assert "| `c4_resnet18_cpu` | 1200 x 4 | 1.0 | 1.5 | not measured | unknown |" in text
    assert ablation.main(["--out", str(tmp_path / "tables"), "--from-checkpoints", str(tmp_path),
                          "--readme", str(no_markers)]) == 0
    assert no_markers.read_text() == "nothing to replace\n"  # no markers: left as it is (a warning says so)
    assert "**The rows were trained under different protocols**" in md
    assert "--iters 2400 --batch-size 4` for `fpn`, `fpn` (RPN alone)" in md and "--iters 1200" in md
    assert md.index("each RPN trained alone") < md.index("## Table 1 from the jointly trained detectors")
    table2 = md.split("## Table 2: Fast R-CNN on fixed proposals")[1]
    assert "| (a) | baseline on conv4 (`c4`) | 40.0 (54.7) | 6.5 (31.9) | n/a (15.7) |" in table2
    assert "| (c) | FPN (`fpn`) | 40.0 (56.9) | 21.5 (33.9) |" in table2
    assert ("Order by AP: ours `fpn` 21.5 > `c4` 6.5; the paper's `fpn` 33.9 > `c4` 31.9: the same order."
            in table2)
    assert ("**different proposals** (a bundle being retrained): those of `fpn_resnet18_cpu` for `c4`; those of "
            "`fpn_rpn_resnet18_cpu` for `fpn`") in table2  # each proposer named with its rows
    assert "| `fpn_resnet18_cpu` | 2400 x 4 | 2.0 | 0.5 | AP 18.5 / 30.6 / 31.0 | reached (+0.4) |" in md
    assert "| `c4_resnet18_cpu` | 1200 x 4 | 1.0 | 1.5 | not measured | unknown |" in md
    assert "| `fpn_rpn_resnet18_cpu` | 2400 x 4 | 2.0 | 0.5 | AR@1000 50.0 / 55.0 / 58.0 | **not reached** (+3.0) |" in md
    assert "| all | | 5.0 | 2.5 | | |" in md  # c4: half an hour on its own proposals, an hour on fpn_rpn's


def test_flags_that_read_bundled_checkpoints_need_from_checkpoints(tmp_path, capsys):
    ablation = _ablation()
    for flags in (["--readme", "README.md"], ["--profile", "cpu"]):
        with pytest.raises(SystemExit):
            ablation.main(["--out", str(tmp_path), *flags])
        assert "add --from-checkpoints DIR" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ablation.main(["--out", str(tmp_path), "--from-checkpoints", str(tmp_path), "--readme-figure", "x.png"])
    assert "--readme-figure goes with --readme FILE" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # refused before writing anything


def test_one_protocol_whatever_the_variant_task_run_folder_or_resume():
    from fpn.training.metadata import protocol_of

    base = "python scripts/train.py --data d --iters 2400 --lr 0.04"
    a = protocol_of(base + " --variant fpn --out runs/x/fpn --set pyramid_channels=128")
    b = protocol_of(base + " --variant c4 --task rpn --out runs/x/c4_rpn --resume")
    c = protocol_of(base + " --variant c4 --eval-from 1200 --no-final-eval --out runs/x/c4 --resume")  # evaluations
    assert a == b == c == base
    assert protocol_of(base.replace("2400", "1200") + " --variant fpn") != a


def test_the_order_of_the_variants_against_the_papers():
    from fpn.evaluation.paper_tables import ordering, orderings

    paper = {"c4": 31.6, "c5": 28.0, "fpn": 33.9}
    assert ordering({"c4": 3.0, "c5": 3.7, "fpn": 31.4}, paper, "AP") == (
        "Order by AP: ours `fpn` 31.4 > `c5` 3.7 > `c4` 3.0; the paper's `fpn` 33.9 > `c4` 31.6 > `c5` 28.0: "
        "1 of 3 pairs in the other order: `c4` / `c5`.")
    assert ordering({"c4": 3.0, "fpn": None}, paper, "AP") == ""  # one variant: nothing to order
    rpn = {"c5": {"proposals": {"AR@1000": 34.3}}, "fpn": {"proposals": {"AR@1000": 61.3}}}
    assert orderings("1", rpn).endswith("the paper's `fpn` 56.3 > `c5` 44.9: the same order.")


def test_a_run_resumed_in_fp32_keeps_the_protocol_and_is_named(tmp_path):
    """A run that went on in fp32 (`--amp off`) on a CPU without bf16 kernels: still one protocol (the command most
    rows ran, with its --amp), and the steps it ran in fp32 named with its row (training.segments)."""
    import json

    ablation = _ablation()
    base = "python scripts/train.py --data d --iters 2400 --amp {} --out runs/x/{} --variant {}"
    segments = {"fpn": [{"from_step": 0, "to_step": 2400, "amp": "bfloat16"}],
                "c5": [{"from_step": 0, "to_step": 2400, "amp": "bfloat16"}],
                "c4": [{"from_step": 0, "to_step": 1655, "amp": "unrecorded"},
                       {"from_step": 1655, "to_step": 1819, "amp": "off"},  # stopped, resumed: one span
                       {"from_step": 1819, "to_step": 2400, "amp": "off"},
                       {"from_step": 2400, "to_step": 2400, "amp": "bfloat16"}]}  # resumed for its final evaluation
    for variant, amp in (("fpn", "bf16"), ("c5", "bf16"), ("c4", "off")):
        meta = {"task": "detection", "model": {"variant": variant},
                "bundle": {"trained_on": "CPU", "configuration": "PROFILE=cpu bash scripts/train_bundled.sh"},
                "metrics": {"bbox": {"AP": 20.0}, "proposals": {"AR@1000": 50.0}, "data": "d", "split": "val",
                            "num_images": 500},
                "training": {"command": base.format(amp, variant, variant), "iters": 2400, "batch_size": 4,
                             "segments": segments[variant]}}
        (tmp_path / f"{variant}_resnet18_cpu.json").write_text(json.dumps(meta))
        (tmp_path / f"{variant}_resnet18_cpu.safetensors").write_bytes(b"")
    assert ablation.main(["--out", str(tmp_path / "tables"), "--from-checkpoints", str(tmp_path)]) == 0
    md = (tmp_path / "tables" / "tables.md").read_text()
    assert "different protocols" not in md
    assert "Protocol (identical for every row but `--variant` / `--task` / `--set`): `python scripts/train.py " \
           "--data d --iters 2400 --amp bf16`" in md
    assert "(except: `c4` trained steps 1655-2400 in fp32 (`--amp off`), resumed on a CPU without bf16 kernels" in md


def test_merged_spans_join_contiguous_segments_of_one_precision_only():
    from fpn.training.metadata import merged_spans

    seg = [{"from_step": 0, "to_step": 10, "amp": "off"}, {"from_step": 10, "to_step": 20, "amp": "off"},
           {"from_step": 20, "to_step": 30, "amp": "float16"}, {"from_step": 40, "to_step": 50, "amp": "float16"}]
    assert merged_spans(seg) == [(0, 20, "off"), (20, 30, "float16"), (40, 50, "float16")]
