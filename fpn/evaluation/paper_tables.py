"""The paper's ablation tables (Tables 1, 2, 3 and 6) as markdown, our numbers beside the paper's.

Each row reads one model's evaluation report (scripts/evaluate.py / fpn.evaluation: "proposals", "bbox",
"segm_proposals", "inference_ms"); a cell is "ours (paper's)". The paper's numbers are those of NOTES.md: COCO minival,
ResNet-50, 800 px. scripts/ablation.py trains and evaluates the rows, or reads them from bundled checkpoints.
"""
from __future__ import annotations

import re

from .report import proposer_name

# Paper numbers (NOTES.md).  Table 1: AR100, AR1k, AR_s, AR_m, AR_l.  Table 3: AP50, AP, AP_s, AP_m, AP_l.
TABLE1 = {
    "c4": ("(a)", "baseline on conv4", "C4", (36.1, 48.3, 32.0, 58.7, 62.2)),
    "c5": ("(b)", "baseline on conv5", "C5", (36.3, 44.9, 25.3, 55.5, 64.2)),
    "fpn": ("(c)", "FPN", "{P_k}", (44.0, 56.3, 44.9, 63.4, 66.2)),
    "bottom_up": ("(d)", "bottom-up pyramid", "{P_k}", (37.4, 49.5, 30.5, 59.9, 68.0)),
    "no_lateral": ("(e)", "top-down pyramid, w/o lateral", "{P_k}", (34.5, 46.1, 26.5, 57.4, 64.7)),
    "p2_only": ("(f)", "only finest level", "P2", (38.4, 51.3, 35.1, 59.7, 67.6)),
}
TABLE3 = {
    "c4": ("(a)", "baseline on conv4", (53.1, 31.6, 13.2, 35.6, 47.1)),
    "c5": ("(b)", "baseline on conv5", (51.7, 28.0, 9.6, 31.9, 43.1)),
    "fpn": ("(c)", "FPN", (56.9, 33.9, 17.8, 37.7, 45.8)),
}
# Table 2 (Fast R-CNN on fixed FPN proposals): its own table, and beside Table 3 for the variants Table 3 lacks.
TABLE2 = {
    "c4": ("(a)", "baseline on conv4", (54.7, 31.9, 15.7, 36.5, 45.5)),
    "c5": ("(b)", "baseline on conv5", (52.9, 28.8, 11.9, 32.4, 43.4)),
    "fpn": ("(c)", "FPN", (56.9, 33.9, 17.8, 37.7, 45.8)),
    "bottom_up": ("(d)", "bottom-up pyramid", (44.9, 24.9, 10.9, 24.4, 38.5)),
    "no_lateral": ("(e)", "top-down, no lateral", (54.0, 31.3, 13.3, 35.2, 45.3)),
    "p2_only": ("(f)", "only finest level", (56.3, 33.4, 17.3, 37.3, 45.6)),
}
# Table 6: AR, AR_s, AR_m, AR_l (1000 proposals), time (s).
TABLE6 = {
    "single mlp 5x5": (43.4, 32.5, 49.2, 53.7, 0.15),
    "single mlp 7x7": (43.5, 30.0, 49.6, 57.8, 0.19),
    "dual mlp 5x5 7x7": (45.7, 31.9, 51.5, 60.8, 0.24),
    "2x mask resolution": (46.7, 31.7, 53.1, 63.2, 0.25),
    "2x train schedule": (48.1, 32.6, 54.2, 65.6, 0.25),
}
ORDER = ("c4", "c5", "fpn", "bottom_up", "no_lateral", "p2_only")
PROTOCOL_TABLE1 = {
    "rpn": "Protocol: each RPN trained alone (`--task rpn`), as the paper's Table 1 (Sec. 5.1).",
    "joint": "Protocol: proposals of the jointly trained Faster R-CNN (RPN and Fast R-CNN share the backbone); the "
             "paper's Table 1 trains the RPN alone (`scripts/ablation.py --table1 rpn` does).",
}
PROTOCOL_TABLE2 = ("Protocol: each detector's Fast R-CNN run at test time on {proposer} (1000 per image) instead of its "
                   "own RPN's, as the paper's Table 2 runs every head on the proposals of the FPN RPN of its Table 1 "
                   "(c); the paper also trains each head on those proposals, ours were trained end to end on their "
                   "own RPN's.")
PROTOCOL_TABLE3 = ("Protocol: Faster R-CNN trained end to end with features shared between RPN and Fast R-CNN; the "
                   "paper's Table 3 does not share features (for simplicity; sharing is its Table 5), so our rows and "
                   "its numbers differ in protocol as well as in data, backbone and schedule.")


def fmt(v) -> str:
    """A percentage with one decimal, or "n/a"."""
    return "n/a" if v is None else f"{v:.1f}"


def cell(ours, paper) -> str:
    """"ours (paper's)", or ours alone when the paper has no number."""
    return f"{fmt(ours)} ({fmt(paper)})" if paper is not None else fmt(ours)


