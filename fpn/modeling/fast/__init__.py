"""The fast inference paths, fp32 and bf16, as a conversion of the paper's modules (`convert` / `revert`).

    kernels.py   the private torch ops (oneDNN fused convolution, NNPACK Winograd), each with its plain fallback
    folding.py   BatchNorm folded into convolutions; weights cast and laid out for the kernels, cached
    fused.py     what a fused module is (shares the plain module's parameters: same state dict)
    backbone.py  the fused ResNet: bottom-up pathway, the C4 baseline's conv5 head
    heads.py     the fused convolutions of the pyramid, RPN head, RoI pooler (fp32 maps) and 2-fc head
    convert.py   convert(model, dtype) / revert(model), precision names

Same maps, other rounding: the README states how far the detections move; tests/test_fast_path.py bounds it.
"""
from .convert import (PRECISIONS, convert, inference_precision, model_device, resolve_precision,  # noqa: F401
                      revert)
from .fused import Fused  # noqa: F401
