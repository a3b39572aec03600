"""FPN Explorer: Feature Pyramid Networks for Object Detection (Lin et al., CVPR 2017), readable and open.

Public API:
    build_detector(variant="fpn", backbone="resnet50", num_classes=91, **options) -> FasterRCNN
    explore(model, image, targets=None) -> Exploration      (every internal the paper talks about)
    label_anchors(model, exploration, boxes) -> {level: labels}   (anchors against other boxes, e.g. detections)
    from_torchvision(state_dict_or_path, **options) -> FasterRCNN   (torchvision fasterrcnn_resnet50_fpn weights)
    load_checkpoint(path) / save_checkpoint(model, path, metadata)   (safetensors + JSON metadata)
"""
from .build import DEFAULTS, build_detector
from .checkpoint import load_checkpoint, save_checkpoint
from .detector import FasterRCNN
from .explore import Exploration, RPNLevel, explore, label_anchors
from .torchvision_interop import from_torchvision
from .variants import VARIANTS

__all__ = ["build_detector", "FasterRCNN", "VARIANTS", "DEFAULTS", "from_torchvision", "explore", "label_anchors", "Exploration", "RPNLevel",
           "load_checkpoint", "save_checkpoint"]
