"""The few lines of Python that redraw a view with the library's public API (`fpn`, `fpn.viz`): shown under every view
and downloadable with it. tests/test_app.py runs each one and compares its pictures with the view's, pixel for pixel.

Each function returns the code after the common setup (`setup`): the model, the image and `ex = fpn.explore(...)`;
every picture of the view ends in a variable named like the view's image (`pyramid`, `merge`, `anchors`, ...).
"""
from __future__ import annotations

import os
from typing import Any, Optional, Sequence

IMPORTS = "import numpy as np\nimport torch\nfrom PIL import Image, ImageOps\n\nimport fpn\nimport fpn.viz as V\n"


def working_size(image: Any) -> Optional[tuple[int, int]]:
    """(height, width) the app downscaled a `LoadedImage` to, or None when it kept the file's size."""
    size = tuple(int(v) for v in image.array.shape[:2])
    return size if size != tuple(image.original_size) else None


def shown_path(path: str) -> str:
    """A path as the reader would type it: relative to the working folder when inside it."""
    absolute = os.path.abspath(path)
    rel = os.path.relpath(absolute, os.getcwd())
    return absolute if rel.startswith("..") else rel


def load_model(kind: str, path: str, options: Optional[dict] = None) -> str:
    """The expression that loads a model of the registry ("checkpoint", "torchvision" or "detectron2") with the
    app's build `options` (a ModelEntry's: the C4 head's proposals) on the inference path the app runs it on
    (`precision("auto")`: bf16 where the CPU runs it natively)."""
    loader = {"torchvision": "fpn.from_torchvision", "detectron2": "fpn.from_detectron2"}.get(kind, "fpn.load_checkpoint")
    args = [repr(shown_path(path))]
    if kind == "detectron2" and os.path.basename(path).startswith("fast_rcnn"):  # runs on an RPN model's proposals
        args.append("proposals='COCO-Detection/rpn_R_50_FPN_1x'")
    args += [f"{k}={v!r}" for k, v in (options or {}).items()]
    return f"{loader}({', '.join(args)}).precision('auto')"


def load_image(image_path: str, size: Optional[tuple[int, int]] = None) -> str:
    """Read the file as the app does (upright RGB); `size` (height, width): the app's downscaled working size."""
    code = (f"image = np.asarray(ImageOps.exif_transpose(Image.open({os.path.basename(image_path)!r}))"
            f".convert('RGB'))\n")
    if size is not None:
        code += f"image = np.asarray(Image.fromarray(image).resize(({size[1]}, {size[0]}), Image.BILINEAR))\n"
    return code


def targets_code(gt: Optional[dict]) -> str:
    """The ground truth of a dataset image as a literal (original-image pixels), or nothing."""
    if gt is None:
        return ""
    boxes = [[float(v) for v in b] for b in gt["boxes"].tolist()]
    return f"targets = {{'boxes': torch.tensor({boxes}), 'labels': torch.tensor({gt['labels'].tolist()})}}\n"


def setup(model_kind: str, model_path: str, image_path: str, size: Optional[tuple[int, int]] = None,
          gt: Optional[dict] = None, options: Optional[dict] = None) -> str:
    """Imports, the model (with the app's build `options`), the image (and its ground truth), and one exploration
    `ex` of the model on it."""
    explore = "ex = fpn.explore(model, image, targets)" if gt is not None else "ex = fpn.explore(model, image)"
    return (f"{IMPORTS}\nmodel = {load_model(model_kind, model_path, options)}\n{load_image(image_path, size)}"
            f"{targets_code(gt)}{explore}  # every internal of one forward pass\n")


def detect(score_thresh: float, with_gt: bool = False) -> str:
    gt = ", gt_boxes=targets['boxes']" if with_gt else ""  # dashed: found / missed
    return ("det = ex.detections  # boxes in original-image pixels\n"
            "detections = V.draw_detections(image, det['boxes'], det['scores'], det['labels'], ex.class_names, "
            f"{float(score_thresh)!r}{gt})\n")


def rpn_proposals(top_n: int) -> str:
    """An RPN-only model's Detections view: its best proposals."""
    return ("# an RPN-only model: no detections, its proposals instead\n"
            f"detections = V.draw_proposals(ex.image, ex.proposals, ex.proposal_scores, {int(top_n)}, "
            "ex.proposal_rpn_level)\n")


def mask_proposals(top_n: int) -> str:
    return ("props = ex.proposals\n"
            f"masks = V.draw_mask_proposals(image, props['masks'].numpy(), props['scores'].numpy(), {int(top_n)})\n")


def pyramid(aggregation: str, channel: int, level: str, mark: Optional[Sequence[float]], max_width: int,
            merge_width: int) -> str:
    """max_width: the pyramid figure's width; merge_width: Fig. 3's map width (px, as the app draws them)."""
    mark_arg = "" if mark is None else f", mark=({float(mark[0])!r}, {float(mark[1])!r})"
    return (f"pyramid = V.pyramid_view(ex, {aggregation!r}, {int(channel)}, highlight={level!r}{mark_arg}, "
            f"max_width={int(max_width)})\n"
            f"merge = V.merge_view(ex, {level!r}, {aggregation!r}, {int(channel)}, target_width={int(merge_width)})"
            "  # Fig. 3\n")


