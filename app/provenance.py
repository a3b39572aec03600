"""Why this box (provenance), Gradio-free: `WhyViews`, mixed into app.views.Explorer (app/tabs/why.py binds its
methods to widgets; the same methods are the API endpoints why_box, lost_gt):

    why   click a detection: its anchor (level, size, aspect ratio, cell), the proposal the RPN regressed it to and its
          rank after NMS, Eq. (1) filled in and the pooled features, the top-5 class scores, the final box after Fast
          R-CNN's regression (fpn.why)
    lost  a ground-truth box no detection covers: the stage that lost it (fpn.lost_where)

Each returns a `ViewResult`; boxes are in the resized input's pixels (the image shown) unless a key says "original".
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import torch

import fpn
import fpn.viz as V

from . import snippets as S
from .export import ViewResult
from .readouts import KIND_WORDS, box_kinds

Progress = Optional[Callable[[float, str], None]]


def _box(b: Any) -> list[float]:
    return [round(float(v), 1) for v in b]


def _shown(ex: Any, score_thresh: float) -> tuple[torch.Tensor, str]:
    """Indices of the detections on offer (score >= score_thresh; all of them when none passes), and a note."""
    det = ex.detections
    keep = torch.nonzero(det["scores"] >= float(score_thresh)).flatten()
    if len(keep) or not len(det["scores"]):
        return keep, ""
    return torch.arange(len(det["scores"])), (f"No detection scores >= {score_thresh:.2f}: every detection is on "
                                              "offer (lower the threshold to see them in the other views).")


def pick_detection(boxes: torch.Tensor, x: Optional[float], y: Optional[float]) -> int:
    """Row of `boxes` [N, 4] under (x, y): the smallest box containing it, else the one whose centre is nearest;
    0 (the best) when x or y is missing or negative."""
    if x is None or y is None or x < 0 or y < 0 or len(boxes) == 0:
        return 0
    inside = (boxes[:, 0] <= x) & (x <= boxes[:, 2]) & (boxes[:, 1] <= y) & (y <= boxes[:, 3])
    if bool(inside.any()):
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        return int(torch.where(inside, area, torch.full_like(area, float("inf"))).argmin())
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    return int(((centres - torch.tensor([float(x), float(y)])) ** 2).sum(dim=1).argmin())


def why_data(model: str, prov: Any, formula: str) -> dict[str, Any]:
    """The chain in numbers (JSON): anchor, proposal, Eq. (1), class scores, final box."""
    a = prov.anchor
    return {"model": model, "detection": prov.detection, "class": prov.class_name, "label": prov.label,
            "score": round(prov.score, 4),
            "anchor": {"level": a.level, "size": a.size, "aspect_ratio": a.ratio, "cell": list(a.cell),
                       "index": a.index, "box": _box(a.box), "objectness": round(a.objectness, 4),
                       "deltas": [round(float(v), 4) for v in a.deltas]},
            "proposal": {"rank": prov.rank, "of": prov.num_proposals, "rank_in_level": prov.rank_in_level,
                         "rpn_level": prov.rpn_level, "box": _box(prov.proposal_box),
                         "objectness": round(prov.proposal_score, 4)},
            "eq1": {"level": prov.roi_level, "map": prov.roi_map, "formula": formula},
            "top_classes": [{"label": c, "class": n, "probability": round(p, 4)} for c, n, p in prov.top_classes],
            "final_box": _box(prov.box), "final_box_original": _box(prov.box_original),
            "class_deltas": [round(float(v), 4) for v in prov.class_deltas]}


def why_markdown(prov: Any, formula: str, note: str = "") -> str:
    a = prov.anchor
    top = ", ".join(f"{n} {p:.3f}" for _, n, p in prov.top_classes)
    lines = [f"**Detection #{prov.detection}: {prov.class_name} {prov.score:.2f}** (click another box to switch)",
             f"1. **Anchor** on {a.level.upper()}: {a.size} px, aspect ratio {a.ratio:g} (h/w), cell (row {a.cell[0]}, "
             f"column {a.cell[1]}), box {_box(a.box)}; objectness **{a.objectness:.3f}**, deltas "
             f"{[round(float(v), 3) for v in a.deltas]}.",
             f"2. **Proposal** after RPN regression: {_box(prov.proposal_box)}, rank **{prov.rank}** of "
             f"{prov.num_proposals} after NMS ({prov.rank_in_level} among {prov.rpn_level.upper()}'s).",
             f"3. **Eq. (1)**: `{formula}`: pooled from {prov.roi_map.upper()} ({prov.pooled.shape[-1]}x"
             f"{prov.pooled.shape[-1]} features below).",
             f"4. **Class scores** (top 5): {top}.",
             f"5. **Final box** after Fast R-CNN's {prov.class_name} regression: {_box(prov.box)} (resized input), "
             f"{_box(prov.box_original)} in the original image."]
    return "\n".join(lines + ([f"\n*{note}*"] if note else []))


class WhyViews:
    """Why this box: the views why (endpoint why_box) and lost (endpoint lost_gt); mixed into app.views.Explorer
    (they use its analysis, setup_code and gt_labels)."""

    def why(self, path: Optional[str], model: Optional[str], x: float = -1, y: float = -1,
            score_thresh: float = 0.5, progress: Progress = None) -> ViewResult:
        """The detection under (x, y) (resized-input px; -1: the best one) traced back to its anchor."""
        a = self.analysis(path, model, progress)
        ex = a.exploration
        shown, note = _shown(ex, score_thresh)
        if not len(shown):
            msg = f"{a.model_name} made no detection on this image, so there is no box to explain."
            return ViewResult("why", {"why": V.note_image(msg, 520, 60)}, {"note": msg}, "", msg)
        det = ex.detections
        boxes = ex.detection_boxes_resized[shown]
        d = int(shown[pick_detection(boxes, x, y)])
        prov = fpn.why(ex, d)
        images = {"why": V.provenance_view(ex.image, prov, boxes, det["labels"][shown].tolist()),
                  "anchor_map": V.anchor_cell_view(ex.rpn[prov.anchor.level], prov.anchor),
                  "pooled": V.pooled_view(prov.pooled),
                  "class_scores": V.class_scores_chart(prov.top_classes, chosen=prov.label)}
        w, h = (prov.proposal_box[2:] - prov.proposal_box[:2]).tolist()
        formula = V.eq1_text(w, h, *ex.roi_level_range)
        code = S.join(self.setup_code(a, path),
                      f"det = ex.detections\nshown = torch.nonzero(det['scores'] >= {float(score_thresh)!r}).flatten()\n"
                      f"shown = shown if len(shown) else torch.arange(len(det['scores']))\n"
                      f"prov = fpn.why(ex, {d})  # detection #{d} -> proposal -> anchor, as the model recorded them\n"
                      "why = V.provenance_view(ex.image, prov, ex.detection_boxes_resized[shown], "
                      "det['labels'][shown].tolist())\n"
                      "anchor_map = V.anchor_cell_view(ex.rpn[prov.anchor.level], prov.anchor)\n"
                      "pooled = V.pooled_view(prov.pooled)\n"
                      "class_scores = V.class_scores_chart(prov.top_classes, chosen=prov.label)\n"
                      "w, h = (prov.proposal_box[2:] - prov.proposal_box[:2]).tolist()\n"
                      "print(V.eq1_text(w, h, *ex.roi_level_range))\n",
                      S.save(list(images)))
        data, text = why_data(a.model_name, prov, formula), why_markdown(prov, formula, note)
        labels = self.gt_labels(path, a) if a.gt is not None else None
        kinds = box_kinds(det, shown, a.gt["boxes"], labels) if labels is not None else None
        if kinds:  # a dataset image, the model's classes: what this box is against its ground truth
            data["kind"] = kinds[shown.tolist().index(d)]
            text += f"\n\nAgainst this image's ground truth, this box **{KIND_WORDS[data['kind']][0]}**."
        return ViewResult("why", images, data, code, text)

    def lost(self, path: Optional[str], model: Optional[str], gt_index: int = -1, score_thresh: float = 0.5,
             progress: Progress = None) -> ViewResult:
        """Every ground-truth box's fate (detected, or the stage that lost it); the selected one drawn (-1: the first
        lost one). Images without ground truth get a note, not an error."""
        a = self.analysis(path, model, progress)
        ex = a.exploration
        if a.gt is None or not len(a.gt["boxes"]):
            msg = ("This image has no ground truth: pick one of the dataset examples (their ground-truth boxes are "
                   "checked one by one).")
            return ViewResult("lost", {"lost": V.note_image(msg, 520, 60)}, {"note": msg}, "", msg)
        labels = self.gt_labels(path, a)
        fates = [fpn.lost_where(ex, box, None if labels is None else int(labels[i]), min_score=float(score_thresh))
                 for i, box in enumerate(a.gt["boxes"])]
        lost_ones = [i for i, f in enumerate(fates) if f.lost]
        i = int(gt_index) if gt_index is not None and int(gt_index) >= 0 else (lost_ones[0] if lost_ones else 0)
        i = min(i, len(fates) - 1)
        shown, _ = _shown(ex, score_thresh)
        others = ex.detection_boxes_resized[shown]
        label_arg = "None" if labels is None else f"int(targets['labels'][{i}])"
        code = S.join(self.setup_code(a, path),
                      f"shown = ex.detection_boxes_resized[ex.detections['scores'] >= {float(score_thresh)!r}]\n"
                      f"lost = fpn.lost_where(ex, targets['boxes'][{i}], {label_arg}, min_score={float(score_thresh)!r})\n"
                      "print(lost.stage, '-', lost.details)\n"
                      "lost_view = V.lost_view(ex.image, lost, shown)\n", S.save(["lost_view"]))
        if not len(ex.detections["scores"][ex.detections["scores"] >= float(score_thresh)]):
            code = ""  # the view offers every detection then; the snippet draws only those above the threshold
        rows = [f"| {j} | {_box(f.gt_original)} | {'' if labels is None else V.label_name(int(labels[j]), a.class_names)} "
                f"| {f.stage} |" for j, f in enumerate(fates)]
        md = (f"**Ground-truth box #{i}: {fates[i].stage}.** {fates[i].details}.\n\n"
              f"{len(lost_ones)} of {len(fates)} ground-truth boxes have no detection with IoU >= 0.5 and score >= "
              f"{score_thresh:.2f}" + ("" if labels is not None else " (of any class: the model's classes are not the "
                                       "dataset's)") + ".\n\n| # | box (original px) | class | stage |\n|---|---|---|---|\n"
              + "\n".join(rows))
        data = {"model": a.model_name, "selected": i, "score_thresh": float(score_thresh),
                "boxes": [{"index": j, "box_original": _box(f.gt_original), "stage": f.stage, "details": f.details}
                          for j, f in enumerate(fates)]}
        return ViewResult("lost", {"lost_view": V.lost_view(ex.image, fates[i], others)}, data, code, md)
