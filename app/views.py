"""What each tab of the app computes: image path + model name + widget values -> a `ViewResult` (pictures, the numbers
they show, the Python that redraws them, a note).

No Gradio here (the modules of app/tabs/ bind these to widgets, and the same methods are the API endpoints). Every
view is a method of `Explorer` (app/__init__.py); the views of app/provenance.py, app/insight.py and
app/compare_view.py are mixed in from there. Every method raises AppError (or app.images.ImageError) with a message
meant for the user; app.guard turns them into toasts. Boxes are in resized-input pixels (what the anchors and RoI
views draw on) unless a name or docstring says original.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch

import fpn.viz as V

from . import snippets as S
from .analysis import Analysis, Analyzer
from .choices import AGGREGATIONS, SQUARE, AnchorMode, GTSource, RoISource, parse_ratio
from .compare_view import CompareViews
from .insight import InsightViews
from .provenance import WhyViews
from .errors import AppError
from .examples import ExampleLibrary, as_targets
from .export import ViewResult
from .images import LoadedImage, load_image_file
from .layout import MERGE_PANEL_PX, PYRAMID_PX
from .model_card import coco_detectors, photo_notice, zero_hint
from .models import TORCHVISION_COCO, ModelRegistry
from .readouts import anchors_data, box_kinds, cell_markdown, ground_truth_note, map_of, mask_data, roi_data
from .view_cache import cache_views

Progress = Optional[Callable[[float, str], None]]


#: proposals the Detections view draws for an RPN-only model
RPN_ONLY_PROPOSALS = 50


@cache_views  # a view asked again on an analysed image is not drawn again (app/view_cache.py)
class Explorer(WhyViews, InsightViews, CompareViews):
    """The app's state (models, cache, examples) and one method per view: the views of this file, and those of
    app/provenance.py, app/insight.py and app/compare_view.py mixed in (app/__init__.py: the one shape of a view)."""

    def __init__(self, registry: ModelRegistry, analyzer: Optional[Analyzer] = None,
                 examples: Optional[ExampleLibrary] = None) -> None:
        self.registry = registry
        self.analyzer = analyzer or Analyzer(registry)
        self.examples = examples or ExampleLibrary()

    # ------------------------------------------------------------------ shared
    def load(self, path: Optional[str]) -> LoadedImage:
        if not path:
            raise AppError("No image yet: upload an image or pick an example (at the top of the page).")
        return load_image_file(path)

    def _model(self, name: Optional[str], task: str = "detection") -> str:
        if not name:
            avail = self.registry.names(task)
            if not avail:
                raise AppError(" ".join(self.registry.notes) or f"No {task} model available.")
            return avail[0]
        entry = self.registry.entry(name)
        if entry.task != task:
            raise AppError(f"{name} is a {entry.task} model; this view needs a {task} model.")
        return name

    def analysis(self, path: Optional[str], model: Optional[str], progress: Progress = None,
                 task: str = "detection") -> Analysis:
        image = self.load(path)
        name = self._model(model, task)
        example = self.examples.match(path) if task == "detection" else None
        gt = as_targets(example.gt) if example is not None else None
        if gt is not None and tuple(image.array.shape[:2]) != tuple(image.original_size):
            gt = None  # downscaled on load: the file's GT pixels no longer apply
        try:
            return self.analyzer.analyze(image, name, gt, progress)
        except (ValueError, RuntimeError) as e:
            raise AppError(f"{name} could not process this image: {e}") from e

    def setup_code(self, a: Analysis, path: str) -> str:
        """The snippet's first lines: this model, this image (as the app read it), `ex = fpn.explore(...)`."""
        entry = self.registry.entry(a.model_name)
        return S.setup(entry.kind, entry.path, path, S.working_size(a.image), a.gt, entry.options)

    def gt_labels(self, path: str, a: Analysis) -> Optional[torch.Tensor]:
        """The ground truth's labels when they name the model's classes (same class list), else None (any class)."""
        example = self.examples.match(path)
        names = a.class_names
        if example is None or not example.class_names or not names:
            return None
        if list(example.class_names[1:]) != list(names[1:]):
            return None
        return torch.as_tensor(a.gt["labels"]).reshape(-1)

    # ------------------------------------------------------------------ views
    def detect(self, path: Optional[str], model: Optional[str], score_thresh: float = 0.5,
               progress: Progress = None) -> ViewResult:
        """Annotated image; data {"model", "image_size" [h, w], "seconds", "score_thresh", "detections": [{"box"
        (x1, y1, x2, y2, original-image pixels), "score", "label", "class"}]} (scores >= score_thresh)."""
        a = self.analysis(path, model, progress)
        ex = a.exploration
        det = ex.detections
        keep = det["scores"] >= float(score_thresh)
        rpn_only = not ex.roi_maps  # an RPN trained alone (Table 1): its proposals are what it predicts
        gt = a.gt["boxes"] if a.gt is not None else None  # a dataset image: its ground truth, dashed, found / missed
        img = V.draw_proposals(ex.image, ex.proposals, ex.proposal_scores, RPN_ONLY_PROPOSALS,
                               ex.proposal_rpn_level) if rpn_only else \
            V.draw_detections(a.image.array, det["boxes"], det["scores"], det["labels"], a.class_names,
                              float(score_thresh), gt_boxes=gt)
        dets = [{"box": [round(float(v), 1) for v in b], "score": round(float(s), 4), "label": int(l),
                 "class": V.label_name(int(l), a.class_names)}
                for b, s, l in zip(det["boxes"][keep], det["scores"][keep], det["labels"][keep])]
        info = {"model": a.model_name, "image_size": list(a.image.array.shape[:2]), "seconds": round(a.seconds, 3),
                "score_thresh": float(score_thresh), "detections": dets}
        if rpn_only:
            code = S.join(self.setup_code(a, path), S.rpn_proposals(RPN_ONLY_PROPOSALS), S.save(["detections"]))
            text = (f"An RPN-only model makes no detections: its best {RPN_ONLY_PROPOSALS} proposals, coloured by RPN "
                    "level.")
            return ViewResult("detections", {"detections": img}, info, code, text)
        text = self.knowledge_note(path, a, score_thresh)
        if gt is not None:
            found = V.match_ground_truth(gt, det["boxes"][keep])
            info["ground_truth"] = {"boxes": len(found), "found": int(found.sum()), "missed": int((~found).sum()),
                                    "found_iou": 0.5}
            kinds = box_kinds(det, keep, gt, self.gt_labels(path, a))  # None unless the dataset's classes
            for d, kind in zip(dets, kinds or []):
                d["kind"] = kind
            text = ground_truth_note(info["ground_truth"], kinds) + ("\n\n" + text if text else "")
        code = S.join(self.setup_code(a, path), S.detect(score_thresh, gt is not None), S.save(["detections"]))
        return ViewResult("detections", {"detections": img}, info, code, text)

    def knowledge_note(self, path: str, a: Analysis, score_thresh: float) -> str:
        """What the model knows, when it matters here: a shapes-only model on a photo; nothing detected (Markdown)."""
        entry, det = self.registry.entry(a.model_name), a.exploration.detections
        names = [V.label_name(int(l), a.class_names) for l in det["labels"]]
        coco = coco_detectors(self.registry, TORCHVISION_COCO)
        notes = [photo_notice(entry, self.examples.match(path) is not None, coco),
                 zero_hint(entry, float(score_thresh), [float(s) for s in det["scores"]], names, coco)]
        return "\n\n".join(n for n in notes if n)

    def mask_proposals(self, path: Optional[str], model: Optional[str], top_n: int = 10,
                       progress: Progress = None) -> ViewResult:
        """The top_n mask proposals (Sec. 6); data: their scores and bounding boxes (original-image pixels)."""
        if not self.registry.names("mask_proposals"):
            image = self.load(path)
            note = V.note_image(V.NO_MASK_MODEL, min(max(image.array.shape[1], 320), 640), 70)
            return ViewResult("mask_proposals", {"masks": note}, {"note": V.NO_MASK_MODEL})
        a = self.analysis(path, model, progress, task="mask_proposals")
        props = a.exploration.proposals
        if "masks" not in props or props["masks"].shape[0] == 0:
            msg = "The mask-proposal model returned no proposals for this image."
            return ViewResult("mask_proposals", {"masks": V.note_image(msg, 520, 60)}, {"note": msg})
        masks, scores = props["masks"].cpu().numpy(), props["scores"].cpu().numpy()
        img = V.draw_mask_proposals(a.image.array, masks, scores, int(top_n))
        code = S.join(self.setup_code(a, path), S.mask_proposals(top_n), S.save(["masks"]))
        return ViewResult("mask_proposals", {"masks": img}, mask_data(a.model_name, masks, scores, int(top_n)), code)

    def pyramid(self, path: Optional[str], model: Optional[str], aggregation: str = "l2", channel: int = 0,
                level: str = "p4", progress: Progress = None,
                click: Optional[Sequence[float]] = None) -> ViewResult:
        """C2..C5 / P2..P6 (Fig. 1d) and one level's merge (Fig. 3). click: a pixel (x, y) of the pyramid figure:
        the cell under it is read (data["cell"], the Markdown) and its place outlined on every map."""
        if aggregation not in AGGREGATIONS:
            raise AppError(f"Unknown aggregation {aggregation!r}; choose one of {', '.join(AGGREGATIONS)}.")
        a = self.analysis(path, model, progress)
        ex = a.exploration
        level, channel = str(level).lower(), int(channel)
        figure = V.pyramid_figure(ex, aggregation, channel, highlight=level, max_width=PYRAMID_PX)
        cell, mark = None, None
        hit = figure.locate(*click) if click is not None else None
        if hit is not None:
            panel, row, col = hit
            cell = V.map_cell(ex, panel.name, row, col, aggregation, channel)
            mark = tuple(float(v) for v in cell["centre"])
            figure = V.pyramid_figure(ex, aggregation, channel, highlight=level, mark=mark, max_width=PYRAMID_PX)
        maps = {**ex.bottom_up, **ex.pyramid}
        data = {"model": a.model_name, "variant": ex.variant, "aggregation": aggregation, "channel": channel,
                "resized_size": list(ex.resized_size), "original_size": list(ex.original_size),
                "maps": [{**s, "stride": ex.strides.get(s["map"])} for s in V.map_stats(maps, aggregation, channel)],
                "merge_level": level, "cell": cell}
        text = cell_markdown(cell, ex) if cell else "Click a cell of any map to read its value and position."
        code = S.join(self.setup_code(a, path),
                      S.pyramid(aggregation, channel, level, mark, PYRAMID_PX, MERGE_PANEL_PX),
                      S.save(["pyramid", "merge"]))
        merge = V.merge_view(ex, level, aggregation, channel, target_width=MERGE_PANEL_PX)
        return ViewResult("pyramid", {"pyramid": figure.image, "merge": merge}, data, code, text)

    def anchors(self, path: Optional[str], model: Optional[str], level: str = "p3", ratio: str = SQUARE,
                mode: str = AnchorMode.POINT.value, x: float = -1, y: float = -1,
                gt_source: str = GTSource.GROUND_TRUTH.value,
                score_thresh: float = 0.5, progress: Progress = None) -> ViewResult:
        """Anchors of one level / ratio around (x, y) (resized-input pixels, as shown; -1: centre) or as a density,
        coloured by their label against GT or pseudo-GT; + positives per level; + a Markdown note."""
        pick, source = AnchorMode.parse(mode, "mode"), GTSource.parse(gt_source, "ground-truth source")
        mode = pick.value
        try:
            ratio_value = parse_ratio(ratio)
        except ValueError as e:
            raise AppError(str(e)) from None
        a = self.analysis(path, model, progress)
        ex = a.exploration
        notes = []
        level = str(level).lower()
        if level not in ex.rpn:
            notes.append(f"{level.upper()} is not an RPN map of the '{ex.variant}' variant; showing "
                         f"{next(iter(ex.rpn)).upper()}.")
            level = next(iter(ex.rpn))
        use_gt = source is GTSource.GROUND_TRUTH and a.gt is not None
        if source is GTSource.GROUND_TRUTH and a.gt is None:
            notes.append("This image has no ground truth (only the bundled dataset's images do): the detections "
                         f"with score >= {score_thresh:.2f} are used as pseudo ground truth.")
        if use_gt:
            labels = {n: lv.labels for n, lv in ex.rpn.items()}
            gt_boxes = ex.targets["boxes"]
            what = f"{len(gt_boxes)} ground-truth boxes"
        else:
            labels, gt_boxes = self.analyzer.anchor_labels(a, float(score_thresh))
            what = f"{len(gt_boxes)} detections with score >= {score_thresh:.2f} as pseudo ground truth"
            if len(gt_boxes) == 0:
                notes.append("No detection passes the score threshold, so every anchor is negative: lower the "
                             "threshold (an untrained model scores low).")
        h, w = ex.resized_size
        point = (w / 2 if x is None or x < 0 else float(x), h / 2 if y is None or y < 0 else float(y))
        img = V.anchors_view(ex.image, ex.rpn[level], ratio_value, point=point, mode=mode, gt_boxes=gt_boxes,
                             labels=labels[level])
        counts = {n: int((lab == 1).sum()) for n, lab in labels.items()}
        chart = V.positives_chart(counts)
        md = (f"Labels against {what} (IoU > 0.7 or best anchor of a box: positive; < 0.3: negative; else ignored). "
              f"Positives per level: " + ", ".join(f"{k.upper()} {v}" for k, v in counts.items()) + ".")
        if pick is AnchorMode.POINT:
            md += f" Anchors drawn around ({point[0]:.0f}, {point[1]:.0f}) px; click the image to move the point."
        data = anchors_data(ex, level, ratio_value, point, mode, labels, gt_boxes, what, counts)
        code = S.join(self.setup_code(a, path), S.anchors(level, ratio_value, point, mode, use_gt, score_thresh),
                      S.save(["anchors", "positives"]))
        return ViewResult("anchors", {"anchors": img, "positives": chart}, data, code, "\n\n".join([md] + notes))

    def _roi_boxes(self, a: Analysis, source: RoISource, top_n: int, score_thresh: float):
        """(boxes [N, 4] resized px, their Eq. (1) levels [N], pooled features [N, C, S, S] or None, names)."""
        ex = a.exploration
        if source is RoISource.DETECTIONS:
            det = ex.detections
            keep = torch.nonzero(det["scores"] >= score_thresh).flatten()
            boxes = ex.detection_boxes_resized[keep]
            names = [f"{V.label_name(int(l), a.class_names)} {float(s):.2f}"
                     for l, s in zip(det["labels"][keep], det["scores"][keep])]
            if len(boxes) == 0:
                return boxes, torch.zeros(0, dtype=torch.int64), None, names
            pooled, levels = self.analyzer.pool_boxes(a, boxes)
            return boxes, levels, pooled, names
        if not ex.roi_maps or ex.rois is None or len(ex.rois) == 0:  # an RPN-only model pools no RoIs
            return torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64), None, []
        order = torch.argsort(ex.proposal_scores, descending=True)[: max(int(top_n), 1)]
        names = [f"proposal {float(s):.2f}" for s in ex.proposal_scores[order]]
        return ex.rois[order], ex.roi_levels[order], ex.pooled[order], names

    def roi_levels(self, path: Optional[str], model: Optional[str], source: str = RoISource.PROPOSALS.value,
                   index: int = 0,
                   top_n: int = 100, score_thresh: float = 0.5, progress: Progress = None,
                   click: Optional[Sequence[float]] = None) -> ViewResult:
        """RoIs coloured by their Eq. (1) level, the histogram of levels, the formula for the selected box (index
        into the list, best first; or the smallest box containing `click` (x, y)), and its pooled features.
        data["selected"]["index"]: the selected box."""
        pick = RoISource.parse(source, "box source")
        source = pick.value
        a = self.analysis(path, model, progress)
        ex = a.exploration
        boxes, levels, pooled, names = self._roi_boxes(a, pick, top_n, float(score_thresh))
        if len(boxes) == 0:
            msg = ("An RPN-only model (Table 1's protocol) has no Fast R-CNN: nothing is pooled. Its proposals and "
                   "objectness are in the other views." if not ex.roi_maps else
                   f"No detection with score >= {score_thresh:.2f}; lower the threshold or show proposals."
                   if pick is RoISource.DETECTIONS else "The RPN returned no proposals.")
            note = V.note_image(msg, 520, 60)
            return ViewResult("roi_levels", {"roi_levels": note, "histogram": note, "pooled": note},
                              {"source": source, "boxes": [], "selected": {"index": 0}, "note": msg}, "", msg)
        if click is not None:
            cx, cy = click
            inside = (boxes[:, 0] <= cx) & (cx <= boxes[:, 2]) & (boxes[:, 1] <= cy) & (cy <= boxes[:, 3])
            if inside.any():
                area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
                index = int(torch.where(inside, area, torch.full_like(area, float("inf"))).argmin())
        index = int(min(max(int(index), 0), len(boxes) - 1))
        img = V.roi_levels_view(ex.image, boxes, levels, selected=index, labels=names)
        counts = {int(k): int(c) for k, c in zip(*torch.unique(levels, return_counts=True))}
        hist = V.levels_histogram(counts, f"{len(boxes)} RoIs per level (Eq. 1)")
        b = boxes[index]
        w, h = float(b[2] - b[0]), float(b[3] - b[1])
        formula = V.eq1_text(w, h, *ex.roi_level_range)
        md = (f"**Box #{index}** ({names[index]}): x1 {float(b[0]):.0f}, y1 {float(b[1]):.0f}, w {w:.1f}, h {h:.1f} px "
              f"(resized input, {ex.resized_size[1]}x{ex.resized_size[0]}).\n\n`{formula}`\n\n"
              f"Pooled from {map_of(ex.roi_maps, int(levels[index])).upper()}; its "
              f"{pooled.shape[-1]}x{pooled.shape[-1]} features feed the box head. Click a box to select it.")
        data = roi_data(ex, source, boxes, levels, names, index, formula, counts)
        code = S.join(self.setup_code(a, path), S.roi_levels(pick is RoISource.DETECTIONS, top_n, score_thresh, index),
                      S.save(["roi_levels", "histogram", "pooled"]))
        return ViewResult("roi_levels", {"roi_levels": img, "histogram": hist, "pooled": V.pooled_view(pooled[index])},
                          data, code, md)
