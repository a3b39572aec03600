"""Model registry: every checkpoint under a folder (found by its JSON metadata, loaded with fpn.load_checkpoint),
torchvision's COCO Faster R-CNN R50-FPN and Detectron2's model zoo (R50/R101 C4 and FPN detectors, the RPN-only R50 C4
and FPN of Table 1), always offered: their weights are downloaded (fpn.coco_weights, fpn.detectron2_weights: hash
checked, progress) the first time they are picked. Models load lazily and stay cached."""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch

import fpn

from .errors import AppError
from .model_card import flat_metrics

TORCHVISION_COCO = "torchvision COCO R50-FPN (91 classes)"
COCO_MEGABYTES = 160  # size of torchvision's COCO_V1 file, for the notes
COMPARE_VARIANTS = ("fpn", "c4", "c5")  # Table 3's rows: what Compare shows first
FAST_RCNN_PROPOSALS = "COCO-Detection/rpn_R_50_FPN_1x"  # the RPN Detectron2's Fast R-CNN ran on
#: Proposals per image the app gives the C4 baseline's conv5 head (ModelRegistry's c4_rois): Faster R-CNN's own test
#: setting (Ren et al. 2015, 300 proposals) instead of the 1000 of the evaluations. The conv5 head runs a ResNet stage
#: on every RoI (about 4 ms per RoI on one core in bf16, 80% of c4's time at 1000), so this cuts c4 about 3x in the
#: app; on the bundled c4's held-out split it changes box AP by the amount docs/training.md states.
C4_ROIS = 300

#: The views' progress callback: (fraction 0..1, text).
Progress = Optional[Callable[[float, str], None]]


@dataclass
class ModelEntry:
    """One model the app can load. path: the checkpoint's stem (CK of CK.json + CK.safetensors) or the COCO .pth;
    metadata: the checkpoint's JSON ("model": its config, class names included; "metrics": evaluation numbers)."""

    name: str
    kind: str  # "checkpoint" | "torchvision" | "detectron2"
    task: str  # "detection" | "mask_proposals"
    path: str
    metadata: dict = field(default_factory=dict)
    #: build options the app loads the model with, over the recorded ones (the C4 head's proposals: C4_ROIS)
    options: dict = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        """Its weights are on disk (False only for the downloadable models before their download)."""
        return self.kind == "checkpoint" or all(os.path.isfile(p) for p in [self.path, *self.requires])

    @property
    def requires(self) -> list[str]:
        """Other files the model needs (Detectron2's Fast R-CNN: its RPN model's, for the proposals)."""
        return list(self.metadata.get("requires") or [])

    @property
    def config(self) -> dict:
        return dict(self.metadata.get("model") or {})

    @property
    def description(self) -> str:
        c = self.config
        if self.kind == "torchvision":
            return "torchvision fasterrcnn_resnet50_fpn COCO_V1 weights (91 classes), variant fpn, resnet50"
        if self.kind == "detectron2":
            what = "RPN only: proposals, no detections" if c.get("rpn_only") else "80 COCO classes"
            if self.requires:
                what += f", on the proposals of {self.metadata['proposals'][0]}"
            return (f"Detectron2 model zoo {self.metadata['detectron2']} ({what}), variant {c['variant']}, "
                    f"{c['backbone']}{self._rois_note()}")
        trained_on = (self.metadata.get("bundle") or {}).get("trained_on")
        parts = ["RPN only (proposals, no detections)" if c.get("rpn_only") else self.task,
                 c.get("variant", c.get("mlps", "")), c.get("backbone", ""),
                 f"min_size {c.get('min_size')}" if c.get("min_size") else "",
                 f"{trained_on}-trained" if trained_on else ""]
        return ", ".join(str(p) for p in parts if p) + self._rois_note()

    def _rois_note(self) -> str:
        rois = self.options.get("rpn_post_nms_top_n_test")
        return f", head on {rois} proposals per image (evaluated on {test_rois(self.config)})" if rois else ""

    def metrics(self) -> dict[str, Any]:
        """Flat evaluation numbers of the JSON metadata's "metrics" (app.model_card.flat_metrics), and the box AP of
        its Fast R-CNN on another model's proposals when evaluated so ("fixed_proposals": the paper's Table 2)."""
        out = flat_metrics(self.metadata.get("metrics") or {})
        fixed = self.metadata.get("fixed_proposals") or {}
        ap = (fixed.get("bbox") or {}).get("AP") if isinstance(fixed, dict) else None
        if isinstance(ap, (int, float)) and not isinstance(ap, bool):
            out[f"bbox AP on {fpn.proposer_name(fixed, 'another model')}'s proposals (Table 2)"] = round(float(ap), 4)
        return out


