"""The inference paths as conversions of the model (fpn.modeling.fast.convert): exact / fp32 / bf16, what a
conversion keeps (state dict, training, module identity), that a view of the detector never changes the path its
user chose, and how far bf16 moves the bundled models' outputs."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import fpn
from cpu_features import needs_bf16_kernels
from fpn.devices import native_bf16
from fpn.explain.scale_sweep import at_input_size
from fpn.modeling.fast import Fused
from torchvision.ops import box_iou

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "checkpoints" / "fpn_resnet18_cpu"
MASKS = ROOT / "checkpoints" / "mask_proposals_dual_resnet18_cpu"


def _val_images(n: int) -> list[torch.Tensor]:
    return [torch.from_numpy(np.asarray(Image.open(p).convert("RGB")).copy()).permute(2, 0, 1).float() / 255
            for p in sorted((ROOT / "examples" / "pyramid_shapes" / "val").glob("0*.png"))[:n]]


def _tensors(model: torch.nn.Module) -> dict[str, int]:
    return {k: v.data_ptr() for k, v in model.state_dict().items()}


def test_a_view_never_undoes_exact(tiny_options):
    """The scale sweep's view (a FasterRCNN on the same submodules) used to flip the shared modules back to the fast
    path when it was built: a model its user set to exact() then ran fast there and everywhere after."""
    model = fpn.build_detector("fpn", "resnet18", num_classes=3, **tiny_options).eval().exact()
    view = at_input_size(model, (128, 160))
    assert model.is_exact and view.is_exact
    model.precision("fp32")
    assert at_input_size(model, (128, 160)).inference_precision == "fp32", "a view runs the path its model is on"


@needs_bf16_kernels
def test_conversion_keeps_the_state_dict_and_the_modules(tiny_options):
    model = fpn.build_detector("fpn", "resnet18", num_classes=3, **tiny_options).exact()
    plain = {name: m for name, m in model.named_modules()}
    before = _tensors(model)
    for mode in ("bf16", "fp32"):
        model.precision(mode)
        assert _tensors(model) == before, f"{mode}: same keys, the very same tensors"
        assert any(isinstance(m, Fused) for m in model.modules())
    model.eval()  # reaches the fused modules; revert hands the mode back to the plain ones
    model.exact()
    assert {name: m for name, m in model.named_modules()} == plain, "exact() puts back the very same modules"
    assert not any(m.training for m in model.modules())


@needs_bf16_kernels
def test_checkpoints_load_into_a_converted_model():
    model = fpn.load_checkpoint(str(BUNDLED)).precision("bf16")
    state = fpn.load_checkpoint(str(BUNDLED)).exact().state_dict()
    assert list(model.state_dict()) == list(state)
    model.load_state_dict(state)  # strict: same keys


@needs_bf16_kernels
def test_precision_round_trips_and_exact_wins(one_thread):
    model = fpn.load_checkpoint(str(BUNDLED)).eval()
    images = _val_images(2)
    with torch.inference_mode():
        exact = model.exact()(images)
        assert model.precision("bf16") is model and model.inference_precision == "bf16"
        assert model.precision("fp32").inference_precision == "fp32"
        auto = model.precision("auto").inference_precision
        assert auto == ("bf16" if native_bf16("cpu") else "fp32")
        again = model.precision("bf16").exact()(images)
    assert model.is_exact
    for a, b in zip(exact, again):
        assert all(torch.equal(a[k], b[k]) for k in a), "exact() after bf16 is the exact path, bit for bit"
    with pytest.raises(ValueError, match="precision must be one of"):
        model.precision("fp16")


def test_bf16_on_a_cpu_without_bf16_kernels_is_refused_clearly(tiny_options, monkeypatch):
    """An AVX2-only CPU has no oneDNN bf16 kernels: its fused bf16 convolutions fail deep inside oneDNN, so
    precision("bf16") says so at once, for detectors and the mask proposer alike; "auto" runs fp32 there."""
    import importlib

    convert = importlib.import_module("fpn.modeling.fast.convert")  # the module (the package exports its function)
    monkeypatch.setattr(convert, "cpu_has_bf16_kernels", lambda: False)
    monkeypatch.setattr(convert, "native_bf16", lambda device: False)
    model = fpn.build_detector("c4", "resnet18", num_classes=3, **tiny_options).eval()
    before = model.inference_precision
    with pytest.raises(ValueError, match=r"no oneDNN bf16 kernels .* use precision\('fp32'\)"):
        model.precision("bf16")
    assert model.inference_precision == before, "a refused conversion leaves the model as it was"
    assert model.precision("auto").inference_precision == "fp32"
    from fpn.mask_proposals import build_mask_proposer

    with pytest.raises(ValueError, match="no oneDNN bf16 kernels"):
        build_mask_proposer("resnet18").eval().precision("bf16")


@needs_bf16_kernels
def test_bf16_returns_fp32_everywhere(tiny_options):
    model = fpn.build_detector("c4", "resnet18", num_classes=3, **tiny_options).eval().precision("bf16")
    image = torch.rand(3, 150, 170, generator=torch.Generator().manual_seed(3))
    det = model.predict([image])[0]
    assert all(v.dtype in (torch.float32, torch.int64) for v in det.values()), {k: v.dtype for k, v in det.items()}
    ex = fpn.explore(model, image)
    maps = [*ex.bottom_up.values()] + ([*ex.pyramid.values()] if ex.pyramid else [])
    assert all(m.dtype == torch.float32 and m.is_contiguous() for m in maps), "traces are fp32, row-major"


@needs_bf16_kernels
def test_training_runs_the_plain_modules(tiny_options):
    """A converted model trains as the paper's modules: same losses, gradients reach the parameters."""
    image = torch.rand(3, 150, 170, generator=torch.Generator().manual_seed(5))
    target = [{"boxes": torch.tensor([[20.0, 30.0, 90.0, 120.0]]), "labels": torch.tensor([1])}]
    model = fpn.build_detector("fpn", "resnet18", num_classes=3, **tiny_options).train()
    losses = []
    for mode in ("exact", "bf16"):
        model.exact() if mode == "exact" else model.precision("bf16")
        torch.manual_seed(0)
        losses.append(model([image], target))
    assert {k: v.item() for k, v in losses[0].items()} == {k: v.item() for k, v in losses[1].items()}
    sum(losses[1].values()).backward()
    assert model.rpn.head.conv.weight.grad is not None and model.rpn.head.conv.weight.grad.abs().sum() > 0


