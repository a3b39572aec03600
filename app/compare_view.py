"""The Compare view (Tables 1-3): 2-6 detection models side by side on one image, with their checkpoints' evaluation
numbers, as a table and per pyramid level (proposal AR@1000 per RPN level, box AP per Eq. (1) level, AR_s/m/l,
AP_s/m/l as grouped bars), and on a dataset image each model's recall per level on it. Gradio-free: `CompareViews`,
mixed into app.views.Explorer: `compare` is the API endpoint compare; `level_metrics`, the per-level part alone (no
image needed), is the API endpoint level_metrics.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

import fpn
import fpn.viz as V

from . import snippets as S
from .choices import MAX_COMPARE, MIN_COMPARE
from .errors import AppError
from .export import ViewResult
from .layout import VIEW_PX
from .model_card import score_threshold
from .readouts import box_kinds, kinds_cell


def shown_side(shape: Sequence[int]) -> int:
    """The longer side (px) of a picture of shape (..., h, w) as a Compare column shows it (fitted to its width)."""
    return V.COLUMN_WIDTH * max(int(shape[-2]), int(shape[-1])) // max(int(shape[-1]), 1)

Progress = Optional[Callable[[float, str], None]]
#: The sections of a checkpoint's metrics that the per-level charts read.
CHART_SECTIONS = ("per_level", "bbox", "proposals")
NO_GT = "Recall per level on this image needs a dataset image with ground truth."
LEVELS_TEXT = ("Proposal AR@1000 per RPN level: the image's 1000 best proposals, only those from that level scored, "
               "against all ground truth. Box AP per Eq. (1) level: ground truth and detections restricted to the "
               "sizes Eq. (1) sends to that level (sqrt(wh) of the resized box: [112, 224) -> P3, [224, 448) -> P4, "
               "below -> P2, above -> P5), as AP_s/m/l restrict them to COCO's sizes.")


@dataclass(frozen=True)
class PerLevel:
    """The per-level part of a view: images {"level_metrics", "image_recall"} ([H, W, 3] uint8), data, Markdown,
    and the Python that draws the images once `image` (the app's working copy) is loaded; recall: whether the image
    had ground truth (then image_recall holds bars, else a note)."""

    images: dict[str, np.ndarray]
    data: dict[str, Any]
    text: str
    code: str
    recall: bool


class CompareViews:
    """The Compare view and its per-level part (endpoints compare, level_metrics); mixed into app.views.Explorer
    (they use its analysis, registry and gt_labels)."""

    def compare(self, path: Optional[str], models: Sequence[str], score_thresh: float = 0.5,
                top_proposals: int = 50, progress: Progress = None, own_thresholds: bool = False) -> ViewResult:
        """MIN_COMPARE to MAX_COMPARE (2-6) detection models side by side (detections, proposals, per-level
        objectness) + each checkpoint's evaluation numbers from its JSON metadata (data {"headers", "rows"}), drawn per
        level too (`level_metrics`' images and data). With no pick, the first MAX_COMPARE available models; when only
        one detection model is installed, that one alone (its title says how to add more). The last of
        `compare_steps`."""
        result = None
        for result in self.compare_steps(path, models, score_thresh, top_proposals, progress, own_thresholds):
            pass
        return result

    def compare_steps(self, path: Optional[str], models: Sequence[str], score_thresh: float = 0.5,
                      top_proposals: int = 50, progress: Progress = None,
                      own_thresholds: bool = False) -> Iterator[ViewResult]:
        """`compare` as each model is ready: a partial result per model (its "compare" image holds the models run so
        far and a note column for each still running; data["pending"] names those), then the full result (no
        "pending"), so the page shows the first model while the slower ones run. own_thresholds: each model shows its
        detections at its own score threshold (its checkpoint's F1-best, app.model_card.score_threshold) instead of
        ``score_thresh`` for all: a model trained briefly is under-confident, and one threshold hides what it finds."""
        available = self.registry.names("detection")
        models = [m for m in (models or []) if m] or available[:MAX_COMPARE]
        fewest = min(MIN_COMPARE, len(available))
        if not fewest <= len(models) <= MAX_COMPARE:
            raise AppError(f"Pick {MIN_COMPARE} to {MAX_COMPARE} models to compare (got {len(models)}).")
        thresholds = self.thresholds(models, score_thresh, own_thresholds)
        columns, titles, rows, listed = [], [], [], []
        gt = None  # a dataset image's ground truth (original px), drawn dashed in every column: found / missed
        metric_keys: list[str] = []
        image = None
        for i, name in enumerate(models):
            sub = None
            if progress:
                sub = (lambda f, d, i=i: progress((i + f) / len(models), d))
            a = self.analysis(path, name, sub)
            image = a.image
            ex = a.exploration
            det = ex.detections
            gt = a.gt if a.gt is not None else gt
            dimg = V.draw_detections(ex.image, det["boxes"], det["scores"], det["labels"], a.class_names,
                                     thresholds[name], box_scale=ex.scale,
                                     gt_boxes=a.gt["boxes"] if a.gt is not None else None,
                                     shown_side=shown_side(ex.image.shape))
            pimg = V.draw_proposals(ex.image, ex.proposals, ex.proposal_scores, int(top_proposals), ex.proposal_rpn_level)
            columns.append(V.compare_column(dimg, pimg, V.objectness_maps(ex, max_width=V.COLUMN_WIDTH)))
            entry = self.registry.entry(name)
            titles.append(f"{name} ({ex.variant})" + ("" if len(available) > 1 else
                          " - the only detection model installed: add checkpoints to checkpoints/ to compare"))
            listed.append((titles[-1], entry.kind, entry.path, entry.options, thresholds[name]))
            metrics = entry.metrics()
            metric_keys += [k for k in metrics if k not in metric_keys]
            keep = det["scores"] >= thresholds[name]
            kinds = box_kinds(det, keep, a.gt["boxes"], self.gt_labels(path, a)) if a.gt is not None else None
            rows.append((name, entry.description, round(a.seconds, 3), thresholds[name], int(keep.sum()),
                         kinds_cell(kinds), metrics))
            on_image = ["the boxes shown on this image"] if gt is not None else []  # a dataset image: what they are
            headers = ["model", "architecture", "model seconds", "score threshold", "detections shown", *on_image,
                       *metric_keys]
            table = [[*r[:5], *r[5:6] * len(on_image)] + [r[6].get(k, "") for k in metric_keys] for r in rows]
            pending = list(models[i + 1:])
            if pending:
                waiting = [V.note_image(f"{n}: running...", V.COLUMN_WIDTH, 60) for n in pending]
                shown = V.side_by_side(columns + waiting, titles + pending, max_width=VIEW_PX)  # as the full one
                yield ViewResult("compare", {"compare": shown},
                                 {"score_thresh": float(score_thresh), "thresholds": thresholds,
                                  "top_proposals": int(top_proposals),
                                  "headers": headers, "rows": table, "pending": pending})
        levels = self.per_level(path, models, thresholds)  # the analyses above are cached: no model runs again
        images = {"compare": V.side_by_side(columns, titles, max_width=VIEW_PX), **levels.images}
        code = S.join(S.compare(listed, path, S.working_size(image), top_proposals, gt, VIEW_PX),
                      levels.code,
                      S.save(list(images)))
        data = {"score_thresh": float(score_thresh), "thresholds": thresholds, "top_proposals": int(top_proposals),
                "headers": headers,
                "rows": table, **levels.data}
        yield ViewResult("compare", images, data, code, levels.text)

    def level_metrics(self, path: Optional[str], models: Optional[Sequence[str]] = None,
                      score_thresh: float = 0.5, progress: Progress = None) -> ViewResult:
        """Grouped bars across models (up to MAX_COMPARE; none picked: the first ones) of their checkpoints' per-level
        numbers; with an image that has ground truth, each model's recall per level on it (otherwise a note). No image is
        needed for the first. data {"models", "metrics": {model: its metrics' CHART_SECTIONS}, "image_recall"?}."""
        models = [m for m in dict.fromkeys(models or []) if m] or self.registry.names("detection")[:MAX_COMPARE]
        if len(models) > MAX_COMPARE:
            raise AppError(f"Pick at most {MAX_COMPARE} models (got {len(models)}).")
        levels = self.per_level(path, models, dict.fromkeys(models, float(score_thresh)), progress)
        setup = S.IMPORTS
        if levels.recall:  # the snippet runs the models on the image, read as the app read it
            setup += "\n" + S.load_image(path, S.working_size(self.analysis(path, models[0]).image))
        code = S.join(setup, levels.code, S.save(list(levels.images)))
        return ViewResult("level_metrics", levels.images, levels.data, code, levels.text)

    def thresholds(self, models: Sequence[str], score_thresh: float, own: bool) -> dict[str, float]:
        """Each model's score threshold in Compare: its own (its checkpoint's F1-best) or ``score_thresh`` for all."""
        return {m: score_threshold(self.registry.entry(m)) if own else float(score_thresh) for m in models}

    def per_level(self, path: Optional[str], models: Sequence[str], thresholds: dict[str, float],
                  progress: Progress = None) -> PerLevel:
        """`models`' checkpoint numbers per level and, on an image with ground truth, their recall per level on it
        (detections at ``thresholds[model]``)."""
        metrics = {}
        for name in models:
            entry = self.registry.entry(name)
            stored = entry.metadata.get("metrics") or {}
            metrics[name] = {k: stored[k] for k in CHART_SECTIONS if k in stored}
        text = LEVELS_TEXT
        missing = [m for m, v in metrics.items() if not v.get("per_level")]
        if missing:
            text += (f"\n\n**n/a: no per-level numbers in the metadata of {', '.join(missing)}.** Run `python "
                     "scripts/evaluate.py --checkpoint CK --data DATA --json OUT.json --write-metadata`.")
        # one chart per row: about 1000 px wide, shown 1:1 on the page (two per row were 2000 px, text shrunk to 5 px)
        images = {"level_metrics": V.level_metrics_view(metrics, columns=1)}
        data: dict[str, Any] = {"models": list(models),
                                "metrics": {m: {k: v.get(k) for k in CHART_SECTIONS} for m, v in metrics.items()}}
        code = (f"metrics = {metrics!r}  # each checkpoint's JSON 'metrics' (the charts' part)\n"
                "level_metrics = V.level_metrics_view(metrics, columns=1)\n")
        recall = self._image_recall(path, models, thresholds, progress) if path else None
        if recall is None:
            images["image_recall"] = V.note_image(NO_GT, 520, 50)
            return PerLevel(images, data, f"{text}\n\n{NO_GT}", code + f"image_recall = V.note_image({NO_GT!r}, 520, 50)\n",
                            False)
        images["image_recall"] = V.image_recall_view(recall, columns=1)
        data["image_recall"] = recall
        return PerLevel(images, data, text, code + self._recall_code(path, models, thresholds), True)

    def _image_recall(self, path: str, models: Sequence[str], thresholds: dict[str, float],
                      progress: Progress) -> Optional[dict[str, Any]]:
        """model -> `fpn.recall_per_level` on the image; None when it has no ground truth."""
        if self.examples.match(path) is None:  # no ground truth to recall: no model needs to run for it
            return None
        out = {}
        for i, name in enumerate(models):
            sub = (lambda f, d, i=i: progress((i + f) / len(models), d)) if progress else None
            a = self.analysis(path, name, sub)
            if a.gt is None:
                return None
            out[name] = fpn.recall_per_level(a.exploration, a.gt["boxes"], self.gt_labels(path, a),
                                             min_score=thresholds[name])
        return out

    def _recall_code(self, path: str, models: Sequence[str], thresholds: dict[str, float]) -> str:
        """Each model run on `image` again and its recall per level against the image's ground truth."""
        rows = ""
        for name in models:
            a = self.analysis(path, name)
            entry = self.registry.entry(name)
            labels = "None" if self.gt_labels(path, a) is None else "targets['labels']"
            rows += (f"    ({name!r}, {S.load_model(entry.kind, entry.path, entry.options)}, {labels}, "
                     f"{thresholds[name]!r}),\n")
        return (S.targets_code(self.analysis(path, models[0]).gt) + "recall = {}  # None: detections of any class "
                "count (the model's classes are not the dataset's)\n"
                f"for name, model, labels, score_thresh in [\n{rows}]:\n"
                "    recall[name] = fpn.recall_per_level(fpn.explore(model, image), targets['boxes'], labels, "
                "min_score=score_thresh)\n"
                "image_recall = V.image_recall_view(recall, columns=1)\n")
