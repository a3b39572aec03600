"""What the boxes a detector shows are, and which objects it misses, by object size: the errors behind a low AP.

COCO's AP says how much is wrong, not what. Here every detection at or above a score threshold (the model's stored
F1-best one: the boxes the app shows) gets one kind, tried in this order (IoU >= 0.5 as in AP50):

    correct            the best unmatched object of its class (greedy by score, as COCOeval matches)
    duplicate          an object of its class already taken by a higher-scoring box
    wrong class        an object of another class
    several objects    encloses two or more objects (each at least 90 % inside it): a box around a group
    part of an object  lies at least 90 % inside one object: a fragment of a larger one
    poorly localised   overlaps an object (IoU 0.1-0.5) otherwise
    background         overlaps nothing (IoU < 0.1)

Sizes are COCO's (small < 32^2 <= medium < 96^2 <= large, pixels^2 of the original image), filed as COCOeval files
them: an object and its correct detection by the object's annotated area (a segment's area can be far below its
box's: a ring, a triangle), any other detection by its box area. Crowd regions are left out.
"""
from __future__ import annotations

from typing import Any

import torch
from torchvision.ops import box_area

KINDS = ("correct", "duplicate", "wrong class", "several objects", "part of an object", "poorly localised",
         "background")
SIZES = ("small", "medium", "large")
INSIDE = 0.9  # fraction of a box's area inside another for "encloses" / "part of"


def size_of(area: torch.Tensor) -> list[str]:
    """COCO's size name of each area [N] (pixels^2)."""
    return ["small" if a < 32 ** 2 else "medium" if a < 96 ** 2 else "large" for a in area.tolist()]


def detection_kinds(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, gt_boxes: torch.Tensor,
                    gt_labels: torch.Tensor, iou_threshold: float = 0.5
                    ) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """(kind of each detection [D] from KINDS, found [G] bool: matched by a correct detection, match [D] int64: the
    object a correct detection matched, -1 for the others).

    boxes [D, 4], gt_boxes [G, 4]: xyxy in one frame (pixels of the original image); scores [D]; labels [D], gt_labels
    [G]: class indices.
    """
    kinds = ["background"] * len(boxes)
    found = torch.zeros(len(gt_boxes), dtype=torch.bool)
    match = torch.full((len(boxes),), -1, dtype=torch.int64)
    if len(boxes) == 0 or len(gt_boxes) == 0:
        return kinds, found, match
    boxes, gt_boxes = boxes.float(), gt_boxes.float()
    lt = torch.max(boxes[:, None, :2], gt_boxes[None, :, :2])
    rb = torch.min(boxes[:, None, 2:], gt_boxes[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)  # [D, G], once: IoU and the "inside" tests both read it
    det_area, gt_area = box_area(boxes), box_area(gt_boxes)
    iou = inter / (det_area[:, None] + gt_area[None, :] - inter)  # [D, G], as torchvision's box_iou
    gt_inside = inter >= INSIDE * gt_area[None, :]  # object j lies inside detection i
    det_inside = inter >= INSIDE * det_area[:, None]  # detection i lies inside object j
    same = labels[:, None] == gt_labels[None, :]
    for i in torch.argsort(scores, descending=True, stable=True).tolist():
        hit = (iou[i] >= iou_threshold) & same[i]
        free = hit & ~found
        if free.any():
            match[i] = torch.where(free, iou[i], torch.full_like(iou[i], -1)).argmax()
            found[match[i]] = True
            kinds[i] = "correct"
        elif hit.any():
            kinds[i] = "duplicate"
        elif (iou[i] >= iou_threshold).any():
            kinds[i] = "wrong class"
        elif gt_inside[i].sum() >= 2:
            kinds[i] = "several objects"
        elif det_inside[i].any():
            kinds[i] = "part of an object"
        elif (iou[i] >= 0.1).any():
            kinds[i] = "poorly localised"
    return kinds, found, match


def error_breakdown(dataset, predictions: dict[int, dict[str, Any]], score_threshold: float) -> dict[str, Any]:
    """{"score_threshold", "detections": {size: {kind: count}}, "objects": {size: {"found", "missed"}}} over the
    predicted images of ``dataset`` (a :class:`fpn.data.CocoDetection`; ``predictions`` as
    :func:`fpn.evaluation.predict.prediction_of` gives them: boxes in pixels of the original image)."""
    cat_to_label = dataset.category_id_to_label
    by_image: dict[int, list[dict]] = {}
    for a in dataset.data["annotations"]:
        if not a.get("iscrowd", 0):
            by_image.setdefault(int(a["image_id"]), []).append(a)
    detections = {s: dict.fromkeys(KINDS, 0) for s in SIZES}
    objects = {s: {"found": 0, "missed": 0} for s in SIZES}
    for image_id, pred in predictions.items():
        anns = by_image.get(int(image_id), [])
        gt = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)],
                          dtype=torch.float32).reshape(-1, 4)
        gt_labels = torch.tensor([cat_to_label[a["category_id"]] for a in anns], dtype=torch.int64)
        gt_area = torch.tensor([float(a.get("area", a["bbox"][2] * a["bbox"][3])) for a in anns])
        keep = pred["scores"] >= score_threshold
        boxes = pred["boxes"][keep].float()
        kinds, found, match = detection_kinds(boxes, pred["scores"][keep], pred["labels"][keep], gt, gt_labels)
        box_area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        for kind, size in zip(kinds, size_of(torch.where(match >= 0, gt_area[match.clamp(min=0)], box_area)
                                             if len(gt_area) else box_area)):
            detections[size][kind] += 1
        for hit, size in zip(found.tolist(), size_of(gt_area)):
            objects[size]["found" if hit else "missed"] += 1
    return {"score_threshold": round(float(score_threshold), 3), "detections": detections, "objects": objects}
