"""The app's tabs, one module each: `build(explorer, inputs)` makes the tab's widgets and wires its events.

    detections    detect, mask_proposals (Sec. 5, 6)      pyramid       pyramid (Fig. 1d, Fig. 3)
    anchors       anchors (Sec. 4.1)                      roi_levels    roi_levels (Eq. 1)
    compare       compare (Tables 1-3)                    tour          the paper step by step (app/tour.py)
    scale_sweep   scale_sweep (Sec. 3, 4.1, Eq. 1)        receptive_field  receptive_field (C2..C5, P2..P6)
    why           why_box, lost_gt, level_metrics (provenance of a detection; evaluation per level)
"""
from . import anchors, compare, detections, pyramid, roi_levels, tour
from . import receptive_field, scale_sweep
from . import why
from .shared import Inputs

#: In the order they appear.
TABS = (detections, pyramid, anchors, roi_levels, why, compare, scale_sweep, receptive_field, tour)

__all__ = ["TABS", "Inputs"]