class ModelRegistry:
    """Args: checkpoint_dir: folder searched (recursively, 3 levels) for CK.json + CK.safetensors pairs;
    device: "auto" | "cpu" | "cuda"; max_loaded: models kept in memory (least recently used dropped);
    coco_url: where the COCO weights are downloaded from (default: torchvision's URL, or $FPN_WEIGHTS_MIRROR's);
    zoo_options: build options for Detectron2's zoo models (default: Detectron2's own, 800 px; e.g. min_size=480 on a
    slow CPU); c4_rois: proposals per image for the C4 baseline's conv5 head (default C4_ROIS; None: as recorded,
    1000). $FPN_DETECTRON2_MIRROR: a base URL serving the zoo's files instead of Detectron2's server."""

    def __init__(self, checkpoint_dir: str = "checkpoints", device: str = "auto", max_loaded: int = 6,
                 coco_url: Optional[str] = None, zoo_options: Optional[dict] = None,
                 c4_rois: Optional[int] = C4_ROIS) -> None:
        if c4_rois is not None and c4_rois < 1:
            raise ValueError(f"c4_rois must be a positive number of proposals per image, got {c4_rois}")
        self.zoo_options = dict(zoo_options or {})
        self.c4_rois = c4_rois
        self.checkpoint_dir = checkpoint_dir
        self.device = fpn.resolve_device(device)
        self.max_loaded = max_loaded
        self.coco_url = coco_url
        self.entries: dict[str, ModelEntry] = {}
        self.notes: list[str] = []
        self._loaded: "OrderedDict[str, torch.nn.Module]" = OrderedDict()
        self._lock = threading.Lock()  # the dict of loaded models only, never held while a model loads
        self._load_locks: dict[str, threading.Lock] = {}
        self._download_lock = threading.Lock()  # one download at a time; other models keep loading meanwhile
        self.scan()

    def scan(self) -> None:
        """(Re)list the checkpoints under checkpoint_dir and the COCO weights; problems become `notes`."""
        self.entries.clear()
        self.notes = []
        for stem in fpn.find_checkpoints(self.checkpoint_dir):
            try:
                meta = fpn.read_metadata(stem)
            except (fpn.CheckpointError, OSError, ValueError) as e:
                self.notes.append(f"skipped {stem}.json: {e}")
                continue
            name = os.path.relpath(stem, self.checkpoint_dir).replace(os.sep, "/")
            task = meta.get("task", "detection")
            if task == "rpn":  # an RPN trained alone (Table 1) is listed with the detectors, as the zoo's RPNs are:
                task = "detection"  # its views draw its proposals (its config says rpn_only)
            self.entries[name] = ModelEntry(name, "checkpoint", task, stem, meta)
        coco = self._find_coco()
        self.entries[TORCHVISION_COCO] = ModelEntry(TORCHVISION_COCO, "torchvision", "detection",
                                                    coco or str(fpn.hub_dir() / fpn.COCO_FILENAME), _coco_metadata())
        if coco is None:
            self.notes.append(
                f"{TORCHVISION_COCO}: picking it the first time downloads its weights ({fpn.COCO_FILENAME}, "
                f"{COCO_MEGABYTES} MB) into {fpn.hub_dir()}/ (or beforehand: `make weights`). Offline, put the file "
                f"there or in {self.checkpoint_dir}/.")
        for zoo in fpn.DETECTRON2_ZOO.values():
            path = fpn.hub_dir() / zoo.filename
            self.entries[zoo.label] = ModelEntry(zoo.label, "detectron2", "detection", str(path), _zoo_metadata(zoo))
        self.notes.append("Detectron2 model zoo: picking a model the first time downloads it (110-240 MB, md5 "
                          f"checked) into {fpn.hub_dir()}/ (or beforehand: `make weights ARGS=\"detectron2 NAME\"`).")
        for entry in self.entries.values():
            entry.options = self._options(entry.config)
        if not any(e.task == "detection" and e.ready for e in self.entries.values()):
            self.notes.append(f"No detection checkpoint found in {self.checkpoint_dir}/: train one with "
                              "scripts/train.py (it writes CK.json + CK.safetensors) or pass --checkpoints DIR.")

    def _options(self, config: dict) -> dict:
        """The app's build options over a model's recorded `config`: fewer proposals for a C4 (conv5) head."""
        if config.get("variant") == "c4" and not config.get("rpn_only") and self.c4_rois and \
                self.c4_rois < test_rois(config):
            return {"rpn_post_nms_top_n_test": self.c4_rois}
        return {}

    def _find_coco(self) -> Optional[str]:
        local = os.path.join(self.checkpoint_dir, fpn.COCO_FILENAME)
        if os.path.isfile(local):
            return local
        found = fpn.find_coco_weights()
        return str(found) if found is not None else None

    def names(self, task: Optional[str] = "detection", downloadable: bool = False) -> list[str]:
        """Model names, the full FPN first, then the paper's other variants in Table order, then by name (Detectron2's
        zoo last). Only models whose weights are on disk, unless `downloadable` (the model picker: COCO and the zoo
        are downloaded when picked)."""
        order = list(fpn.VARIANTS)

        def rank(name: str) -> tuple:  # Detectron2's zoo after the local models: a long list, downloaded on demand;
            e = self.entries[name]     # RPNs alone after the detectors
            v = e.config.get("variant")
            return (e.kind == "detectron2", bool(e.config.get("rpn_only")), order.index(v) if v in order else len(order),
                    name)

        return sorted((n for n, e in self.entries.items() if (task is None or e.task == task)
                       and (downloadable or e.ready)), key=rank)

    def compare_defaults(self, count: int = 3) -> list[str]:
        """The models Compare opens with: one checkpoint each of Table 3's variants (fpn, c4, c5), filled up to
        `count` with the other models in `names` order."""
        names = self.names("detection")
        first_of: dict[str, str] = {}
        for kind in ("checkpoint", "detectron2"):  # downloaded zoo detectors fill the variants no checkpoint has
            for n in names:
                if self.entries[n].kind == kind and not self.entries[n].config.get("rpn_only"):
                    first_of.setdefault(self.entries[n].config.get("variant"), n)
        picked = [first_of[v] for v in COMPARE_VARIANTS if v in first_of]
        return (picked + [n for n in names if n not in picked])[:max(count, len(picked))]

    def entry(self, name: str) -> ModelEntry:
        """The entry named `name`; AppError (the message the user sees) naming the models available."""
        if name not in self.entries:
            known = ", ".join(self.entries) or "none (see the notes under the model picker)"
            raise AppError(f"Unknown model {name!r}. Available: {known}")
        return self.entries[name]

    def get(self, name: str, progress: Progress = None) -> torch.nn.Module:
        """The model (eval mode, on self.device), loaded on first use; COCO's weights are downloaded first when
        missing, reporting progress(fraction, text). A failed download raises AppError (its message says why and
        where to put the file by hand)."""
        entry = self.entry(name)
        if not entry.ready:
            self._download(entry, progress)
        with self._lock:
            if name in self._loaded:
                self._loaded.move_to_end(name)
                return self._loaded[name]
            load_lock = self._load_locks.setdefault(name, threading.Lock())
        with load_lock:  # one load per model; loaded models are served meanwhile
            with self._lock:
                if name in self._loaded:
                    return self._loaded[name]
            model = self._load(entry)
            with self._lock:
                self._loaded[name] = model
                self._load_locks.pop(name, None)
                while len(self._loaded) > self.max_loaded:
                    self._loaded.popitem(last=False)
            return model

    def _load(self, entry: ModelEntry) -> torch.nn.Module:
        if entry.kind == "torchvision":
            try:
                model = fpn.from_torchvision(entry.path, class_names=entry.config["class_names"])
            except Exception as e:  # noqa: BLE001 - whatever a bad file raises (pickle, zip, keys), say which file
                raise AppError(f"{entry.path} does not hold torchvision's COCO weights ({type(e).__name__}: "
                               f"{str(e)[:200]}). Delete it; picking {entry.name} downloads it again.") from None
        elif entry.kind == "detectron2":
            try:
                proposals = {"proposals": entry.requires[0]} if entry.requires else {}
                model = fpn.from_detectron2(entry.path, **proposals, **{**self.zoo_options, **entry.options})
            except (ValueError, OSError, RuntimeError) as e:  # a damaged, truncated or refused file: say which
                raise AppError(f"{entry.path} does not hold {entry.metadata['detectron2']} ({type(e).__name__}: "
                               f"{str(e)[:200]}). Delete it; picking {entry.name} downloads it again.") from None
        else:
            model = fpn.load_checkpoint(entry.path, **entry.options)
        return model.to(self.device).eval().precision("auto")  # bf16 where the device runs it natively

    def _download(self, entry: ModelEntry, progress: Progress) -> None:
        def report(done: int, total: Optional[int]) -> None:
            if progress:
                mb = f"{done / 2 ** 20:.0f}" + (f" / {total / 2 ** 20:.0f}" if total else "")
                progress(done / total if total else 0.0, f"downloading {os.path.basename(entry.path)}: {mb} MB")

        with self._download_lock:
            if entry.ready:  # another request downloaded it meanwhile
                return
            try:
                if entry.kind == "detectron2":  # with a Fast R-CNN, its RPN model's file too
                    for name in [*entry.metadata.get("proposals", []), entry.metadata["detectron2"]]:
                        fpn.detectron2_weights(name, progress=report)
                else:
                    entry.path = str(fpn.coco_weights(progress=report, url=self.coco_url))
            except fpn.WeightsDownloadError as e:
                raise AppError(f"{entry.name} is not available yet: {e}") from None

    def device_info(self) -> str:
        if self.device.type == "cuda":
            return f"GPU: {torch.cuda.get_device_name(self.device)}"
        return f"CPU ({torch.get_num_threads()} threads; no CUDA GPU found)" if not torch.cuda.is_available() else "CPU"


