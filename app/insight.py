"""Two views that test the paper's central claim on a live image, Gradio-free: `InsightViews`, mixed into
app.views.Explorer (app/tabs/scale_sweep.py and app/tabs/receptive_field.py bind its methods to widgets; the same
methods are the API endpoints):

    scale_sweep       an object's scale change is offset by shifting its level in the pyramid (Sec. 3, 4.1, Eq. 1)
    receptive_field   what one cell of C2..C5 / P2..P6 sees: theoretical and effective receptive field, and anchors

Both return a `ViewResult` (pictures, the numbers behind them, the Python that redraws them with the library's public
API) and raise AppError with a message meant for the user; app.guard turns it into a toast.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Optional, Sequence

import torch

import fpn
import fpn.viz as V

from . import snippets as S
from .choices import ObjectSource
from .errors import AppError
from .export import ViewResult

Progress = Optional[Callable[[float, str], None]]

#: At most this many models beside the selected one in the sweep chart.
MAX_SWEEP_COMPARE = V.MAX_SWEEP_MODELS - 1


def _objects(a: Any, source: ObjectSource, score_thresh: float
             ) -> tuple[torch.Tensor, list[str], ObjectSource, str]:
    """(boxes [N, 4] original-image px, names, the source used, a note) of the image's objects, best first for
    detections; ground truth falls back to the detections on an image without any."""
    note = ""
    if source is ObjectSource.GROUND_TRUTH:
        if a.gt is not None and len(a.gt["boxes"]):
            boxes = torch.as_tensor(a.gt["boxes"], dtype=torch.float32).reshape(-1, 4)
            names = [f"GT {V.label_name(int(l), a.class_names)}" for l in a.gt["labels"]]
            return boxes, names, source, note
        note = "This image has no ground truth (only the bundled dataset's images do): its detections are used. "
    det = a.exploration.detections
    keep = torch.nonzero(det["scores"] >= score_thresh).flatten()
    keep = keep[torch.argsort(det["scores"][keep], descending=True)]
    names = [f"{V.label_name(int(det['labels'][i]), a.class_names)} {float(det['scores'][i]):.2f}" for i in keep]
    return det["boxes"][keep].reshape(-1, 4).float(), names, ObjectSource.DETECTIONS, note


def _pick(boxes: torch.Tensor, index: int, x: Optional[float], y: Optional[float]) -> int:
    """The object under (x, y) (the smallest box containing it) when given, else `index`; clamped to the list."""
    if x is not None and y is not None and x >= 0 and y >= 0:
        inside = (boxes[:, 0] <= x) & (x <= boxes[:, 2]) & (boxes[:, 1] <= y) & (y <= boxes[:, 3])
        if inside.any():
            area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            return int(torch.where(inside, area, torch.full_like(area, float("inf"))).argmin())
    return int(min(max(int(index or 0), 0), len(boxes) - 1))


def _summary(name: str, sweep: Any) -> str:
    """One line: the levels the object's positive anchors visit over the sweep."""
    rows = [r for r in sweep.rows if r.anchor_level is not None]
    if not rows:
        return f"- **{name}** ({sweep.variant}): no positive anchor at any scale."
    octaves = math.log2(rows[-1].scale / rows[0].scale)
    maps = sorted(set(sweep.rpn_maps))
    if len(maps) == 1:
        sizes = " -> ".join(str(s) for s in dict.fromkeys(r.anchor_size for r in rows))
        return (f"- **{name}** ({sweep.variant}): every scale on its one map {maps[0].upper()}; only the anchor size "
                f"follows the object ({sizes} px).")
    first, last = rows[0].anchor_level, rows[-1].anchor_level
    return (f"- **{name}** ({sweep.variant}): positive anchors from P{first} to P{last} over {octaves:.1f} octaves "
            f"({(last - first) / octaves if octaves else 0:.2f} level per octave; the anchor rule gives 1).")


def _row_json(r: Any, class_names: Optional[list[str]]) -> dict:
    return {"scale": round(r.scale, 4), "input_size": list(r.input_size), "object_px": round(r.object_size, 1),
            "positives": r.positives, "anchor_level": r.anchor_level, "anchor_size": r.anchor_size,
            "anchor_iou": round(r.anchor_iou, 3), "proposal_level": r.proposal_level, "proposal_map": r.proposal_map,
            "proposal_iou": round(r.proposal_iou, 3), "detection_score": round(r.detection_score, 4),
            "detection_iou": round(r.detection_iou, 3),
            "detection_class": V.label_name(r.detection_label, class_names) if r.detection_label >= 0 else None}


