"""Why this box: a detection traced back through Fast R-CNN (Sec. 4.2, Eq. (1)) and the RPN (Sec. 4.1) to the anchor
it came from; and, for a ground-truth box that no detection covers, the stage of the pipeline that lost it.

Both read only what the model's own code path recorded (`Exploration.lineage`, see `fpn.explain.lineage`): nothing is
recomputed. Boxes are in the resized input's pixels (`Exploration.image`) unless a name says "original".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor
from torchvision.ops import box_iou

from .exploration import Exploration
from ..modeling.fates import BELOW_SCORE, CUT, SUPPRESSED, TOO_SMALL
from .lineage import AnchorRef, Lineage, anchor_ref
from ..modeling.rpn.anchor_labels import POSITIVE

#: Stages of `lost_where`, in pipeline order.
DETECTED = "detected"
NO_POSITIVE_ANCHOR = "no positive anchor"
NOT_A_CANDIDATE = "not among the top-k boxes before NMS"
PROPOSAL_TOO_SMALL = "proposal removed as too small"
PROPOSAL_LOW_SCORE = "proposal below the RPN score threshold"
PROPOSAL_NMS = "proposal removed by NMS"
PROPOSAL_TOP_N = "proposal removed by the top-N cut"
NO_DETECTION_HEAD = "no Fast R-CNN head"
BACKGROUND = "classified as background"
WRONG_CLASS = "classified as another class"
SCORE_THRESHOLD = "removed by the score threshold"
DETECTION_TOO_SMALL = "detection removed as too small"
DETECTION_NMS = "removed by the detection NMS"
DETECTION_CAP = "removed by the detections-per-image cap"
REGRESSED_AWAY = "moved off by box regression"
STAGES = (NO_POSITIVE_ANCHOR, NOT_A_CANDIDATE, PROPOSAL_TOO_SMALL, PROPOSAL_LOW_SCORE, PROPOSAL_NMS, PROPOSAL_TOP_N,
          NO_DETECTION_HEAD, BACKGROUND, WRONG_CLASS, SCORE_THRESHOLD, DETECTION_TOO_SMALL, DETECTION_NMS,
          DETECTION_CAP, REGRESSED_AWAY, DETECTED)

#: Sec. 4.1's IoU above which an anchor is positive; used only for a box the exploration has no labels for.
FG_IOU = 0.7
_RPN_STAGES = {TOO_SMALL: PROPOSAL_TOO_SMALL, BELOW_SCORE: PROPOSAL_LOW_SCORE, SUPPRESSED: PROPOSAL_NMS,
               CUT: PROPOSAL_TOP_N}
_RPN_PROGRESS = {TOO_SMALL: 0, BELOW_SCORE: 1, SUPPRESSED: 2, CUT: 3}  # the order the selector's steps run in
_DET_PROGRESS = {BELOW_SCORE: 0, TOO_SMALL: 1, SUPPRESSED: 2, CUT: 3}


@dataclass
class Provenance:
    """Where detection `detection` came from. rank: the proposal's rank after NMS (0 = best objectness), which is its
    index among the proposals; rank_in_level: among the proposals of its RPN map. roi_level: Eq. (1)'s k for the
    proposal, pooled from `roi_map`; pooled [C, S, S]. top_classes: the 5 best (label, name, probability), background
    included. box_original: the final box [4] in original pixels; box: the same in resized pixels; proposal_box [4]
    and class_deltas' reference are in resized pixels (the frames: `fpn.explain.exploration`)."""

    detection: int
    label: int
    class_name: str
    score: float
    box_original: Tensor
    box: Tensor
    class_deltas: Tensor
    anchor: AnchorRef
    rank: int
    rank_in_level: int
    num_proposals: int
    proposal_box: Tensor
    proposal_score: float
    rpn_level: str
    roi_level: int
    roi_map: str
    pooled: Tensor
    top_classes: list[tuple[int, str, float]]


