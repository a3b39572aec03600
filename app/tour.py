"""The guided tour: the paper step by step on the current image and model, each step a short paragraph, a live figure
(one of the app's views) and a "try this" prompt. Steps are data; their texts are templates whose numbers ({d},
{pool}, {fc}, {anchors}, ...) come from the loaded model's metadata (app/tour_facts.py): `text(index, facts)`.

Gradio-free: app/tabs/tour.py shows the steps; `figure(explorer, step, ...)` draws one on an image.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import fpn
import fpn.viz as V

from . import snippets as S
from .choices import SQUARE, GTSource, RoISource
from .export import ViewResult



def designs(explorer: Any, path: str, model: Optional[str], score: float, progress: Any = None) -> ViewResult:
    """Fig. 1's four designs drawn with the image's own maps (fpn.viz.designs_view)."""
    a = explorer.analysis(path, model, progress)
    code = S.join(explorer.setup_code(a, path), S.designs(), S.save(["designs"]))
    return ViewResult("designs", {"designs": V.designs_view(a.exploration)},
                      {"model": a.model_name, "maps": sorted(a.exploration.bottom_up) + sorted(a.exploration.pyramid)},
                      code)


@dataclass(frozen=True)
class Step:
    """One step: its title, a paragraph (Markdown), the view that draws its figure and which of the view's images
    to show, and a prompt to try in one of the tabs."""

    title: str
    text: str
    figure: Callable[..., ViewResult]
    image: str
    try_this: str


STEPS: tuple[Step, ...] = (
    Step("Four ways to use scale (Fig. 1)",
         "Objects appear at every size. **(a)** runs the network on an image pyramid: strong features at every scale, "
         "but one run per scale. **(b)** predicts from the last map only: fast, but a small object covers less than "
         "one cell. **(c)** predicts from every stage of the network (as SSD), but the fine stages are semantically "
         "weak. **(d)** the Feature Pyramid Network adds a top-down pathway with lateral connections, so that every "
         "level has strong semantics, in one run. The figure draws them with this image's own maps.",
         designs, "designs",
         "Find the smallest object in (b): how many C5 cells does it cover? Then open **Pyramid** and click it on P2 "
         "and on P5."),
    Step("Bottom-up pathway (Sec. 3)",
         "A ResNet's stages conv2..conv5 give the maps **C2..C5**, of strides 4, 8, 16, 32 pixels: each is half as "
         "wide as the one before, with more channels and stronger semantics. In the figure every cell is a square of "
         "the same size, so the rows show the true relative resolutions; the coarse maps are zoomed (xN) to stay "
         "readable, and the grey bars keep their true widths.",
         lambda e, p, m, s, g=None: e.pyramid(p, m, "l2", 0, "p4", g), "pyramid",
         "In **Pyramid**, pick the aggregation `pca`: C2 follows edges and textures, C5 whole parts. Click the same "
         "object on C2 and on C5: the outlined cell shows how much image one cell stands for."),
    Step("Top-down pathway and lateral connections (Fig. 3)",
         "From the top, each step **upsamples** the coarser map 2x (nearest neighbour) and **adds** a 1x1 conv of "
         "C_k (the lateral connection, reducing it to {d_text}); "
         "a 3x3 conv then gives P_k. The coarse term brings semantics, the lateral term accurate positions; there are "
         "no non-linearities in these layers. P6 subsamples P5 (it only serves the RPN's largest anchors). "
         "{variant_note}",
         lambda e, p, m, s, g=None: e.pyramid(p, m, "l2", 0, "p3", g), "merge",
         "In **Pyramid**, move 'Level for Fig. 3' from P5 down to P2: the top-down term gets blockier, the lateral "
         "term sharper, and their sum has both."),
    Step("Anchors: one size per level (Sec. 4.1)",
         "The RPN head (a 3x3 conv and two 1x1 convs) is shared by all levels; {anchors}, with aspect ratios "
         "{ratios}. An anchor is **positive** if its IoU with a ground-truth box is > {fg} (or it is that box's best "
         "anchor), **negative** below {bg}, otherwise ignored. No rule sends objects to levels: they find their level "
         "through the anchor sizes.",
         lambda e, p, m, s, g=None: e.anchors(p, m, "p3", SQUARE, "point", -1, -1, GTSource.GROUND_TRUTH.value, s, g), "anchors",
         "In **Anchors**, click an object, then switch the level from P2 to P6: positives (blue) appear where the "
         "anchor size matches the object. The bar chart counts them per level."),
    Step("Eq. (1): which level pools an RoI (Sec. 4.2)",
         "Fast R-CNN pools an RoI of width w and height h from P_k, **k = floor(4 + log2(sqrt(w h) / 224))**, "
         "clamped to P2..P5: a 224x224 RoI goes to P4, one half that size to P3, twice that size to P5. Small boxes "
         "read fine maps, large boxes coarse ones, like an image pyramid would.",
         lambda e, p, m, s, g=None: e.roi_levels(p, m, RoISource.PROPOSALS.value, 0, 100, s, g), "roi_levels",
         "In **RoI -> level**, click a small box and then a large one: the formula fills in with their sizes."),
    Step("RoI pooling and the box head",
         "Whatever its size, each RoI becomes a **{pool}x{pool}** grid of features pooled from its level ({levels} "
         "in the loaded model); the same head ({head}) classifies it and refines its box at every level.",
         lambda e, p, m, s, g=None: e.roi_levels(p, m, RoISource.PROPOSALS.value, 0, 100, s, g), "pooled",
         "In **RoI -> level**, select boxes of different sizes: their pooled grids keep the same size."),
    Step("Detections (Sec. 5)",
         "The RPN's proposals of all levels, pooled by Eq. (1) and scored by the box head, after per-class "
         "non-maximum suppression: the detector's answer.",
         lambda e, p, m, s, g=None: e.detect(p, m, s, g), "detections",
         "Move the score threshold at the top of the page: the detections update here and in every view."),
    Step("The variants compared (Tables 1-3)",
         "The paper's ablations: on COCO the FPN's RPN reaches an AR1k of 56.3, against 48.3 for the single-map C4 "
         "baseline; without the top-down pathway 49.5, without the lateral connections 46.1, with P2 alone 51.3 "
         "(Table 1). With Faster R-CNN, FPN gives 33.9 AP against 31.6 for C4 (Table 3). {variants}",
         # Table 3's rows only (fpn, c4, c5: registry.compare_defaults): six columns would be too narrow to read
         lambda e, p, m, s, g=None: e.compare(p, e.registry.compare_defaults(), s, 50, g), "compare",
         "In **Compare**, tick up to six of the installed models to put them side by side; its bar charts compare "
         "their evaluation per level."),
)
TITLES: tuple[str, ...] = tuple(f"{i + 1}. {s.title}" for i, s in enumerate(STEPS))


def step_index(title: Any) -> int:
    """A step's index from its title in TITLES (or its number); out-of-range values are clamped."""
    if title in TITLES:
        return TITLES.index(title)
    try:
        return min(max(int(str(title).split(".")[0]) - 1, 0), len(STEPS) - 1)
    except ValueError:
        return 0


def text(index: int, facts: dict[str, Any]) -> str:
    """Step `index`'s paragraph with the loaded model's numbers (app.tour_facts.facts)."""
    return STEPS[index].text.format(**facts).strip()


def heading(index: int) -> str:
    return f"### Step {index + 1} of {len(STEPS)}: {STEPS[index].title}"


def figure(explorer: Any, index: int, path: str, model: Optional[str], score: float = 0.5,
           progress: Any = None) -> ViewResult:
    """The step's view drawn on the image: a ViewResult whose first image is the one the step shows."""
    step = STEPS[index]
    result = step.figure(explorer, path, model, score, progress)
    shown = {step.image: result.images[step.image]} if step.image in result.images else {}
    return ViewResult(result.name, {**shown, **result.images}, {"step": TITLES[index], **result.data}, result.code,
                      result.text)
