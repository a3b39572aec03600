"""The README's library example runs as written (keeps the README true to the code)."""
import os
import re

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme_block(heading: str) -> str:
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = text.split(heading, 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_library_api_example_runs(capsys):
    torch.manual_seed(0)
    code = readme_block("## Library API")
    assert "fpn.explore" in code and "model.train()" in code
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "'p6'" in printed and "'c2': 4" in printed and "'p6': 64" in printed
    assert set(namespace["losses"]) == {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg"}
    # the shapes quoted in the README's comment are the real ones
    quoted = re.search(r"# p2 \[(\d+), (\d+), (\d+)\] \.\.\. p6 \[(\d+), (\d+), (\d+)\]", code)
    ex = namespace["ex"]
    assert tuple(ex.pyramid["p2"].shape) == tuple(map(int, quoted.groups()[:3]))
    assert tuple(ex.pyramid["p6"].shape) == tuple(map(int, quoted.groups()[3:]))


def test_readme_names_real_files():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    for path in re.findall(r"`((?:fpn|app|scripts|tests|docs|configs)/[\w/.-]+\.(?:py|md|sh|yaml))`", text):
        assert os.path.exists(os.path.join(ROOT, path)), f"README names {path}, which does not exist"
