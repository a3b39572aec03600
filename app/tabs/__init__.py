"""The app's tabs, one module each: `build(explorer, inputs)` makes the tab's widgets and wires its events.

    detections    detect, mask_proposals (Sec. 5, 6)      pyramid       pyramid (Fig. 1d, Fig. 3)
    anchors       anchors (Sec. 4.1)                      roi_levels    roi_levels (Eq. 1)
    compare       compare (Tables 1-3)                    how_it_works  the paper, view by view
"""
from . import anchors, compare, detections, how_it_works, pyramid, roi_levels
from .shared import Inputs

#: In the order they appear.
TABS = (detections, pyramid, anchors, roi_levels, compare, how_it_works)

__all__ = ["TABS", "Inputs"]