class InsightViews:
    """The scale-sweep and receptive-field views (endpoints scale_sweep, receptive_field); mixed into
    app.views.Explorer (they use its analysis, registry and model checks)."""

    def _sweep_models(self, selected: str, compare: Optional[Sequence[str]]) -> list[str]:
        """The other detection models to sweep beside `selected` (at most MAX_SWEEP_COMPARE, each named once)."""
        names = [m for m in dict.fromkeys(compare or []) if m and m != selected]
        if len(names) > MAX_SWEEP_COMPARE:
            raise AppError(f"Compare with at most {MAX_SWEEP_COMPARE} models (got {len(names)}).")
        for name in names:
            entry = self.registry.entry(name)
            if entry.task != "detection":
                raise AppError(f"{name} is a {entry.task} model; the scale sweep compares detection models.")
        return names

    def _sweep_code(self, path: str, a: Any, names: Sequence[str], boxes: torch.Tensor, labels: list[str],
                    chosen: int) -> str:
        """The Python that redraws the view: the models, the image, the objects, one sweep per model, the pictures."""
        entries = [self.registry.entry(n) for n in names]
        lines = [S.IMPORTS, f"model = {S.load_model(entries[0].kind, entries[0].path, entries[0].options)}",
                 S.load_image(path, S.working_size(a.image)),
                 f"boxes = {[[float(v) for v in b] for b in boxes.tolist()]}  # original-image px",
                 f"names = {labels!r}",
                 f"sweeps = [fpn.scale_sweep(model, image, boxes[{chosen}])]  # {len(fpn.DEFAULT_SCALES)} scales, "
                 "0.25x to 2x of the model's input"]
        for e in entries[1:]:
            lines.append(f"sweeps.append(fpn.scale_sweep({S.load_model(e.kind, e.path, e.options)}, image, boxes[{chosen}], "
                         "base_size=sweeps[0].base_size))")
        labels_arg = [f"{n} ({self.registry.entry(n).config.get('variant', '?')})" for n in names]
        lines += [f"objects = V.sweep_objects_view(image, boxes, names, {chosen})",
                  f"chart = V.sweep_chart(sweeps, {labels_arg!r})", "strip = V.sweep_strip(sweeps[0])"]
        return S.join(*lines, S.save(["objects", "chart", "strip"]))

    def scale_sweep(self, path: Optional[str], model: Optional[str], source: str = ObjectSource.GROUND_TRUTH.value,
                    index: int = 0, x: Optional[float] = -1, y: Optional[float] = -1,
                    compare: Optional[Sequence[str]] = None, score_thresh: float = 0.5,
                    progress: Progress = None) -> ViewResult:
        """One object (ground truth or a detection: `index` into the list, or the one under (x, y), original-image px) rescaled
        from 0.25x to 2x of the model's input in half-octave steps, on the selected model and up to
        MAX_SWEEP_COMPARE others (over the same pixels). Images: "objects" (click one), "chart" (the staircase),
        "strip" (the selected model's crops). data: {"model", "base_size" [h, w], "seconds", "object" {"index",
        "source", "name", "box"}, "models" {name: {"variant", "rows": [one per scale]}}}."""
        a = self.analysis(path, model, progress)
        names = [a.model_name] + self._sweep_models(a.model_name, compare)
        pick = ObjectSource.parse(source, "object source")
        boxes, labels, used, note = _objects(a, pick, float(score_thresh))
        if len(boxes) == 0:
            msg = (f"No detection with score >= {score_thresh:.2f} to follow: lower the score threshold (an untrained "
                   "model scores low), or use an image with ground truth.")
            pic = V.note_image(msg, 520, 60)
            return ViewResult("scale_sweep", {"objects": pic, "chart": pic, "strip": pic},
                              {"model": a.model_name, "object": None, "models": {}}, text=note + msg)
        chosen = _pick(boxes, index, x, y)
        box = boxes[chosen]
        image = a.image.array
        sweeps, start = [], time.perf_counter()
        for i, name in enumerate(names):
            sub = (lambda f, d, i=i, n=name: progress((i + f) / len(names), f"{n}: {d}")) if progress else None
            base = sweeps[0].base_size if sweeps else None
            try:  # each model's sweep of this object is kept with the analysis: adding a model runs only that one
                sweeps.append(self.analyzer.derived(
                    a, ("sweep", name, box.numpy().tobytes(), base),
                    lambda name=name, base=base, sub=sub: fpn.scale_sweep(self.registry.get(name), image, box,
                                                                          base_size=base, progress=sub)))
            except (ValueError, RuntimeError) as e:
                raise AppError(f"{name} could not run the scale sweep: {e}") from e
        seconds = time.perf_counter() - start
        w, h = float(box[2] - box[0]), float(box[3] - box[1])
        md = (f"{note}**Object #{chosen}** ({labels[chosen]}, {used.value}): {w:.0f}x{h:.0f} px in the image, "
              f"{math.sqrt(w * h) * sweeps[0].base_size[0] / image.shape[0]:.0f} px at scale 1 (input "
              f"{sweeps[0].base_size[1]}x{sweeps[0].base_size[0]}). {len(sweeps[0].rows)} scales, "
              f"{seconds:.1f} s. Click another object to sweep it.\n\n"
              + "\n".join(_summary(n, s) for n, s in zip(names, sweeps)))
        data = {"model": a.model_name, "base_size": list(sweeps[0].base_size), "seconds": round(seconds, 3),
                "object": {"index": chosen, "source": used.value, "name": labels[chosen],
                           "box": [round(float(v), 1) for v in box]},
                "models": {n: {"variant": s.variant, "rows": [_row_json(r, a.class_names) for r in s.rows]}
                           for n, s in zip(names, sweeps)}}
        images = {"objects": V.sweep_objects_view(image, boxes, labels, chosen),
                  "chart": V.sweep_chart(sweeps, [f"{n} ({s.variant})" for n, s in zip(names, sweeps)]),
                  "strip": V.sweep_strip(sweeps[0])}
        return ViewResult("scale_sweep", images, data, self._sweep_code(path, a, names, boxes, labels, chosen), md)

    def receptive_field(self, path: Optional[str], model: Optional[str], level: str = "p4",
                        x: Optional[float] = -1, y: Optional[float] = -1, heat: str = "linear",
                        progress: Progress = None) -> ViewResult:
        """The theoretical and effective receptive field of the cell of `level` nearest to (x, y) (px of the resized
        input, as shown; -1: the centre), with that level's anchors (a level the model lacks: its C_k, else its coarsest
        map, and a note). Images: "receptive_field" (click a cell), "erf_mass".
        data: {"model", "level", "cell" [row, col], "grid_size", "stride", "centre" [x, y], "theoretical_box",
        "theoretical_size", "nominal_size", "effective_size", "effective_mass", "anchor_sizes", "seconds"}."""
        if heat not in V.HEAT_SCALES:
            raise AppError(f"Unknown heat-map scale {heat!r}; choose one of {', '.join(V.HEAT_SCALES)}.")
        a = self.analysis(path, model, progress)
        net = self.registry.get(a.model_name)
        levels = fpn.receptive_field_levels(net)
        level, note = str(level).lower(), ""
        if level not in fpn.RF_LEVELS:
            raise AppError(f"Unknown level {level!r}; choose one of {', '.join(fpn.RF_LEVELS)}.")
        if level not in levels:  # e.g. P4 on a single-map baseline: its C4 if it has one, else its coarsest map
            shown = f"c{level[1:]}" if f"c{level[1:]}" in levels else levels[-1]
            note = (f"{level.upper()} is not a map of {a.model_name} ({a.exploration.variant}; its maps: "
                    f"{', '.join(n.upper() for n in levels)}): showing {shown.upper()}.\n\n")
            level = shown
        point = None if x is None or y is None or x < 0 or y < 0 else (float(x), float(y))
        if progress:
            progress(0.5, f"gradient of one {level.upper()} cell")
        start = time.perf_counter()
        try:
            rf = fpn.receptive_field(net, a.image.array, level, point=point)
        except (ValueError, RuntimeError) as e:
            raise AppError(f"{a.model_name} could not compute the receptive field: {e}") from e
        seconds = time.perf_counter() - start
        md = note + "\n\n".join(V.describe_receptive_field(rf)) + (
            f"\n\nClick the image to pick another cell ({seconds:.2f} s). The theoretical field is every pixel the cell "
            "can see; the effective one is how strongly each pixel moves it (the input gradient), usually far smaller.")
        data = {"model": a.model_name, "level": rf.level, "cell": list(rf.cell), "grid_size": list(rf.grid_size),
                "stride": rf.stride, "centre": list(rf.centre), "theoretical_box": list(rf.theoretical_box),
                "theoretical_size": list(rf.theoretical_size), "nominal_size": list(rf.nominal_size),
                "effective_size": rf.effective_size, "effective_mass": rf.effective_mass,
                "anchor_sizes": sorted({s for s, _ in rf.anchor_shapes}), "seconds": round(seconds, 3)}
        entry = self.registry.entry(a.model_name)
        point_arg = "" if point is None else f", point=({point[0]!r}, {point[1]!r})"
        code = S.join(S.IMPORTS, f"model = {S.load_model(entry.kind, entry.path, entry.options)}",
                      S.load_image(path, S.working_size(a.image)),
                      f"rf = fpn.receptive_field(model, image, {level!r}{point_arg})  # one forward, one backward pass",
                      f"receptive_field = V.receptive_field_view(rf, {heat!r})", "erf_mass = V.erf_mass_chart(rf)",
                      S.save(["receptive_field", "erf_mass"]))
        images = {"receptive_field": V.receptive_field_view(rf, heat), "erf_mass": V.erf_mass_chart(rf)}
        return ViewResult("receptive_field", images, data, code, md)
