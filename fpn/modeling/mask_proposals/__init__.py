"""Sec. 6 of the FPN paper: segmentation mask proposals (DeepMask-style MLPs on the feature pyramid).

See docs/mask_proposals.md for the exact training-target and inference rules.
"""
from .explore import MaskProposalExploration, explore_mask_proposals
from .inference import MaskProposalPostProcessor
from .loss import MaskProposalLoss
from .mlp import MaskMLP
from .model import MaskProposer, build_mask_proposer
from .paste import (
    encode_proposals,
    iter_pasted_masks,
    mask_boxes,
    paste_mask,
    paste_masks,
)
from .scales import LEVELS, MLP_CHOICES, MLP_INDEX, WindowScale, window_scales
from .targets import assign_windows, crop_mask_targets, window_centres, window_regions

__all__ = [
    "LEVELS", "MLP_CHOICES", "MLP_INDEX", "MaskMLP", "MaskProposalExploration", "MaskProposalLoss",
    "MaskProposalPostProcessor", "MaskProposer", "WindowScale", "assign_windows", "build_mask_proposer",
    "crop_mask_targets", "encode_proposals", "explore_mask_proposals", "iter_pasted_masks", "mask_boxes",
    "paste_mask", "paste_masks", "window_centres", "window_regions", "window_scales",
]
