"""The plateau evidence of a run (fpn.training.plateau): the held-out metric at 50 / 75 / 100% of the schedule from
metrics.csv, and whether it still rose by more than a point over the last quarter."""
import pytest

from fpn.training.plateau import plateau


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
