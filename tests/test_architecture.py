"""The rules of docs/architecture.md, checked on the source: no import cycle in `fpn`, who may import whom, the app on
the public API only, scripts without sys.path tricks, no file over 300 lines."""
from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 300

# Layers of the library, lowest first: a module may import its own layer and the layers listed for it.
CORE = "core"
LAYERS = {
    "fpn.viz": {CORE, "fpn.viz"},
    "fpn.evaluation": {CORE, "fpn.viz", "fpn.evaluation"},
    "fpn.training": {CORE, "fpn.viz", "fpn.evaluation", "fpn.training"},
}
# What the app may import from the library: the public API.
APP_ALLOWED = {"fpn", "fpn.viz", "fpn.data", "fpn.mask_proposals"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> str:
    return next((prefix for prefix in LAYERS if module == prefix or module.startswith(prefix + ".")), CORE)


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Every module (of `known` or outside it) that `path` imports, at any depth of the file (lazy imports count)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.add(target)
            out.update(f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in known)
    return out


def python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


@pytest.fixture(scope="module")
def fpn_graph() -> dict[str, set[str]]:
    files = python_files("fpn")
    known = {module_name(p) for p in files}
    return {module_name(p): {m for m in imports_of(p, known) if m in known} for p in files}


def test_no_import_cycle_in_the_library(fpn_graph):
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(module: str, stack: list[str]) -> None:
        state[module] = 1
        for dep in sorted(fpn_graph[module]):
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep):] + [dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, stack + [dep])
        state[module] = 2

    for module in sorted(fpn_graph):
        if module not in state:
            visit(module, [module])


def test_layers_import_only_downwards(fpn_graph):
    bad = []
    for module, deps in fpn_graph.items():
        allowed = LAYERS.get(layer_of(module), {CORE})
        for dep in deps:
            if dep != "fpn" and layer_of(dep) not in allowed:
                bad.append(f"{module} imports {dep}")
    assert not bad, "\n".join(bad)


def test_library_never_imports_the_app_or_gradio():
    files = python_files("fpn")
    bad = [f"{p.relative_to(ROOT)}: {m}" for p in files for m in imports_of(p, set())
           if m.split(".")[0] in ("app", "gradio", "gradio_client")]
    assert not bad, bad


def test_app_uses_only_the_public_api():
    files = python_files("app") + [ROOT / "app.py"]
    bad = [f"{p.relative_to(ROOT)}: {m}" for p in files for m in imports_of(p, set())
           if m.split(".")[0] == "fpn" and m not in APP_ALLOWED]
    assert not bad, "the app imports library internals:\n" + "\n".join(bad)


def test_scripts_do_not_patch_sys_path():
    bad = []
    for p in python_files("scripts") + [ROOT / "app.py"]:
        for node in ast.walk(ast.parse(p.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr in ("insert", "append")
                    and isinstance(node.value, ast.Attribute) and node.value.attr == "path"
                    and isinstance(node.value.value, ast.Name) and node.value.value.id == "sys"):
                bad.append(f"{p.relative_to(ROOT)}:{node.lineno}")
    assert not bad, f"sys.path manipulation (the package is installed; import it): {bad}"


def test_no_file_over_300_lines():
    tracked = os.popen(f"git -C {ROOT} ls-files --cached --others --exclude-standard").read().split()
    code = [ROOT / f for f in tracked if f.endswith((".py", ".sh", ".yaml", ".yml")) and (ROOT / f).is_file()]
    assert len(code) > 50  # the listing worked
    long = {str(p.relative_to(ROOT)): n for p in code if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines: {long}"


def test_the_checks_can_fail(tmp_path, monkeypatch):
    """The cycle and layering checks see lazy (function-level) imports and relative imports."""
    pkg = tmp_path / "fpn"
    (pkg / "viz").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from .b import g\n")
    (pkg / "b.py").write_text("from . import a\n")
    (pkg / "viz" / "__init__.py").write_text("")
    (pkg / "viz" / "x.py").write_text("from ..training import loop\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    files = sorted(pkg.rglob("*.py"))
    known = {module_name(p) for p in files} | {"fpn.training", "fpn.training.loop"}
    graph = {module_name(p): {m for m in imports_of(p, known) if m in known} for p in files}
    assert "fpn.b" in graph["fpn.a"] and "fpn.a" in graph["fpn.b"]
    assert "fpn.training.loop" in graph["fpn.viz.x"] and layer_of("fpn.training.loop") not in LAYERS["fpn.viz"]
