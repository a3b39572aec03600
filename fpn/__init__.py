"""FPN Explorer: Feature Pyramid Networks for Object Detection (Lin et al., CVPR 2017), readable and open.

Public API (the app and the scripts use only these and `fpn.viz`, `fpn.data`, `fpn.modeling.mask_proposals`):
    build_detector(variant="fpn", backbone="resnet50", num_classes=91, **options) -> FasterRCNN
    build_model(task, config) -> model          ("detection", "rpn" or "mask_proposals"; config = model.config)
    explore(model, image, targets=None) -> Exploration      (every internal the paper talks about)
    label_anchors(model, exploration, boxes) -> {level: labels}   (anchors against other boxes, e.g. detections)
    pool_boxes(model, exploration, boxes) -> (pooled, levels)     (Eq. (1) and RoI pooling of other boxes)
    from_torchvision(state_dict_or_path, **options) -> FasterRCNN   (torchvision fasterrcnn_resnet50_fpn weights)
    from_detectron2(zoo_name_or_path, **options) -> FasterRCNN      (Detectron2 model zoo: C4 / FPN / RPN-only, exact)
    FixedProposals(detector, proposer).predict(images)   (one model's Fast R-CNN on another's proposals: Table 2)
    DETECTRON2_ZOO, detectron2_weights(name)   (the zoo's models: names, URLs, published AP / AR; md5-checked download)
    load_checkpoint(path) / read_metadata(path) / save_checkpoint(model, path, metadata)   (safetensors + JSON)
    find_checkpoints(folder), find_coco_weights()
    as_image_tensor(image), resolve_device(name)
    why(exploration, detection) -> Provenance       (a detection's anchor, proposal, Eq. (1) level, class scores)
    lost_where(exploration, gt_box) -> LostGT       (the stage that lost a ground-truth box; STAGES)
    recall_per_level(exploration, gt_boxes)         (one image's recall per RPN level / Eq. (1) level)
    detection_kinds(boxes, scores, labels, gt_boxes, gt_labels)   (each box correct, a duplicate, the wrong class,
                                                     a group, a part, poorly localised or background; ERROR_KINDS)
    scale_sweep(model, image, box, scales) -> ScaleSweep      (an object's level as the image is rescaled)
    receptive_field(model, image, level, cell) -> ReceptiveField   (theoretical + effective receptive field of a cell)
    download_weights(url, folder) / coco_weights() / imagenet_weights("resnet50")   (hash-checked, torch hub cache)
"""
from .modeling.build import DEFAULTS, build_detector
from .weights.checkpoint import CheckpointError, find_checkpoints, load_checkpoint, read_metadata, save_checkpoint
from .modeling.detector import FasterRCNN
from .modeling.fixed_proposals import FixedProposals
from .devices import resolve_device
from .explain.exploration import Exploration, RPNLevel
from .explain.explore import explore, label_anchors, pool_boxes
from .hub import WeightsDownloadError, coco_weights, download_weights, hub_dir, imagenet_weights
from .images import as_image_tensor
from .explain.level_recall import recall_per_level
from .explain.provenance import STAGES, LostGT, Provenance, lost_where, why
from .explain.receptive_field import RF_LEVELS, ReceptiveField, receptive_field, receptive_field_levels
from .explain.scale_sweep import DEFAULT_SCALES, ScaleSweep, SweepRow, scale_sweep
from .modeling.tasks import TASKS, build_model
from .weights.torchvision import COCO_FILENAME, find_coco_weights, from_torchvision
from .weights.detectron2 import from_detectron2
from .weights.detectron2_zoo import COCO_THING_CLASSES as DETECTRON2_CLASSES, ZOO as DETECTRON2_ZOO, \
    zoo_weights as detectron2_weights
from .modeling.variants import VARIANTS
from .evaluation.error_types import KINDS as ERROR_KINDS, detection_kinds
from .evaluation.report import proposer_name

__all__ = ["build_detector", "build_model", "TASKS", "FasterRCNN", "FixedProposals", "VARIANTS", "DEFAULTS", "from_torchvision", "from_detectron2", "DETECTRON2_ZOO",
           "DETECTRON2_CLASSES", "detectron2_weights",
           "explore", "label_anchors", "pool_boxes", "Exploration", "RPNLevel", "as_image_tensor", "resolve_device",
           "load_checkpoint", "read_metadata", "save_checkpoint", "find_checkpoints", "CheckpointError",
           "COCO_FILENAME", "find_coco_weights",
           "scale_sweep", "ScaleSweep", "SweepRow", "DEFAULT_SCALES",
           "receptive_field", "receptive_field_levels", "ReceptiveField", "RF_LEVELS",
           "download_weights", "coco_weights", "imagenet_weights", "hub_dir", "WeightsDownloadError",
           "why", "lost_where", "Provenance", "LostGT", "STAGES", "recall_per_level", "detection_kinds", "ERROR_KINDS",
           "proposer_name"]