def _kept(reference: dict, other: dict, iou: float = 0.9) -> tuple[int, int]:
    """(reference detections with a same-label partner at IoU >= iou in `other`, reference detections)."""
    if len(reference["boxes"]) == 0:
        return 0, 0
    if len(other["boxes"]) == 0:
        return 0, len(reference["boxes"])
    overlap = box_iou(reference["boxes"], other["boxes"])
    overlap[reference["labels"][:, None] != other["labels"][None, :]] = 0
    return int((overlap.max(dim=1).values >= iou).sum()), len(reference["boxes"])


@needs_bf16_kernels
@pytest.mark.slow
def test_bf16_detections_close_to_fp32_on_the_bundled_model():
    """The bundled R18 fpn on the 6 bundled held-out images: at least 90 % of the fp32 detections scoring >= 0.3 have a
    bf16 detection with the same label at IoU >= 0.9 (scripts/evaluate.py --precision measures AP on the split)."""
    model = fpn.load_checkpoint(str(BUNDLED)).eval()
    images = _val_images(6)
    with torch.inference_mode():
        fp32 = model.precision("fp32")(images)
        bf16 = model.precision("bf16")(images)
    kept = total = 0
    for a, b in zip(fp32, bf16):
        confident = {k: v[a["scores"] >= 0.3] for k, v in a.items()}
        k, t = _kept(confident, b)
        kept, total = kept + k, total + t
    assert total >= 50 and kept >= 0.9 * total, (kept, total)
    assert all(d["boxes"].dtype == torch.float32 and d["scores"].dtype == torch.float32 for d in bf16)


@needs_bf16_kernels
@pytest.mark.slow
def test_mask_proposer_precision():
    model = fpn.load_checkpoint(str(MASKS)).eval()
    before = _tensors(model)
    images = _val_images(2)
    with torch.inference_mode():
        plain = model(images)
        assert model.precision("bf16") is model
        bf16 = model(images)
        kinds_bf16 = {type(m).__name__ for m in model.modules() if isinstance(m, Fused)}
        fp32 = model.precision("fp32")(images)
    assert _tensors(model) == before
    assert kinds_bf16 == {"FusedBottomUp", "FusedConv2d", "FusedMaskMLP"}  # the window convs too
    assert {type(m).__name__ for m in model.modules() if isinstance(m, Fused)} == {"FusedBottomUp", "FusedConv2d"}
    for p, b, f in zip(plain, bf16, fp32):
        assert b["scores"].dtype == torch.float32 and b["mask_probs"].dtype == torch.float32
        torch.testing.assert_close(f["scores"][:20], p["scores"][:20], rtol=1e-3, atol=1e-3)
        top = p["boxes"][:10]
        assert (box_iou(top, b["boxes"]).max(dim=1).values >= 0.9).float().mean() >= 0.8
