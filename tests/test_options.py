"""One validation mechanism for both builders (fpn.modeling.options): unknown option, wrong type, value out of range,
and stored configs in the options' old names."""
from __future__ import annotations

import pytest

import fpn


def test_builders_check_options_with_one_spec():
    """build_detector and build_mask_proposer: an unknown option, a wrong type or a value out of range is an error
    naming the option and its valid values; stored configs in the old names (anchor_strides, d) still build."""
    from fpn.mask_proposals import build_mask_proposer
    from fpn.modeling.options import upgrade_config

    for build in (lambda **o: fpn.build_detector("fpn", "resnet18", num_classes=3, **o),
                  lambda **o: build_mask_proposer("resnet18", **o)):
        with pytest.raises(TypeError, match="unknown option.*valid options: .*pyramid_channels"):
            build(pyramid_chanels=64)
        with pytest.raises(ValueError, match="pyramid_channels must be an integer >= 1, got 0"):
            build(pyramid_channels=0)
        with pytest.raises(TypeError, match="pyramid_channels must be an integer >= 1, got '64'"):
            build(pyramid_channels="64")
    with pytest.raises(ValueError, match="anchor_stride_rule must be one of 'level', 'padded_grid'"):
        fpn.build_detector("fpn", "resnet18", anchor_stride_rule="exact")
    with pytest.raises(TypeError, match="rpn_only must be True or False"):
        fpn.build_detector("fpn", "resnet18", rpn_only=1)
    assert upgrade_config("detection", {"anchor_strides": "torchvision"}) == {"anchor_stride_rule": "padded_grid"}
    assert upgrade_config("rpn", {"anchor_strides": "exact"}) == {"anchor_stride_rule": "level"}
    assert upgrade_config("mask_proposals", {"d": 64}) == {"pyramid_channels": 64}
    with pytest.raises(TypeError, match="old name of pyramid_channels"):
        upgrade_config("mask_proposals", {"d": 64, "pyramid_channels": 64})
    old = {"variant": "c5", "backbone": "resnet18", "num_classes": 3, "anchor_strides": "torchvision",
           "pyramid_channels": 32}
    assert fpn.build_model("detection", old).config["anchor_stride_rule"] == "padded_grid"
    assert fpn.build_model("mask_proposals", {"backbone": "resnet18", "d": 32, "hidden": 8}).pyramid.d == 32
