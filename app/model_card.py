"""What each model knows, said on the page: its card (training data, classes, AP, whether training had levelled off,
CPU / GPU, input size, score threshold), a notice when a model trained on synthetic shapes meets a photo, and a hint
when nothing is detected.

Everything comes from a `ModelEntry`'s metadata (the checkpoint's JSON; torchvision's published numbers for COCO),
never from the model itself. Gradio-free: app/ui.py shows the card, Explorer.detect the notice and the hint.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

#: The score threshold when a checkpoint stores no F1-best one (`scripts/evaluate.py --write-metadata` writes it).
DEFAULT_SCORE = 0.5
#: The synthetic dataset of the bundled models: a model trained on it knows only its ten shapes.
SHAPES = "PyramidShapes"
#: Registry kinds whose weights were trained on COCO by their publishers (their numbers are published ones).
PUBLISHED = {"torchvision": "torchvision", "detectron2": "Detectron2's model zoo (FAIR)"}


def trained_on(entry: Any) -> str:
    """The training data's name: "PyramidShapes", "COCO train2017", or "unknown data"."""
    if entry.kind in PUBLISHED:
        return "COCO train2017"
    return str((entry.metadata.get("training") or {}).get("dataset") or "unknown data")


def knows_shapes_only(entry: Any) -> bool:
    """Whether the model was trained on PyramidShapes only (its answers on photos mean nothing)."""
    return entry.kind not in PUBLISHED and trained_on(entry) == SHAPES


def classes(entry: Any) -> list[str]:
    """Its class names, background left out (none for an RPN alone: its proposals have no class)."""
    if entry.config.get("rpn_only"):
        return []
    names = list(entry.config.get("class_names") or [])
    return [n for n in names if n and n != "__background__" and n != "N/A"]


def score_threshold(entry: Any) -> float:
    """The score slider's default for this model: the F1-best threshold of its metadata, else DEFAULT_SCORE."""
    stored = (entry.metadata.get("metrics") or {}).get("score_threshold") or {}
    value = stored.get("value") if isinstance(stored, dict) else None
    return round(float(value), 2) if isinstance(value, (int, float)) else DEFAULT_SCORE


def _training_line(entry: Any) -> str:
    if entry.kind in PUBLISHED:
        return ("Trained on **COCO train2017** (118k photos, 80 kinds of everyday objects) on **GPUs** by "
                f"{PUBLISHED[entry.kind]}.")
    t = entry.metadata.get("training") or {}
    bundle = entry.metadata.get("bundle") or {}
    device = str(bundle.get("trained_on") or t.get("device") or "an unknown device").upper()
    parts = [f"Trained on **{trained_on(entry)}**" + (f" ({t['train_images']} images)" if t.get("train_images")
                                                       else ""), f"on **{device}**"]
    if t.get("iters"):
        parts.append(f"{t['iters']} iterations")
    if t.get("train_seconds"):
        parts.append(f"{float(t['train_seconds']) / 60:.0f} min")
    return ", ".join(parts) + "."


def _ap_line(entry: Any) -> str:
    m = entry.metadata.get("metrics") or {}
    ap = (m.get("bbox") or {}).get("AP")
    ar = (m.get("proposals") or {}).get("AR@1000")
    on = f" on {m['num_images']} {m.get('split', 'held-out')} images" if m.get("num_images") else ""
    if entry.kind in PUBLISHED and ap is None and ar is not None:  # an RPN alone: Table 1's number
        return f"Proposal AR@1000 **{float(ar):.1f}** on COCO val2017 (published by {PUBLISHED[entry.kind]})."
    if entry.config.get("rpn_only") and ar is not None:
        return f"Proposal AR@1000 **{float(ar):.1f}** (measured{on} of {trained_on(entry)})."
    if ap is None:
        return "No evaluation stored (`scripts/evaluate.py --write-metadata` adds it)."
    if entry.kind in PUBLISHED:
        return f"Box AP **{float(ap):.1f}** on COCO val2017 (published by {PUBLISHED[entry.kind]})."
    extra = f", AP50 {m['bbox']['AP50']:.1f}" if (m.get("bbox") or {}).get("AP50") is not None else ""
    return f"Box AP **{float(ap):.1f}**{extra} (measured{on} of {trained_on(entry)})."


def _score_line(entry: Any) -> str:
    stored = (entry.metadata.get("metrics") or {}).get("score_threshold")
    if isinstance(stored, dict) and isinstance(stored.get("value"), (int, float)):
        parts = [f"{k} {float(stored[k]):.2f}" for k in ("f1", "precision", "recall")
                 if isinstance(stored.get(k), (int, float))]
        return (f"Score threshold **{score_threshold(entry):.2f}**: the F1-best on its evaluation"
                + (f" ({', '.join(parts)})" if parts else "") + "; the slider starts there.")
    return f"Score threshold {DEFAULT_SCORE:.2f} (the default: no F1-best threshold stored)."