def paper_table6_row(name: str):
    """The paper's Table 6 numbers (AR, AR_s, AR_m, AR_l, seconds) of a row named like ours, or None."""
    key = re.sub(r"[^a-z0-9x ]+", " ", name.lower())
    key = " ".join(key.replace("single", "single mlp").replace("mlp mlp", "mlp").split())
    if "28" in key or "2x mask" in key:
        return TABLE6["2x mask resolution"]
    if "schedule" in key:
        return TABLE6["2x train schedule"]
    if "dual" in key:
        return TABLE6["dual mlp 5x5 7x7"]
    if "7x7" in key:
        return TABLE6["single mlp 7x7"]
    if "5x5" in key:
        return TABLE6["single mlp 5x5"]
    return None


def table1(results: dict[str, dict]) -> str:
    """Table 1's rows (variant -> evaluation report with "proposals") in the paper's order and layout."""
    lines = ["| | RPN | feature | AR100 | AR1k | AR_s 1k | AR_m 1k | AR_l 1k |", "|---|---|---|---|---|---|---|---|"]
    for v in ORDER:
        if v not in results:
            continue
        row, name, feat, paper = TABLE1[v]
        p = results[v].get("proposals", {})
        ours = [p.get(k) for k in ("AR@100", "AR@1000", "AR_s@1000", "AR_m@1000", "AR_l@1000")]
        lines.append(f"| {row} | {name} (`{v}`) | {feat} | " + " | ".join(cell(o, q) for o, q in zip(ours, paper))
                     + " |")
    return "\n".join(lines)


def table2(results: dict[str, dict]) -> str:
    """Table 2's rows (variant -> report with "bbox" of its Fast R-CNN on fixed proposals) in the paper's order."""
    lines = ["| | Fast R-CNN on fixed proposals | AP@0.5 | AP | AP_s | AP_m | AP_l |", "|---|---|---|---|---|---|---|"]
    for v in ORDER:
        if v not in results:
            continue
        row, name, paper = TABLE2[v]
        b = results[v].get("bbox", {})
        ours = [b.get(k) for k in ("AP50", "AP", "AP_s", "AP_m", "AP_l")]
        lines.append(f"| {row} | {name} (`{v}`) | " + " | ".join(cell(o, q) for o, q in zip(ours, paper)) + " |")
    return "\n".join(lines)


def proposers_of(results: dict[str, dict]) -> str:
    """Whose proposals Table 2's rows read: "the proposals of `fpn_rpn_resnet18_cpu`", or each proposer with its
    rows (never one claimed for all)."""
    by: dict[str, list[str]] = {}
    for v in ORDER:
        if v in results:
            by.setdefault(proposer_name(results[v]), []).append(v)
    if len(by) == 1:
        return f"the proposals of `{next(iter(by))}`"
    return "**different proposals** (a bundle being retrained): " + "; ".join(
        f"those of `{p}` for " + ", ".join(f"`{v}`" for v in rows) for p, rows in by.items())


def table3(results: dict[str, dict]) -> str:
    """Table 3's rows (variant -> report with "bbox"); variants Table 3 lacks get their Table 2 row's numbers."""
    lines = ["| | Faster R-CNN | AP@0.5 | AP | AP_s | AP_m | AP_l |", "|---|---|---|---|---|---|---|"]
    for v in ORDER:
        if v not in results:
            continue
        b = results[v].get("bbox", {})
        ours = [b.get(k) for k in ("AP50", "AP", "AP_s", "AP_m", "AP_l")]
        if v in TABLE3:
            row, name, paper = TABLE3[v]
            note = ""
        else:
            row, name, paper = TABLE2[v]
            note = " *"
        lines.append(f"| {row} | {name} (`{v}`){note} | " + " | ".join(cell(o, q) for o, q in zip(ours, paper))
                     + " |")
    if any(v in results for v in TABLE2):
        lines.append("\n\\* not in the paper's Table 3; the number in parentheses is its Table 2 row (Fast R-CNN on "
                     "fixed FPN proposals, a different protocol).")
    return "\n".join(lines)


