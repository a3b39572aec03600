"""The values a person can pick in the app, derived from the library so that no list is written twice.

Gradio-free: the views validate their arguments against these, and the tabs offer them as choices. A pick between
named options is a `Choice` enum: its members' values are the labels the UI shows and the API accepts (gradio_client
callers pass the label text), and the views compare the parsed member by identity, never a label by its position.
"""
from __future__ import annotations

from enum import Enum
from fractions import Fraction
from typing import Any, Optional, TypeVar

import fpn
import fpn.viz as V

from .errors import AppError

C = TypeVar("C", bound="Choice")


class Choice(str, Enum):
    """One of a fixed set of options; value = the label (a str, so Gradio and the API see plain text)."""

    @classmethod
    def labels(cls) -> list[str]:
        """The labels in display order (the first is the default)."""
        return [m.value for m in cls]

    @classmethod
    def parse(cls: type[C], value: Any, what: str) -> C:
        """The member whose label is `value` (a member passes through); AppError naming `what` and the labels."""
        try:
            return cls(value)
        except ValueError:
            raise AppError(f"Unknown {what} {value!r}; choose one of {', '.join(cls.labels())}.") from None


class AnchorMode(Choice):
    """Anchors around one point, or every position tinted by its label (fpn.viz.anchors_view's modes)."""

    POINT = "point"
    DENSITY = "density"


class GTSource(Choice):
    """What the anchors are labelled against."""

    GROUND_TRUTH = "ground truth (dataset images)"
    DETECTIONS = "detections as pseudo ground truth"


class RoISource(Choice):
    """Which boxes the RoI -> level view assigns to levels."""

    PROPOSALS = "proposals (the RoIs Fast R-CNN pooled)"
    DETECTIONS = "detections"


class ObjectSource(Choice):
    """Where the scale sweep's object comes from."""

    GROUND_TRUTH = "ground truth"
    DETECTIONS = "detections"


#: How the channels of a map become one picture (fpn.viz): L2 norm, PCA to RGB, one channel, mean.
AGGREGATIONS: tuple[str, ...] = tuple(V.AGGREGATIONS)
#: Every map an RPN runs on in one of the paper's variants: P2..P6 (FPN), then the single-scale C4 / C5.
ANCHOR_LEVELS: tuple[str, ...] = tuple(dict.fromkeys(m for v in fpn.VARIANTS.values() for m in v.rpn_anchors))
#: The levels Fig. 3 builds by a lateral + top-down merge: the full FPN's Eq. (1) maps P2..P5 (P6 only subsamples P5).
MERGE_LEVELS: tuple[str, ...] = tuple(fpn.VARIANTS["fpn"].roi_maps)
#: How many models the Compare view puts side by side.
MIN_COMPARE, MAX_COMPARE = 2, 6
ALL_RATIOS = "all"


def ratio_label(ratio: float) -> str:
    """0.5 -> "1:2 (0.5)": an aspect ratio (height / width) as h:w with its value."""
    f = Fraction(ratio).limit_denominator(16)
    return f"{f.numerator}:{f.denominator} ({ratio:g})"


#: Aspect-ratio choice -> value (None: all), from the detector's default anchor aspect ratios (Sec. 4.1).
RATIOS: dict[str, Optional[float]] = {**{ratio_label(r): float(r) for r in fpn.DEFAULTS["aspect_ratios"]},
                                      ALL_RATIOS: None}
#: The aspect ratio shown first: square anchors.
SQUARE = ratio_label(1.0)


def parse_ratio(choice: Any) -> Optional[float]:
    """An aspect-ratio choice ("1:2 (0.5)"), "h:w" ("1:2"), a number (0.5) or "all" -> height / width (None: all).
    Raises ValueError with the accepted forms."""
    if choice is None:
        return None
    if choice in RATIOS:
        return RATIOS[choice]
    text = str(choice).split("(")[0].strip()
    try:
        if ":" in text:
            h, w = text.split(":")
            value = float(h) / float(w)
        else:
            value = float(text)
    except (TypeError, ValueError, ZeroDivisionError):
        value = -1.0
    if not value > 0:
        raise ValueError(f"Unknown aspect ratio {choice!r}; choose one of {', '.join(RATIOS)} (or h:w, or a number).")
    return value