@dataclass
class LostGT:
    """Which stage lost a ground-truth box (`STAGES`), in words (`details`), and what to draw: the GT, its best
    positive anchor, the candidate box that went furthest (`candidate_box`, with its index into the lineage's
    candidates), the best covering proposal, and the detection the stage refers to (index, or None). gt_original [4]:
    the GT box in original pixels; gt, candidate_box, proposal_box, detection_box [4]: resized pixels."""

    stage: str
    details: str
    gt_original: Tensor
    gt: Tensor
    anchor: Optional[AnchorRef] = None
    candidate: Optional[int] = None
    candidate_box: Optional[Tensor] = None
    proposal: Optional[int] = None
    proposal_box: Optional[Tensor] = None
    detection: Optional[int] = None
    detection_box: Optional[Tensor] = None

    @property
    def lost(self) -> bool:
        return self.stage != DETECTED


def class_name(exploration: Exploration, label: int) -> str:
    names = exploration.class_names
    if label == 0:
        return "background"
    return names[label] if names and 0 < label < len(names) else f"class {label}"


def _lineage(exploration: Exploration) -> Lineage:
    if exploration.lineage is None:
        raise ValueError("this exploration has no lineage: make it with fpn.explain.explore (it traces the model's run)")
    return exploration.lineage


def why(exploration: Exploration, detection: int) -> Provenance:
    """The chain of detection `detection` (index into `exploration.detections`): anchor -> proposal -> Eq. (1) level
    and pooled features -> class scores -> final box."""
    lineage = _lineage(exploration)
    if lineage.detection_pairs is None:
        raise ValueError("this model has no Fast R-CNN head (an RPN trained alone): it makes no detections")
    num = int(lineage.detection_pairs.shape[0])
    if not 0 <= detection < num:
        raise IndexError(f"detection {detection} does not exist ({num} detections)")
    roi, label = (int(v) for v in lineage.detection_pairs[detection])
    det = exploration.detections
    level = exploration.proposal_rpn_level[roi]
    probs = lineage.class_scores[roi]
    top = torch.argsort(probs, descending=True)[:5].tolist()
    k = int(exploration.roi_levels[roi])
    return Provenance(
        detection=detection, label=label, class_name=class_name(exploration, label),
        score=float(det["scores"][detection]),
        box_original=det["boxes"][detection], box=exploration.detection_boxes_resized[detection],
        class_deltas=lineage.box_deltas[roi, 4 * label: 4 * label + 4],
        anchor=anchor_ref(exploration, int(lineage.proposal_anchors[roi])),
        rank=roi, rank_in_level=sum(1 for name in exploration.proposal_rpn_level[:roi] if name == level),
        num_proposals=int(exploration.proposals.shape[0]), proposal_box=exploration.proposals[roi],
        proposal_score=float(exploration.proposal_scores[roi]), rpn_level=level, roi_level=k,
        roi_map=next((m for m in exploration.roi_maps if int(m[1:]) == k), f"p{k}"), pooled=exploration.pooled[roi],
        top_classes=[(c, class_name(exploration, c), float(probs[c])) for c in top],
    )


def _positive_anchors(exploration: Exploration, gt: Tensor, ious: Tensor) -> Tensor:
    """Indices (into the concatenation) of the anchors positive for `gt`: the exploration's own labels when it was
    made with this box among its targets, else Sec. 4.1's rule for this box alone. An anchor with no overlap at all
    is never counted (the low-quality-match rule would label every anchor of a box no anchor overlaps)."""
    levels = list(exploration.rpn.values())
    if all(lv.labels is not None for lv in levels):
        labels = torch.cat([lv.labels for lv in levels])
        matched = torch.cat([lv.matched_boxes for lv in levels])
        mine = (matched - gt).abs().amax(dim=1) < 0.5
        if bool(mine.any()):
            return torch.nonzero((labels == POSITIVE) & mine & (ious > 0)).flatten()
    best = ious.max() if ious.numel() else torch.tensor(0.0)
    return torch.nonzero(((ious >= FG_IOU) | (ious == best)) & (ious > 0)).flatten()


