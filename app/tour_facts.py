"""The numbers the guided tour prints, read from the loaded model's metadata (never the library's defaults: the bundled
models pool 7x7 into 512-d fcs with d = 128, the paper's FPN 7x7 into 1024-d with d = 256), and which of the paper's
variants are installed for Compare.

`facts(registry, name)` -> a dict of the fields the steps' texts name ({d}, {pool}, {head}, ...); Gradio-free.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any, Optional

import fpn

from .choices import MAX_COMPARE

#: What the paper used, printed beside the loaded model's numbers.
PAPER = {"d": 256, "fc": 1024}
#: How each variant differs from the full FPN, in a few words (Table 1 / Table 3's rows).
LACKS = {"fpn": "the full FPN", "bottom_up": "no top-down pathway, Table 1(d)",
         "no_lateral": "no lateral connections, Table 1(e)", "p2_only": "only P2, the finest level, Table 1(f)",
         "c4": "the single-map C4 baseline, no pyramid", "c5": "the single-map C5 baseline, no pyramid"}


def _sq(size: int) -> str:
    return f"{size}²"


def anchor_sentence(anchor_sizes: dict[str, Any], variant: str) -> str:
    """'each level has one anchor size: 32² on P2, ...' or, for a single map, where all the sizes sit."""
    sizes = {m: [int(s) for s in (v if isinstance(v, (list, tuple)) else [v])] for m, v in anchor_sizes.items()}
    if all(len(v) == 1 for v in sizes.values()) and len(sizes) > 1:
        return "each level has **one anchor size**: " + ", ".join(f"{_sq(v[0])} on {m.upper()}"
                                                                    for m, v in sizes.items())
    parts = "; ".join(f"{', '.join(_sq(s) for s in v)} on {m.upper()}" for m, v in sizes.items())
    return (f"the loaded model (variant {variant}) puts **several anchor sizes on one map**: {parts} (the full FPN "
            "puts one size on each of P2..P6)")


def ratios_text(ratios: Any) -> str:
    return ", ".join(f"{f.numerator}:{f.denominator}" for f in
                     (Fraction(float(r)).limit_denominator(16) for r in ratios))


def installed(registry: Any) -> dict[str, list[str]]:
    """The installed detection checkpoints, by variant (in fpn.VARIANTS' order)."""
    out: dict[str, list[str]] = {}
    for name in registry.names("detection"):
        entry = registry.entry(name)
        if entry.kind == "checkpoint":
            out.setdefault(str(entry.config.get("variant")), []).append(name)
    return {v: out[v] for v in [*fpn.VARIANTS, *sorted(set(out) - set(fpn.VARIANTS))] if v in out}


def variants_sentence(registry: Any, figure_shows: list[str]) -> str:
    """Which variants are installed, which are missing, what the step's figure and the Compare tab show."""
    have = installed(registry)
    listed = "; ".join(f"{', '.join(names)} ({v}: {LACKS.get(v, 'a variant')})" for v, names in have.items())
    missing = [v for v in fpn.VARIANTS if v not in have]
    text = f"Installed here: {listed}." if have else "No checkpoint of the paper's variants is installed."
    if missing:
        text += (f" Not installed: {', '.join(missing)} (train them with scripts/ablation.py; they appear in Compare "
                 "once they are in checkpoints/).")
    elif have:
        text += f" All {len(fpn.VARIANTS)} of the paper's variants are installed."
    if figure_shows:
        text += (f" The figure shows {', '.join(figure_shows)} (Table 3's rows) on this image; the **Compare** tab "
                 f"opens with the same models and lets you tick up to {MAX_COMPARE} of the installed ones.")
    return text


def facts(registry: Any, name: Optional[str]) -> dict[str, Any]:
    """The tour's fields for model `name` (None: the first detection model)."""
    names = registry.names("detection")
    name = name or (names[0] if names else None)
    entry = registry.entry(name) if name else None
    c = entry.config if entry is not None else {}
    variant = str(c.get("variant") or "fpn")
    spec = fpn.VARIANTS.get(variant, fpn.VARIANTS["fpn"])
    D = fpn.DEFAULTS
    pool = int(c.get("roi_output_size") or spec.roi_output_size or D["roi_output_size"])
    fc = int(c.get("representation_size") or D["representation_size"])
    d = int(c.get("pyramid_channels") or D["pyramid_channels"])
    if spec.box_head == "2fc":
        head = f"two fully connected layers of **{fc}** in the loaded model, {PAPER['fc']} in the paper"
    else:
        head = "the ResNet's conv5 stage, as in the paper's C4 baseline, in the loaded model"
    anchors = c.get("anchor_sizes") or {m: list(s) for m, s in spec.rpn_anchors.items()}
    levels = ", ".join(m.upper() for m in spec.roi_maps)
    pyramid = (f"The loaded model is **{variant}** ({LACKS.get(variant, 'a variant')})"
               + (": it has no top-down pathway, and its heads read the ResNet's maps." if spec.pyramid is None
                  else ".") if variant != "fpn" else "")
    d_text = (f"d = **{d}** channels in the loaded model; {PAPER['d']} in the paper" if spec.pyramid is not None
              else f"d = {PAPER['d']} channels in the paper")
    return {"model": name or "no model", "variant": variant, "d": d, "d_text": d_text, "pool": pool, "fc": fc,
            "head": head, "levels": levels, "anchors": anchor_sentence(anchors, variant),
            "ratios": ratios_text(c.get("aspect_ratios") or D["aspect_ratios"]),
            "fg": c.get("rpn_fg_iou_thresh", D["rpn_fg_iou_thresh"]),
            "bg": c.get("rpn_bg_iou_thresh", D["rpn_bg_iou_thresh"]), "variant_note": pyramid,
            "variants": variants_sentence(registry, registry.compare_defaults())}
