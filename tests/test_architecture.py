"""The rules of docs/architecture.md, checked on the source: no import cycle in `fpn` (package `__init__` files
included), layers that import only downwards, the third-party packages each layer may use, scripts without sys.path
tricks, no file over 300 lines. Each check is a function of a source tree, run on this repository and on planted
trees that break it (the checks must fail there). The app's use of the library is checked in test_app_api.py."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 300

# The library's layers, lowest first: a module may import its own layer and the layers before it.
LAYERS = ["fpn.images", "fpn.devices", "fpn.hub",  # leaves: no other fpn module
          "fpn.modeling", "fpn.weights", "fpn.explain", "fpn.data", "fpn.viz", "fpn.evaluation", "fpn.training",
          "fpn"]  # the package's __init__ and `fpn.mask_proposals` (public faces): anything
LEAVES = {"fpn.images", "fpn.devices", "fpn.hub"}
TOP = {"fpn", "fpn.mask_proposals"}
# Third-party packages per layer (the standard library is free everywhere); a layer also may use those of the
# layers below it. Lazy (function-level) imports count: they are what makes an optional dependency optional.
THIRD_PARTY = {
    "leaves": {"torch", "torchvision", "numpy", "PIL", "tqdm", "safetensors"},
    "fpn.modeling": {"pycocotools"},  # pycocotools: RLE masks of the Sec. 6 proposals
    "fpn.weights": set(),
    "fpn.explain": set(),
    "fpn.data": {"cv2", "skimage", "pycocotools"},
    "fpn.viz": {"matplotlib", "cv2"},
    "fpn.evaluation": {"pycocotools"},
    "fpn.training": {"yaml"},
    "fpn": set(),
}


def layer_of(module: str) -> str:
    if module in TOP:
        return "fpn"
    return next(layer for layer in LAYERS[:-1] if module == layer or module.startswith(layer + "."))


def rank(module: str) -> int:
    layer = layer_of(module)
    return 0 if layer in LEAVES else LAYERS.index(layer)


def allowed_third_party(module: str) -> set[str]:
    layers = ["leaves"] + [layer for layer in LAYERS[3:] if LAYERS.index(layer) <= rank(module)]
    return set().union(*(THIRD_PARTY[layer] for layer in layers))


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path, root: Path, known: set[str]) -> set[str]:
    """Every module `path` makes Python import, at any depth of the file (lazy imports count): the named modules,
    the submodules named by `from X import Y`, and every parent package of an imported module, whose `__init__`
    Python runs first (a cycle through an `__init__` is a cycle). The importing module's own parent packages are
    left out: they are initialised before it, by construction."""
    tree = ast.parse(path.read_text(), str(path))
    me = module_name(path, root)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    named: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            named.add(target)
            named.update(f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in known)
    mine = {".".join(me.split(".")[:i]) for i in range(1, len(me.split(".")))}
    out = set(named)
    for name in named:
        parts = name.split(".")
        out.update(p for p in (".".join(parts[:i]) for i in range(1, len(parts))) if p not in mine)
    return out


def import_graph(root: Path) -> dict[str, set[str]]:
    files = sorted((root / "fpn").rglob("*.py"))
    known = {module_name(p, root) for p in files}
    return {module_name(p, root): {m for m in imports_of(p, root, known) if m in known and m != module_name(p, root)}
            for p in files}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of the graph ([a, b, ..., a]), or []."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(module: str, stack: list[str]) -> list[str]:
        state[module] = 1
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep, stack + [dep])):
                return cycle
        state[module] = 2
        return []

    for module in sorted(graph):
        if module not in state and (cycle := visit(module, [module])):
            return cycle
    return []


def upward_imports(root: Path) -> list[str]:
    return [f"{module} imports {dep}" for module, deps in import_graph(root).items() for dep in sorted(deps)
            if rank(dep) > rank(module) or (layer_of(module) in LEAVES and layer_of(dep) != layer_of(module))]


def third_party_violations(root: Path) -> list[str]:
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    bad = []
    for path in sorted((root / "fpn").rglob("*.py")):
        module = module_name(path, root)
        for dep in sorted({m.split(".")[0] for m in imports_of(path, root, set())} - stdlib - {"fpn", ""}):
            if dep not in allowed_third_party(module):
                bad.append(f"{module} imports {dep} (layer {layer_of(module)})")
    return bad


# ------------------------------------------------------------------------------------------- this repository
def test_no_import_cycle_in_the_library():
    cycle = find_cycle(import_graph(ROOT))
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_layers_import_only_downwards():
    bad = upward_imports(ROOT)
    assert not bad, "\n".join(bad)


def test_each_layer_uses_only_its_third_party_packages():
    bad = third_party_violations(ROOT)
    assert not bad, "undeclared third-party imports (add them to THIRD_PARTY and docs/architecture.md):\n" + \
        "\n".join(bad)


def test_library_never_imports_the_app_or_gradio():
    bad = [f"{p.relative_to(ROOT)}: {m}" for p in sorted((ROOT / "fpn").rglob("*.py"))
           for m in imports_of(p, ROOT, set()) if m.split(".")[0] in ("app", "gradio", "gradio_client")]
    assert not bad, bad


def test_scripts_do_not_patch_sys_path():
    bad = []
    for p in sorted((ROOT / "scripts").rglob("*.py")) + [ROOT / "app.py"]:
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


# ------------------------------------------------------------------------------------------- planted violations
def plant(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def test_a_cycle_through_a_package_init_is_caught(tmp_path):
    """fpn.modeling's __init__ imports .build, build imports fpn.weights.checkpoint (so Python runs fpn.weights'
    __init__ first), and that __init__ imports from fpn.modeling.build while build is half-initialised: Python
    refuses it, and so must the check (no module names its partner directly: the edge is the implicit __init__)."""
    root = plant(tmp_path, {
        "fpn/__init__.py": "",
        "fpn/modeling/__init__.py": "from .build import build\n",
        "fpn/modeling/build.py": "from fpn.weights.checkpoint import save\n\ndef build():\n    pass\n",
        "fpn/weights/__init__.py": "from fpn.modeling.build import build\n",
        "fpn/weights/checkpoint.py": "def save():\n    pass\n",
    })
    refused = subprocess.run([sys.executable, "-c", "import fpn.modeling"], cwd=root, capture_output=True, text=True)
    assert refused.returncode != 0 and "partially initialized" in refused.stderr  # a real cycle
    cycle = find_cycle(import_graph(root))
    assert cycle and "fpn.weights" in cycle and "fpn.modeling.build" in cycle, cycle


def test_a_lazy_relative_cycle_is_caught(tmp_path):
    root = plant(tmp_path, {"fpn/__init__.py": "", "fpn/modeling/__init__.py": "",
                            "fpn/modeling/a.py": "def f():\n    from .b import g\n",
                            "fpn/modeling/b.py": "from . import a\n"})
    assert find_cycle(import_graph(root)) == ["fpn.modeling.a", "fpn.modeling.b", "fpn.modeling.a"]


def test_an_upward_import_is_caught(tmp_path):
    root = plant(tmp_path, {
        "fpn/__init__.py": "", "fpn/hub.py": "from .images import x\n", "fpn/images.py": "x = 1\n",
        "fpn/modeling/__init__.py": "", "fpn/modeling/anchors.py": "def f():\n    from ..training import loop\n",
        "fpn/training/__init__.py": "", "fpn/training/loop.py": "from ..modeling import anchors\n",
    })
    assert upward_imports(root) == ["fpn.hub imports fpn.images", "fpn.modeling.anchors imports fpn.training",
                                    "fpn.modeling.anchors imports fpn.training.loop"]


def test_an_undeclared_third_party_import_is_caught(tmp_path):
    root = plant(tmp_path, {"fpn/__init__.py": "", "fpn/modeling/__init__.py": "",
                            "fpn/modeling/pyramid.py": "import json\nimport torch\n\ndef f():\n    import matplotlib\n",
                            "fpn/viz/__init__.py": "import matplotlib.pyplot\n"})
    assert third_party_violations(root) == ["fpn.modeling.pyramid imports matplotlib (layer fpn.modeling)"]