def table6(results: dict[str, dict]) -> str:
    """Table 6's rows (row name -> report with "segm_proposals" and "inference_ms")."""
    lines = ["| mask proposals | AR | AR_s | AR_m | AR_l | time (s) |", "|---|---|---|---|---|---|"]
    for name, r in results.items():
        s = r.get("segm_proposals", {})
        ms = (r.get("inference_ms") or {}).get("mean")
        ours = [s.get(k) for k in ("AR@1000", "AR_s@1000", "AR_m@1000", "AR_l@1000")]
        ours.append(None if ms is None else ms / 1000)
        paper = paper_table6_row(name) or (None,) * 5
        cells = [cell(o, q) for o, q in zip(ours[:4], paper[:4])]
        t = "n/a" if ours[4] is None else f"{ours[4]:.2f}"
        cells.append(t + (f" ({paper[4]:.2f})" if paper[4] is not None else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ordering(ours: dict[str, float | None], paper: dict[str, float], metric: str) -> str:
    """One line on the variants' order by ``metric``, ours against the paper's, over the variants both have (best
    first): "Order by AP: ours `fpn` 31.4 > `p2_only` 16.1 > `c5` 3.7; the paper's `fpn` 33.9 > `p2_only` 33.4 >
    `c5` 28.8: the same order." or "...: 1 of 3 pairs in the other order: `c4` / `c5`." A tie is in neither order.
    "" when fewer than two variants compare."""
    common = [v for v in ORDER if isinstance(ours.get(v), (int, float)) and v in paper]
    if len(common) < 2:
        return ""

    def chain(values: dict) -> str:
        return " > ".join(f"`{v}` {values[v]:.1f}" for v in sorted(common, key=lambda v: -values[v]))

    pairs = [(a, b) for i, a in enumerate(common) for b in common[i + 1:]]
    swapped = [(a, b) for a, b in pairs if (ours[a] - ours[b]) * (paper[a] - paper[b]) < 0]
    verdict = ("the same order" if not swapped else f"{len(swapped)} of {len(pairs)} pairs in the other order: "
               + ", ".join(f"`{a}` / `{b}`" for a, b in swapped))
    return f"Order by {metric}: ours {chain(ours)}; the paper's {chain(paper)}: {verdict}."


def orderings(table: str, results: dict[str, dict]) -> str:
    """`ordering` for one table's rows: "1" (AR@1000 of "proposals"), "2" or "3" (AP of "bbox"; Table 3's paper rows
    only: its other rows' numbers are Table 2's, another protocol)."""
    if table == "1":
        return ordering({v: r.get("proposals", {}).get("AR@1000") for v, r in results.items()},
                        {v: row[3][1] for v, row in TABLE1.items()}, "AR1k")
    paper = TABLE2 if table == "2" else TABLE3
    return ordering({v: r.get("bbox", {}).get("AP") for v, r in results.items()},
                    {v: row[2][1] for v, row in paper.items()}, "AP")


def mask_row_name(config: dict) -> str:
    """The Table 6 row a mask proposer's config (fpn.modeling.mask_proposals.build_mask_proposer) belongs to."""
    mlps = config.get("mlps", "dual")
    name = "dual MLP [5x5, 7x7]" if mlps == "dual" else f"single MLP [{mlps}]"
    return "+ 2x mask resolution" if mlps == "dual" and config.get("mask_size") == 28 else name


def document(protocol: str, detection: dict[str, dict], rpn: dict[str, dict] | None = None,
             mask: dict[str, dict] | None = None, figure: str | None = None, training: str | None = None,
             fixed: dict[str, dict] | None = None) -> str:
    """The tables as one markdown document.

    Args:
        protocol: a sentence (or more) on how every row was trained and evaluated, printed under the title.
        detection: variant -> report of the jointly trained Faster R-CNN (Table 3; Table 1 unless ``rpn``).
        rpn: variant -> report of the RPN trained alone (Table 1's own protocol), if any.
        mask: Table 6 row name -> report of a mask proposer.
        figure: file name of the bar chart to show under Table 3.
        training: a markdown table of each model's training cost and plateau evidence, shown last.
        fixed: variant -> report of its Fast R-CNN on another model's proposals (Table 2's protocol at test time,
            with "proposals_from"), if any.
    """
    parts = ["# FPN ablations", "", "Our numbers first, the paper's (COCO minival, ResNet-50, 800 px) in parentheses. "
             + protocol, ""]
    if rpn:  # the paper's protocol first; the joint detectors' proposals below it, for comparison
        parts += ["## Table 1: RPN (bounding-box proposals, AR in percent)", "", PROTOCOL_TABLE1["rpn"], "",
                  table1(rpn), "", orderings("1", rpn), ""]
    if detection:
        title = "Table 1 from the jointly trained detectors" if rpn else "Table 1: RPN"
        parts += [f"## {title} (bounding-box proposals, AR in percent)", "", PROTOCOL_TABLE1["joint"], "",
                  table1(detection), "", orderings("1", detection), ""]
    if fixed:
        parts += ["## Table 2: Fast R-CNN on fixed proposals (box AP in percent)", "",
                  PROTOCOL_TABLE2.format(proposer=proposers_of(fixed)), "", table2(fixed), "",
                  orderings("2", fixed), ""]
    if detection:
        parts += ["## Table 3: Faster R-CNN (box AP in percent)", "", PROTOCOL_TABLE3, "", table3(detection), "",
                  orderings("3", detection), ""]
        if figure:
            parts += [f"![ablation]({figure})", ""]
    if mask:
        parts += ["## Table 6: mask proposals (segment AR at 1000 proposals, percent)", "", table6(mask), ""]
    if training:
        parts += ["## Training: hours per model and plateau evidence", "", training, ""]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(parts))  # a table without an order line: one blank line