def lost_where(exploration: Exploration, gt_box: Tensor, label: Optional[int] = None, iou: float = 0.5,
               min_score: float = 0.0) -> LostGT:
    """The stage that lost a ground-truth box, or DETECTED when a detection covers it.

    Args:
        gt_box: [4] (x1, y1, x2, y2) ORIGINAL-image pixels, like the detections.
        label: its class (None: a detection of any class counts; the class is then not checked at any stage).
        iou: overlap at which a box covers the GT (0.5, COCO's loosest).
        min_score: detections scoring below it do not count (the app's display threshold).
    The stage is the last one the GT's best box reached: anchors -> pre-NMS candidates -> proposals -> class scores
    -> detection post-processing.
    """
    lineage = _lineage(exploration)
    gt_original = torch.as_tensor(gt_box, dtype=torch.float32).reshape(4)
    gt = exploration.to_resized(gt_original)[0]
    out = LostGT(NO_POSITIVE_ANCHOR, "", gt_original, gt)
    det = exploration.detections
    ok = det["scores"] >= min_score
    if label is not None:
        ok &= det["labels"] == int(label)
    det_iou = box_iou(gt_original[None], det["boxes"].float())[0] if len(det["boxes"]) else torch.zeros(0)
    if bool((ok & (det_iou >= iou)).any()):
        d = int(torch.where(ok, det_iou, torch.full_like(det_iou, -1.0)).argmax())
        out.stage, out.detection = DETECTED, d
        out.detection_box = exploration.detection_boxes_resized[d]
        out.details = (f"detection #{d} ({class_name(exploration, int(det['labels'][d]))}, score "
                       f"{float(det['scores'][d]):.2f}) covers it with IoU {float(det_iou[d]):.2f}")
        return out

    anchors = torch.cat([lv.anchors for lv in exploration.rpn.values()])
    anchor_iou = box_iou(gt[None], anchors)[0]
    positives = _positive_anchors(exploration, gt, anchor_iou)
    if positives.numel() == 0:
        a = anchor_ref(exploration, int(anchor_iou.argmax()))
        out.details = (f"no anchor of any level overlaps it enough to be positive (best IoU "
                       f"{float(anchor_iou.max()):.2f}, {a.level.upper()} {a.size} px {a.ratio:g})")
        return out
    objectness = torch.tensor([anchor_ref(exploration, int(i)).objectness for i in positives])
    out.anchor = anchor_ref(exploration, int(positives[int(objectness.argmax())]))
    anchor_text = (f"{positives.numel()} positive anchor(s); the best, {out.anchor.level.upper()} {out.anchor.size} px "
                   f"{out.anchor.ratio:g} at cell {out.anchor.cell}, has objectness {out.anchor.objectness:.3f}")

    prop_iou = box_iou(gt[None], exploration.proposals)[0] if len(exploration.proposals) else torch.zeros(0)
    covering = torch.nonzero(prop_iou >= iou).flatten()
    if covering.numel() == 0:
        _rpn_stage(exploration, lineage, out, iou, anchor_text)
        return out
    out.proposal = int(covering[int(prop_iou[covering].argmax())])
    out.proposal_box = exploration.proposals[out.proposal]
    _detection_stage(exploration, lineage, out, covering, label, iou, min_score, det_iou)
    return out


def _rpn_stage(exploration: Exploration, lineage: Lineage, out: LostGT, iou: float, anchor_text: str) -> None:
    """No proposal covers the GT: the pre-NMS candidate covering it that went furthest, and the step that dropped it."""
    cand = lineage.candidates
    cand_iou = box_iou(out.gt[None], cand["boxes"])[0] if len(cand["boxes"]) else torch.zeros(0)
    covering = torch.nonzero(cand_iou >= iou).flatten()
    if covering.numel() == 0:
        out.stage = NOT_A_CANDIDATE
        out.details = (f"{anchor_text}; none of the boxes kept before NMS (the top-k by objectness per level) covers "
                       f"it with IoU >= {iou:g}")
        return
    progress = torch.tensor([_RPN_PROGRESS[int(f)] for f in cand["fates"][covering]], dtype=torch.float32)
    best = covering[int(torch.argmax(progress * 2 + cand["scores"][covering]))]  # furthest, then best objectness
    fate = int(cand["fates"][best])
    out.stage, out.candidate, out.candidate_box = _RPN_STAGES[fate], int(best), cand["boxes"][best]
    box_text = (f"its best candidate (objectness {float(cand['scores'][best]):.3f}, IoU {float(cand_iou[best]):.2f} "
                f"with it)")
    if fate == SUPPRESSED and len(exploration.proposals):
        over = box_iou(cand["boxes"][best][None], exploration.proposals)[0]
        j = int(over.argmax())
        box_text += (f" overlaps proposal #{j} (objectness {float(exploration.proposal_scores[j]):.3f}) with IoU "
                     f"{float(over[j]):.2f}")
    elif fate == CUT:
        box_text += f" ranked after the {len(exploration.proposals)} proposals kept"
    out.details = f"{anchor_text}; {box_text}"


