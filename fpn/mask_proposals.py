"""Sec. 6 mask proposals, the public face of `fpn.modeling.mask_proposals` (the documented subpackage name).

The model lives with the other models in `fpn/modeling/mask_proposals/`; the app and scripts import from here.
"""
from .modeling.mask_proposals import *  # noqa: F401,F403 (the public names, listed in __all__)
from .modeling.mask_proposals import __all__  # noqa: F401
