"""Why this box: the indices the model records (only with a trace) link each detection to its proposal and anchor,
consistently with the boxes; the stage that lost a ground-truth box, on cases built by hand where the answer is
known (the app's views on them: tests/test_app_why.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchvision.models.detection._utils import BoxCoder
from torchvision.ops import box_iou, clip_boxes_to_image

import fpn
import fpn.explain.provenance as P
from fpn.explain.exploration import Exploration, RPNLevel
from fpn.modeling.fates import BELOW_SCORE, CUT, SUPPRESSED, TOO_SMALL, Fates
from fpn.explain.lineage import Lineage, detection_pairs
from fpn.modeling.roi_heads import DetectionPostProcessor, box_coder
from fpn.modeling.roi_level import roi_levels
from fpn.modeling.rpn import ProposalSelector
from fpn.modeling.trace import Trace

CLASSES = ["__background__", "a", "b", "c", "d", "e"]


def tiny(variant="fpn", **options):
    torch.manual_seed(0)
    kw = dict(min_size=128, max_size=160, rpn_pre_nms_top_n_test=300, rpn_post_nms_top_n_test=100,
              box_score_thresh=0.0, class_names=CLASSES, pyramid_channels=32, representation_size=64)
    kw.update(options)
    return fpn.build_detector(variant, "resnet18", num_classes=len(CLASSES), **kw).eval()


def image():
    return torch.rand(3, 120, 150, generator=torch.Generator().manual_seed(3))


# ------------------------------------------------------------------------------------------- the recording
def test_fates_follow_candidates_through_the_filters():
    f = Fates(7)
    f.filter(torch.tensor([0, 1, 2, 4, 5, 6]), TOO_SMALL)  # candidate 3 too small
    f.filter(torch.tensor([0, 1, 3, 4, 5]), BELOW_SCORE)  # survivors are 0 1 2 4 5 6: position 2 (= 2) dropped
    fates = f.rank(torch.tensor([4, 0, 3, 1]), top_n=2)  # NMS keeps 6, 0, 5, 1 in that order; 4 suppressed
    assert fates.tolist() == [1, CUT, BELOW_SCORE, TOO_SMALL, SUPPRESSED, CUT, 0]


def test_proposal_selector_records_each_candidates_fate():
    """One level, 7 anchors: the best box, a near copy (NMS), a tiny box, a low score, a second box, a third (cut by
    the top-2 limit), and the worst, outside the top-6 before NMS."""
    boxes = torch.tensor([[0, 0, 20, 20], [0, 0, 20, 21], [30, 30, 30.5, 40], [50, 0, 70, 20], [0, 50, 20, 70],
                          [50, 50, 70, 70], [80, 80, 90, 90]], dtype=torch.float32)
    logits = torch.tensor([5.0, 4.0, 3.5, -3.0, 3.0, 2.0, -5.0])
    selector = ProposalSelector(pre_nms_top_n=6, post_nms_top_n=2, nms_thresh=0.7, score_thresh=0.1, min_size=1.0)
    candidates: list = []
    (props, scores, _, anchors, _), = selector(boxes[None], logits[None], [7], [(100, 100)], None, candidates)
    assert anchors.tolist() == [0, 4] and torch.equal(props, boxes[[0, 4]])
    rec = candidates[0]
    fate = dict(zip(rec["anchors"].tolist(), rec["fates"].tolist()))
    assert fate == {0: 0, 4: 1, 1: SUPPRESSED, 2: TOO_SMALL, 3: BELOW_SCORE, 5: CUT}  # 6: not a candidate
    again = selector(boxes[None], logits[None], [7], [(100, 100)])  # without the list: the same proposals
    assert torch.equal(again[0][0], props)


def test_detection_postprocessor_records_each_pairs_fate():
    """3 RoIs x classes a, b (zero deltas: boxes = RoIs); threshold 0.3, NMS 0.5, at most 2 detections."""
    rois = [torch.tensor([[0, 0, 20, 20], [1, 0, 21, 20], [50, 50, 80, 80]], dtype=torch.float32)]
    probs = torch.tensor([[0.1, 0.8, 0.1], [0.1, 0.7, 0.2], [0.35, 0.33, 0.32]])
    post = DetectionPostProcessor(box_coder(), score_thresh=0.3, nms_thresh=0.5, detections_per_img=2)
    fates: list = []
    out, = post(probs.log(), torch.zeros(3, 12), rois, [(100, 100)], fates)
    assert fates[0].tolist() == [[0, BELOW_SCORE], [SUPPRESSED, BELOW_SCORE], [1, CUT]]
    pairs = detection_pairs(fates[0])
    assert pairs.tolist() == [[0, 1], [2, 1]] and torch.equal(out["labels"], pairs[:, 1])
    assert torch.equal(out["boxes"], rois[0][pairs[:, 0]])


def test_a_plain_forward_records_nothing(monkeypatch):
    model = tiny()
    img = image()
    with torch.no_grad():
        plain = model([img])[0]
        _, _, trace = model.run([img])
        traced = Trace()
        model.run([img], trace=traced)
    assert trace is None and set(plain) == {"boxes", "scores", "labels"}
    assert traced.rpn.proposal_anchors and traced.rpn.candidates and traced.roi.detection_fates

    def refuse(*args, **kwargs):
        raise AssertionError("a plain forward follows candidates")

    monkeypatch.setattr(Fates, "__init__", refuse)
    with torch.no_grad():
        again = model([img])[0]  # no Fates made: nothing recorded
    assert all(torch.equal(again[k], plain[k]) for k in plain)
    with pytest.raises(AssertionError, match="follows candidates"), torch.no_grad():
        model.run([img], trace=Trace())


# ------------------------------------------------------------------------------------------- why this box
@pytest.mark.parametrize("variant", ["fpn", "c5"])
def test_each_detection_links_back_to_its_anchor(variant):
    """Decoding the recorded anchor with its recorded deltas gives the recorded proposal; decoding the proposal with
    the class's deltas gives the final box; ranks follow the objectness; scores and levels agree."""
    ex = fpn.explore(tiny(variant), image())
    h, w = ex.resized_size
    det = ex.detections
    assert len(det["scores"]) > 10
    rpn_coder, fast_coder = BoxCoder((1.0, 1.0, 1.0, 1.0)), box_coder()
    for d in range(10):
        p = fpn.why(ex, d)
        level = ex.rpn[p.anchor.level]
        assert torch.equal(p.anchor.box, level.anchors[p.anchor.index])
        assert level.anchor_shapes[p.anchor.shape] == (p.anchor.size, p.anchor.ratio)
        assert p.anchor.index // len(level.anchor_shapes) == p.anchor.cell[0] * level.grid_size[1] + p.anchor.cell[1]
        proposal = clip_boxes_to_image(rpn_coder.decode_single(p.anchor.deltas[None], p.anchor.box[None]), (h, w))[0]
        assert torch.allclose(proposal, p.proposal_box, atol=1e-3)
        assert math.isclose(p.proposal_score, p.anchor.objectness, rel_tol=1e-5)  # its score is its anchor's
        assert p.rpn_level == p.anchor.level and p.rank < p.num_proposals
        assert bool((ex.proposal_scores[: p.rank] >= p.proposal_score).all())
        assert bool((ex.proposal_scores[p.rank + 1:] <= p.proposal_score).all())
        final = clip_boxes_to_image(fast_coder.decode_single(p.class_deltas[None], p.proposal_box[None]), (h, w))[0]
        assert torch.allclose(final, p.box, atol=1e-2)
        assert p.roi_level == int(roi_levels(p.proposal_box[None], *ex.roi_level_range)[0])
        assert torch.equal(p.pooled, ex.pooled[p.rank])
        top = [c for c, _, _ in p.top_classes]
        probs = [v for _, _, v in p.top_classes]
        assert len(top) == 5 and probs == sorted(probs, reverse=True)
        assert math.isclose(dict(zip(top, probs)).get(p.label, p.score), p.score, rel_tol=1e-5)
        assert p.label == int(det["labels"][d]) and p.class_name == CLASSES[p.label]
    with pytest.raises(IndexError):
        fpn.why(ex, len(det["scores"]))