def test_rois(config: dict) -> int:
    """Proposals per image a model's Fast R-CNN head reads at test time, as its `config` records (1000 when it does
    not say: the builder's default and Detectron2's)."""
    return int(config.get("rpn_post_nms_top_n_test", 1000))


def _coco_metadata() -> dict[str, Any]:
    """Metadata of torchvision's COCO_V1 weights in the checkpoints' JSON layout: config (class names) + box AP."""
    from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

    meta = FasterRCNN_ResNet50_FPN_Weights.COCO_V1.meta
    return {"model": {"variant": "fpn", "backbone": "resnet50", "num_classes": 91, "min_size": 800,
                      "class_names": list(meta["categories"])},
            "metrics": {"bbox": {"AP": meta["_metrics"]["COCO-val2017"]["box_map"]}}}


def _zoo_metadata(zoo: Any) -> dict[str, Any]:
    """A Detectron2 zoo model's metadata in the checkpoints' JSON layout: config (80 COCO classes or RPN only) + its
    published box AP or proposal AR@1000 (Detectron2's MODEL_ZOO.md)."""
    rpn_only = zoo.task == "rpn"
    metrics = {"proposals": {"AR@1000": zoo.value}} if rpn_only else {"bbox": {"AP": zoo.value}}
    config = {"variant": zoo.variant, "backbone": zoo.backbone, "num_classes": 81, "min_size": 800,
              "rpn_only": rpn_only, "class_names": None if rpn_only else ["__background__", *fpn.DETECTRON2_CLASSES]}
    meta = {"model": config, "metrics": metrics, "detectron2": zoo.name, "paper": zoo.paper}
    if zoo.task == "fast_rcnn":  # Table 2: on the proposals of rpn_R_50_FPN_1x, run live (fpn.weights.detectron2_pair)
        rpn = fpn.DETECTRON2_ZOO[FAST_RCNN_PROPOSALS]
        meta.update(proposals=[rpn.name], requires=[str(fpn.hub_dir() / rpn.filename)])
    return meta