def anchor_labels(use_gt: bool, score_thresh: float) -> str:
    """`labels` {level: [H*W*A]} and `gt_boxes` (resized-input px): against ground truth, or the detections."""
    if use_gt:
        return ("labels = {name: level.labels for name, level in ex.rpn.items()}\n"
                "gt_boxes = ex.targets['boxes']\n")
    return ("det = ex.detections  # pseudo ground truth: the detections above the threshold\n"
            f"gt_boxes = ex.detection_boxes_resized[det['scores'] >= {float(score_thresh)!r}]\n"
            "labels = fpn.label_anchors(model, ex, gt_boxes)  # Sec. 4.1's rule, IoU > 0.7 / < 0.3\n")


def anchors(level: str, ratio: Optional[float], point: Sequence[float], mode: str, use_gt: bool,
            score_thresh: float) -> str:
    point_arg = f"({float(point[0])!r}, {float(point[1])!r})"
    return (anchor_labels(use_gt, score_thresh) +
            f"anchors = V.anchors_view(ex.image, ex.rpn[{level!r}], {ratio!r}, point={point_arg}, mode={mode!r}, "
            f"gt_boxes=gt_boxes, labels=labels[{level!r}])\n"
            "positives = V.positives_chart({name: int((lab == 1).sum()) for name, lab in labels.items()})\n")


def roi_boxes(from_detections: bool, top_n: int, score_thresh: float) -> str:
    """`boxes` (resized-input px), their Eq. (1) `levels`, pooled `features` and `names`."""
    if from_detections:
        return ("det = ex.detections\n"
                f"keep = torch.nonzero(det['scores'] >= {float(score_thresh)!r}).flatten()\n"
                "boxes = ex.detection_boxes_resized[keep]\n"
                "features, levels = fpn.pool_boxes(model, ex, boxes)  # Eq. (1), then RoI pooling\n"
                "names = [f'{V.label_name(int(l), ex.class_names)} {float(s):.2f}' "
                "for l, s in zip(det['labels'][keep], det['scores'][keep])]\n")
    return (f"order = torch.argsort(ex.proposal_scores, descending=True)[:{max(int(top_n), 1)}]\n"
            "boxes, levels, features = ex.rois[order], ex.roi_levels[order], ex.pooled[order]\n"
            "names = [f'proposal {float(s):.2f}' for s in ex.proposal_scores[order]]\n")


def roi_levels(from_detections: bool, top_n: int, score_thresh: float, index: int) -> str:
    return (roi_boxes(from_detections, top_n, score_thresh) +
            f"roi_levels = V.roi_levels_view(ex.image, boxes, levels, selected={int(index)}, labels=names)\n"
            "counts = {int(k): int(c) for k, c in zip(*torch.unique(levels, return_counts=True))}\n"
            "histogram = V.levels_histogram(counts, f'{len(boxes)} RoIs per level (Eq. 1)')\n"
            f"pooled = V.pooled_view(features[{int(index)}])\n"
            f"w, h = (boxes[{int(index)}, 2:] - boxes[{int(index)}, :2]).tolist()\n"
            "print(V.eq1_text(w, h, *ex.roi_level_range))\n")


def compare(models: Sequence[tuple[str, str, str, dict, float]], image_path: str, size: Optional[tuple[int, int]],
            top_proposals: int, gt: Optional[dict] = None, max_width: int = 0) -> str:
    """models: (title, kind, path, the app's build options, score threshold) per column; gt: a dataset image's ground
    truth (drawn dashed in every column); max_width: the figure's width (px): as many columns per row as fit."""
    listed = "".join(f"    ({title!r}, {load_model(kind, path, options)}, {float(threshold)!r}),\n"
                     for title, kind, path, options, threshold in models)
    explore = "fpn.explore(model, image, targets)" if gt is not None else "fpn.explore(model, image)"
    gt_arg = ", gt_boxes=targets['boxes']" if gt is not None else ""
    return (f"{IMPORTS}\n{load_image(image_path, size)}{targets_code(gt)}columns, titles = [], []\n"
            f"for title, model, score_thresh in [\n{listed}]:\n"
            f"    ex = {explore}\n"
            "    det = ex.detections\n"
            "    detections = V.draw_detections(ex.image, det['boxes'], det['scores'], det['labels'], ex.class_names, "
            f"score_thresh, box_scale=ex.scale{gt_arg},\n"
            "                                  shown_side=V.COLUMN_WIDTH * max(ex.image.shape[-2:])"
            " // ex.image.shape[-1])\n"
            f"    proposals = V.draw_proposals(ex.image, ex.proposals, ex.proposal_scores, {int(top_proposals)}, "
            "ex.proposal_rpn_level)\n"
            "    objectness = V.objectness_maps(ex, max_width=V.COLUMN_WIDTH)\n"
            "    columns.append(V.compare_column(detections, proposals, objectness))\n"
            "    titles.append(title)\n"
            f"compare = V.side_by_side(columns, titles, max_width={int(max_width)})\n")


def designs() -> str:
    return "designs = V.designs_view(ex)  # Fig. 1's four designs with this image's maps\n"


def save(images: Sequence[str]) -> str:
    """The closing lines: every picture saved as PNG."""
    return "".join(f"Image.fromarray({stem}).save('{stem}.png')\n" for stem in images)


def join(*parts: Any) -> str:
    return "\n".join(p.rstrip("\n") for p in parts if p) + "\n"