# ------------------------------------------------------------------------------------------- lost, on the model
def test_a_box_no_anchor_overlaps_has_no_positive_anchor():
    model = tiny()
    far = torch.tensor([5000.0, 5000.0, 5010.0, 5010.0])  # far outside the image: no anchor of any size overlaps it
    with_targets = fpn.explore(model, image(), {"boxes": far[None], "labels": torch.tensor([1])})
    for ex in (with_targets, fpn.explore(model, image())):
        lost = fpn.lost_where(ex, far)
        assert lost.stage == P.NO_POSITIVE_ANCHOR and lost.lost and lost.anchor is None


def _with_bias(background: float, **options):
    """A tiny model whose classifier says `background` (logit) for the background and 0 for every class."""
    model = tiny(**options)
    cls = model.roi_heads.predictor.cls_score
    with torch.no_grad():
        cls.weight.zero_()
        cls.bias.zero_()
        cls.bias[0] = background
    return model


@pytest.mark.parametrize("background, score_thresh, stage", [(-10.0, 1.0, P.SCORE_THRESHOLD),
                                                              (10.0, 0.05, P.BACKGROUND)])
def test_a_proposal_kept_then_dropped_by_fast_rcnn(background, score_thresh, stage):
    """A ground-truth box equal to a kept proposal has positive anchors and a proposal; then either every class
    scores 1/5 < threshold 1.0 (removed by the score threshold) or the background wins (classified as background)."""
    model = _with_bias(background, box_score_thresh=score_thresh)
    first = fpn.explore(model, image())
    gt = first.proposals[0] / torch.tensor(first.scale_xy * 2)  # to original-image pixels
    ex = fpn.explore(model, image(), {"boxes": gt[None], "labels": torch.tensor([1])})
    assert len(ex.detections["scores"]) == 0 and sum(ex.positives_per_level().values()) > 0
    lost = fpn.lost_where(ex, gt, label=1)
    assert lost.stage == stage and lost.anchor is not None and lost.proposal is not None, lost.details