def _plateau_line(entry: Any) -> Optional[str]:
    """Whether training had levelled off: the held-out metric at 50 / 75 / 100 % of its schedule (the JSON's
    "plateau", `fpn.training.plateau`), or that it was never measured (None for published COCO models)."""
    if entry.kind in PUBLISHED:
        return None
    p = entry.metadata.get("plateau")
    if not isinstance(p, dict) or not all(isinstance(p.get(k), (int, float)) for k in ("0.5", "0.75", "1.0")):
        return "Whether its training had levelled off was not measured (no plateau evidence stored)."
    rise = float(p["1.0"]) - float(p["0.75"])
    curve = f"held-out {p.get('metric', 'AP')} {p['0.5']:.1f} / {p['0.75']:.1f} / {p['1.0']:.1f} at 50 / 75 / 100 %"
    if p.get("done", rise <= 1.0):
        return f"Trained to its plateau: {curve} of its schedule ({rise:+.1f} over the last quarter)."
    return (f"**Still learning when training stopped**: {curve} of its schedule ({rise:+.1f} over the last quarter); "
            "a longer schedule would make it better.")


def card(entry: Any) -> str:
    """The model card (Markdown), shown beside the model picker."""
    c = entry.config
    names = classes(entry)
    shown = ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12 else "")
    size = f"shorter side {c['min_size']} px" if c.get("min_size") else "size unknown"
    if c.get("max_size"):
        size += f", longer side at most {c['max_size']} px"
    lines = [f"**{entry.name}**: {c.get('variant', '?')}, {c.get('backbone', '?')}.",
             _training_line(entry),
             f"Knows {len(names)} classes: {shown}." if names else
             ("An RPN alone (Table 1): class-agnostic proposals, no classes." if c.get("rpn_only")
              else "Its class names are not stored."),
             _ap_line(entry), _plateau_line(entry), f"Input: resized to {size}.", _score_line(entry)]
    if knows_shapes_only(entry):
        lines.append("*It has only seen synthetic shapes: on a photo its answers mean nothing.*")
    return "\n\n".join(line for line in lines if line)


def coco_detectors(registry: Any, first: str) -> list[str]:
    """The COCO detectors a model registry offers the picker: `first` (torchvision's) first, then Detectron2's zoo
    (detectors only, not the RPN-only models)."""
    coco = [n for n in registry.names("detection", downloadable=True)
            if registry.entry(n).kind in ("torchvision", "detectron2") and not registry.entry(n).config.get("rpn_only")]
    return sorted(coco, key=lambda n: n != first) or [first]


def coco_choice(coco_names: Sequence[str]) -> str:
    """The COCO models to pick, in Markdown: the first (torchvision's), then two of the Detectron2 zoo's detectors
    and how many more the picker lists (a short note: the whole list is in the picker)."""
    first, zoo = f"**{coco_names[0]}**", [f"**{n}**" for n in coco_names[1:]]
    more = f", and {len(zoo) - 2} more in the picker" if len(zoo) > 2 else ""
    return first + (f" or one of Detectron2's zoo ({', '.join(zoo[:2])}{more})" if zoo else "")


def photo_notice(entry: Any, is_dataset_image: bool, coco_names: Sequence[str]) -> Optional[str]:
    """A warning when a shapes-only model meets an image that is not one of its dataset's (None otherwise).
    coco_names: the COCO detectors the picker offers (torchvision's first, then Detectron2's zoo)."""
    if not knows_shapes_only(entry) or is_dataset_image:
        return None
    return (f"**{entry.name} knows only {SHAPES}' {len(classes(entry))} synthetic shapes** "
            f"({', '.join(classes(entry))}). If this is a photo, its boxes and scores mean nothing (a 'ring 0.97' on "
            f"a face is a guess among shapes). For real objects pick a COCO model in the model picker: "
            f"{coco_choice(coco_names)}.")


def zero_hint(entry: Any, threshold: float, scores: Sequence[float], labels: Sequence[str],
              coco_names: Sequence[str]) -> Optional[str]:
    """Why nothing shows when no detection reaches the threshold, and what to try (None when something shows)."""
    if any(float(s) >= threshold for s in scores):
        return None
    if len(scores):
        best = max(range(len(scores)), key=lambda i: float(scores[i]))
        first = (f"No detection scores {threshold:.2f} or more; the best is **{labels[best]} "
                 f"{float(scores[best]):.2f}**: lower the score threshold to see it.")
    else:
        first = "The model found nothing at all in this image."
    knows = ", ".join(classes(entry)[:10]) + (", ..." if len(classes(entry)) > 10 else "")
    second = (f" Or the image holds objects this model does not know (it knows {knows})"
              + (f": for photos pick {coco_choice(coco_names)}." if knows_shapes_only(entry) else "."))
    return first + second


def flat_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """Evaluation numbers flat, for Compare's table ({"bbox": {"AP": ..}} -> {"bbox AP": ..}); "errors"
    (fpn.evaluation.error_types, 27 counts by size and kind) as one share: "boxes shown correct %" at its threshold."""
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix} {k}".strip(), v)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[prefix] = round(float(value), 4)

    metrics = dict(metrics)
    errors = metrics.pop("errors", None)
    walk("", metrics)
    if isinstance(errors, dict) and isinstance(errors.get("detections"), dict):
        counts = [kinds for kinds in errors["detections"].values() if isinstance(kinds, dict)]
        shown = sum(sum(kinds.values()) for kinds in counts)
        if shown:
            out["boxes shown correct %"] = round(100.0 * sum(k.get("correct", 0) for k in counts) / shown, 1)
    return out