def _detection_stage(exploration: Exploration, lineage: Lineage, out: LostGT, covering: Tensor,
                     label: Optional[int], iou: float, min_score: float, det_iou: Tensor) -> None:
    """Proposals cover the GT: what Fast R-CNN did with their (RoI, class) pairs."""
    p = out.proposal
    text = f"proposal #{p} covers it (IoU {float(box_iou(out.gt[None], exploration.proposals[p][None])[0, 0]):.2f})"
    if lineage.detection_fates is None:
        out.stage, out.details = NO_DETECTION_HEAD, f"{text}, but an RPN trained alone classifies nothing"
        return
    classes = torch.tensor([int(label) - 1]) if label is not None else torch.arange(lineage.detection_fates.shape[1])
    fates = lineage.detection_fates[covering][:, classes]  # [P_cov, C]
    scores = lineage.class_scores[covering][:, classes + 1]
    det = exploration.detections
    if bool((fates >= 0).any()):
        kept = fates[fates >= 0]
        d = int(kept[int(det["scores"][kept].argmax())])
        out.detection, out.detection_box = d, exploration.detection_boxes_resized[d]
        name, score = class_name(exploration, int(det["labels"][d])), float(det["scores"][d])
        if score < min_score:
            out.stage = SCORE_THRESHOLD
            out.details = (f"{text}; it became detection #{d} ({name}) with score {score:.2f}, below the "
                           f"{min_score:.2f} shown")
        else:
            out.stage = REGRESSED_AWAY
            out.details = (f"{text}; it became detection #{d} ({name}, {score:.2f}), whose regressed box overlaps it "
                           f"with IoU {float(det_iou[d]):.2f} only")
        return
    progress = torch.tensor([[_DET_PROGRESS[int(f)] for f in row] for row in fates], dtype=torch.float32)
    r, c = divmod(int(torch.argmax(progress * 2 + scores).item()), fates.shape[1])
    fate, best_label = int(fates[r, c]), int(classes[c]) + 1
    pair = (f"its best pair (proposal #{int(covering[r])}, {class_name(exploration, best_label)}, probability "
            f"{float(scores[r, c]):.3f})")
    if fate == CUT:
        out.stage, out.details = DETECTION_CAP, f"{text}; {pair} ranked after the {len(det['scores'])} detections kept"
    elif fate == SUPPRESSED:
        same = torch.nonzero(det["labels"] == best_label).flatten()
        near = f" (detection #{int(same[int(det_iou[same].argmax())])} of that class is nearest)" if len(same) else ""
        out.stage, out.details = DETECTION_NMS, f"{text}; {pair} was suppressed by a higher-scoring detection{near}"
    elif fate == TOO_SMALL:
        out.stage, out.details = DETECTION_TOO_SMALL, f"{text}; {pair} regressed to an empty box"
    else:
        winners = lineage.class_scores[covering].argmax(dim=1)
        probs = lineage.class_scores[p]
        top = int(probs.argmax())
        vector = f"P(background) {float(probs[0]):.2f}, best {class_name(exploration, top)} {float(probs[top]):.2f}"
        if bool((winners == 0).all()):
            out.stage = BACKGROUND
        elif label is not None and not bool(((winners == 0) | (winners == int(label))).any()):
            out.stage = WRONG_CLASS
        else:
            out.stage = SCORE_THRESHOLD
        out.details = f"{text}; every pair scored below the model's score threshold ({vector})"