def test_a_detected_box_is_detected():
    ex = fpn.explore(tiny(), image())
    lost = fpn.lost_where(ex, ex.detections["boxes"][0])
    assert lost.stage == P.DETECTED and not lost.lost and lost.detection == 0
    assert fpn.lost_where(ex, ex.detections["boxes"][0], min_score=1.0).stage != P.DETECTED


# ------------------------------------------------------------------------------------------- lost, by hand
GT = torch.tensor([16.0, 16.0, 48.0, 48.0])
FAR = torch.tensor([0.0, 0.0, 8.0, 8.0])


def hand_made(candidates, fates, class_scores=None, det_fates=None, det_boxes=None, det_labels=None):
    """A 64 x 64 image, one RPN map (P4, stride 16, 4 x 4 cells, one 32 px square anchor: the one at cell (2, 2) is
    GT), the given pre-NMS candidates and their fates; the proposals are the kept ones, in rank order; Fast R-CNN's
    class probabilities [P, 3] and pair fates [P, 2] (classes a, b); detections as given."""
    ys, xs = torch.meshgrid(torch.arange(4) * 16.0, torch.arange(4) * 16.0, indexing="ij")
    centres = torch.stack([xs.flatten(), ys.flatten()] * 2, dim=1)
    anchors = centres + torch.tensor([-16.0, -16.0, 16.0, 16.0])
    level = RPNLevel("p4", 16, [(32, 1.0)], anchors, torch.full((1, 4, 4), 0.5), torch.zeros(1, 4, 4, 4))
    cand = torch.stack(candidates)
    fates = torch.tensor(fates)
    kept = torch.nonzero(fates >= 0).flatten()
    kept = kept[torch.argsort(fates[kept])]
    n = len(kept)
    scores = torch.linspace(0.9, 0.5, len(cand))
    det_boxes = torch.zeros(0, 4) if det_boxes is None else torch.stack(det_boxes)
    det = {"boxes": det_boxes, "scores": torch.full((len(det_boxes),), 0.9),
           "labels": torch.tensor(det_labels or [], dtype=torch.int64)}
    lineage = Lineage(torch.zeros(n, dtype=torch.int64),
                      {"anchors": torch.arange(len(cand)), "boxes": cand, "scores": scores, "fates": fates})
    if class_scores is not None:
        lineage.class_scores = torch.tensor(class_scores)
        lineage.box_deltas = torch.zeros(n, 12)
        lineage.detection_fates = torch.tensor(det_fates)
        lineage.detection_pairs = detection_pairs(lineage.detection_fates)
    return Exploration(variant="fpn", image=torch.zeros(3, 64, 64), original_size=(64, 64), resized_size=(64, 64),
                       scale=1.0, bottom_up={}, pyramid={}, lateral={}, top_down={}, merged={}, strides={"p4": 16},
                       rpn={"p4": level}, proposals=cand[kept], proposal_scores=scores[kept],
                       proposal_rpn_level=["p4"] * n, rois=cand[kept], roi_levels=torch.full((n,), 2),
                       pooled=torch.zeros(n, 1, 7, 7), roi_maps=("p2", "p3", "p4", "p5"), detections=det,
                       class_names=["__background__", "a", "b"], lineage=lineage)


