"""FPN Explorer: Feature Pyramid Networks for Object Detection (Lin et al., CVPR 2017), readable and open.

Public API (the app and the scripts use only these and `fpn.viz`, `fpn.data`, `fpn.mask_proposals`):
    build_detector(variant="fpn", backbone="resnet50", num_classes=91, **options) -> FasterRCNN
    build_model(task, config) -> model          ("detection" or "mask_proposals"; config = model.config)
    explore(model, image, targets=None) -> Exploration      (every internal the paper talks about)
    label_anchors(model, exploration, boxes) -> {level: labels}   (anchors against other boxes, e.g. detections)
    pool_boxes(model, exploration, boxes) -> (pooled, levels)     (Eq. (1) and RoI pooling of other boxes)
    from_torchvision(state_dict_or_path, **options) -> FasterRCNN   (torchvision fasterrcnn_resnet50_fpn weights)
    load_checkpoint(path) / read_metadata(path) / save_checkpoint(model, path, metadata)   (safetensors + JSON)
    find_checkpoints(folder), find_coco_weights()
    as_image_tensor(image), resolve_device(name)
"""
from .build import DEFAULTS, build_detector
from .checkpoint import CheckpointError, find_checkpoints, load_checkpoint, read_metadata, save_checkpoint
from .detector import FasterRCNN
from .devices import resolve_device
from .exploration import Exploration, RPNLevel
from .explore import explore, label_anchors, pool_boxes
from .images import as_image_tensor
from .tasks import TASKS, build_model
from .torchvision_interop import COCO_FILENAME, find_coco_weights, from_torchvision
from .variants import VARIANTS

__all__ = ["build_detector", "build_model", "TASKS", "FasterRCNN", "VARIANTS", "DEFAULTS", "from_torchvision",
           "explore", "label_anchors", "pool_boxes", "Exploration", "RPNLevel", "as_image_tensor", "resolve_device",
           "load_checkpoint", "read_metadata", "save_checkpoint", "find_checkpoints", "CheckpointError",
           "COCO_FILENAME", "find_coco_weights"]