@pytest.mark.parametrize("fate, stage", [(SUPPRESSED, P.PROPOSAL_NMS), (CUT, P.PROPOSAL_TOP_N),
                                         (BELOW_SCORE, P.PROPOSAL_LOW_SCORE), (TOO_SMALL, P.PROPOSAL_TOO_SMALL)])
def test_a_covering_candidate_dropped_by_the_rpn(fate, stage):
    ex = hand_made([FAR, GT + 1.0], [0, fate])
    lost = fpn.lost_where(ex, GT)
    assert lost.stage == stage and lost.candidate == 1 and torch.equal(lost.candidate_box, GT + 1.0)
    assert lost.anchor.cell == (2, 2) and lost.proposal is None


def test_no_covering_candidate_before_nms():
    lost = fpn.lost_where(hand_made([FAR, FAR + 1.0], [0, SUPPRESSED]), GT)
    assert lost.stage == P.NOT_A_CANDIDATE and lost.candidate is None


@pytest.mark.parametrize("probs, fates, label, stage", [
    ([0.9, 0.05, 0.05], [BELOW_SCORE, BELOW_SCORE], None, P.BACKGROUND),
    ([0.2, 0.5, 0.3], [BELOW_SCORE, BELOW_SCORE], None, P.SCORE_THRESHOLD),
    ([0.1, 0.8, 0.1], [BELOW_SCORE, BELOW_SCORE], 2, P.WRONG_CLASS),
    ([0.1, 0.8, 0.1], [SUPPRESSED, BELOW_SCORE], None, P.DETECTION_NMS),
    ([0.1, 0.8, 0.1], [CUT, BELOW_SCORE], None, P.DETECTION_CAP),
    ([0.1, 0.8, 0.1], [TOO_SMALL, BELOW_SCORE], None, P.DETECTION_TOO_SMALL),
])
def test_a_covering_proposal_dropped_by_fast_rcnn(probs, fates, label, stage):
    ex = hand_made([GT + 1.0], [0], [probs], [fates])
    lost = fpn.lost_where(ex, GT, label=label)
    assert lost.stage == stage and lost.proposal == 0, lost.details


def test_a_kept_pair_regressed_away_or_below_the_shown_threshold():
    ex = hand_made([GT + 1.0], [0], [[0.1, 0.8, 0.1]], [[0, BELOW_SCORE]], [FAR], [1])
    assert fpn.lost_where(ex, GT).stage == P.REGRESSED_AWAY
    ex = hand_made([GT + 1.0], [0], [[0.1, 0.8, 0.1]], [[0, BELOW_SCORE]], [GT], [1])
    assert fpn.lost_where(ex, GT).stage == P.DETECTED
    lost = fpn.lost_where(ex, GT, min_score=0.95)
    assert lost.stage == P.SCORE_THRESHOLD and lost.detection == 0 and "0.95" in lost.details
    assert float(box_iou(lost.detection_box[None], GT[None])) == 1.0


def test_stages_are_listed_in_pipeline_order():
    assert P.STAGES[0] == P.NO_POSITIVE_ANCHOR and P.STAGES[-1] == P.DETECTED and len(set(P.STAGES)) == len(P.STAGES)
    assert np.all([isinstance(s, str) for s in fpn.STAGES])

