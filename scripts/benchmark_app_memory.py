#!/usr/bin/env python
"""The app's resident memory with six detection models loaded, and over 200 requests on different images.

    python scripts/benchmark_app_memory.py                      # the six bundled variants
    python scripts/benchmark_app_memory.py --same-architecture  # the bundled model six times under other names
    python scripts/benchmark_app_memory.py --requests 60 --size 384

Six models = the six bundled variants (fpn, bottom_up, no_lateral, p2_only, c4, c5 of checkpoints/), linked into a
temporary folder; where fewer are bundled, the first bundled detector and, of each other variant, a random-weight
net built with its sizes. All are loaded through the app's ModelRegistry (max_loaded = 6). Request i is a new image (a random
crop of one of skimage's photos, longer side `--size`) sent to model i mod 6 through one of Explorer's views in turn;
every 50th request is a Compare of all six models. Prints the resident set size (RSS, from /proc) and the peak RSS
(getrusage) after loading, at requests 20, 100 and the last: with what the caches hold, the bytes of all tensors alive
(found by the garbage collector: model weights included) and the RSS once glibc has returned its free memory
(malloc_trim), so that growth of Python-held memory (an unbounded cache) and of the allocator's free lists can be
told apart. The verdict compares, from request 100 on, the tensors alive and the trimmed RSS less what the Analyzer
holds at that moment (bounded, but its mix of models and image sizes varies). Linux with glibc (reads /proc/self/statm).
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import os
import resource
import sys
import tempfile
import time
import warnings
from typing import Any

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")
CHECKPOINTS_AT = (20, 100)


def rss_mb() -> float:
    """Resident set size of this process now, MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MiB (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def live_tensors_mb() -> float:
    """MiB of the distinct storages of every tensor the garbage collector can see (parameters included)."""
    import torch

    storages = {}
    with warnings.catch_warnings():  # isinstance on torch.distributed's deprecated aliases warns
        warnings.simplefilter("ignore")
        tensors = [obj for obj in gc.get_objects() if isinstance(obj, torch.Tensor)]
    for t in tensors:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
    return sum(storages.values()) / 2**20


def trimmed_rss_mb() -> float:
    """RSS after glibc's malloc_trim(0) has given the free heap memory back to the system (RSS as is elsewhere)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    return rss_mb()


def six_models(checkpoints: str, out: str, same_architecture: bool) -> list[str]:
    """Six detection checkpoints in `out` (the six bundled variants linked, or the first bundled one linked and five
    built), return their names."""
    import torch

    import fpn
    from app.models import ModelRegistry
    from fpn.weights.checkpoint import checkpoint_files, save_checkpoint

    bundled = ModelRegistry(checkpoints, "cpu")
    checkpoints_only = [n for n in bundled.names("detection") if bundled.entry(n).kind == "checkpoint"]
    if not same_architecture and len(checkpoints_only) >= 6:
        for n in checkpoints_only[:6]:
            for f in checkpoint_files(bundled.entry(n).path):
                os.symlink(os.path.abspath(f), os.path.join(out, os.path.basename(f)))
        return ModelRegistry(out, "cpu").names("detection")
    name = checkpoints_only[0]
    entry = bundled.entry(name)
    for f in checkpoint_files(entry.path):
        os.symlink(os.path.abspath(f), os.path.join(out, os.path.basename(f)))
    config = entry.config
    keep = ("backbone", "num_classes", "pyramid_channels", "min_size", "max_size", "representation_size", "class_names")
    torch.manual_seed(0)
    others = [v for v in fpn.VARIANTS if v != config.get("variant")][:5]
    for i, variant in enumerate(others):
        if same_architecture:
            for f in checkpoint_files(entry.path):
                base = os.path.basename(f).replace(name, f"{name}_copy{i + 1}")
                os.symlink(os.path.abspath(f), os.path.join(out, base))
            continue
        options = {k: config[k] for k in keep if config.get(k) is not None}
        model = fpn.build_detector(variant, **options)
        save_checkpoint(model, os.path.join(out, f"{variant}_{options.get('backbone', 'net')}_random"), {})
    return ModelRegistry(out, "cpu").names("detection")


def request_image(i: int, size: int, folder: str) -> str:
    """A new PNG for request i: a seeded random crop (30-100 % of each side) of one of skimage's photos, flipped at
    random, its longer side resized to `size` px."""
    import numpy as np
    import skimage.data
    from PIL import Image

    rng = np.random.default_rng(i)
    photo = np.asarray(getattr(skimage.data, PHOTOS[i % len(PHOTOS)])())[..., :3]
    h, w = photo.shape[:2]
    ch, cw = int(h * rng.uniform(0.3, 1.0)), int(w * rng.uniform(0.3, 1.0))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    crop = photo[y: y + ch, x: x + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    s = size / max(ch, cw)
    path = os.path.join(folder, f"request_{i:04d}.png")
    Image.fromarray(np.ascontiguousarray(crop)).resize((max(int(cw * s), 8), max(int(ch * s), 8))).save(path)
    return path


def request(explorer: Any, i: int, path: str, models: list[str]) -> None:
    """One request: a view of model i mod 6 on the image, or every 50th one a Compare of all models."""
    from app.choices import GTSource, RoISource

    model = models[i % len(models)]
    kind = i % 4
    if i % 50 == 49:
        explorer.compare(path, models, 0.05, 50)
    elif kind == 0:
        explorer.detect(path, model, 0.05)
    elif kind == 1:
        explorer.pyramid(path, model, "l2", 0, "p3")
    elif kind == 2:
        level = next(iter(explorer.analysis(path, model).exploration.rpn))
        explorer.anchors(path, model, level, "1:1", "point", -1, -1, GTSource.DETECTIONS.value, 0.05)
    else:
        explorer.roi_levels(path, model, list(RoISource)[i % 8 // 4].value, 0, 100, 0.05)


def caches(explorer: Any) -> str:
    held = explorer.analyzer.cached
    derived = max((len(a.cache) for a in held), default=0)
    return (f"analyses held {len(held)} (<= {explorer.analyzer.max_entries}), "
            f"{sum(a.nbytes for a in held) / 2**20:.0f} MiB of tensors (<= {explorer.analyzer.max_bytes / 2**20:.0f}); "
            f"derived results per analysis <= {derived}; models loaded {len(explorer.registry._loaded)}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoints", default="checkpoints", help="folder holding the bundled detection checkpoint")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--size", type=int, default=512, help="longer side of the request images, px")
    p.add_argument("--same-architecture", action="store_true",
                   help="the bundled model six times under different names instead of the six variants")
    args = p.parse_args(argv)

    import torch

    from app.analysis import Analyzer
    from app.examples import ExampleLibrary
    from app.models import ModelRegistry
    from app.views import Explorer

    start_rss = rss_mb()
    tmp = tempfile.mkdtemp(prefix="fpn_memory_")
    ckdir = os.path.join(tmp, "checkpoints")
    os.makedirs(ckdir)
    images = os.path.join(tmp, "images")
    os.makedirs(images)
    models = six_models(args.checkpoints, ckdir, args.same_architecture)
    registry = ModelRegistry(ckdir, "cpu")
    explorer = Explorer(registry, Analyzer(registry), ExampleLibrary(dataset_dirs=()))
    for name in models:
        registry.get(name)
    print(f"{len(models)} models: {', '.join(models)}; torch threads {torch.get_num_threads()}")
    print(f"RSS: {start_rss:.0f} MiB after imports; {rss_mb():.0f} MiB with the six models loaded "
          f"(peak {peak_rss_mb():.0f} MiB)")
    rows = []
    start = time.perf_counter()
    for i in range(args.requests):
        path = request_image(i, args.size, images)
        request(explorer, i, path, models)
        os.remove(path)
        n = i + 1
        if n in CHECKPOINTS_AT or n == args.requests:
            held = sum(a.nbytes for a in explorer.analyzer.cached) / 2**20
            row = {"n": n, "rss": rss_mb(), "peak": peak_rss_mb(), "tensors": live_tensors_mb() - held}
            row["trimmed"] = trimmed_rss_mb() - held
            rows.append(row)
            print(f"request {n:4d}: RSS {row['rss']:.0f} MiB, peak {row['peak']:.0f} MiB; {caches(explorer)}; "
                  f"outside the analyses held: tensors alive {row['tensors']:.0f} MiB, RSS after malloc_trim "
                  f"{row['trimmed']:.0f} MiB ({time.perf_counter() - start:.0f} s)", flush=True)
    if len(rows) >= 2:
        a, b = rows[-2], rows[-1]
        grows = b["tensors"] - a["tensors"] > 0.05 * a["tensors"] or b["trimmed"] - a["trimmed"] > 0.05 * a["trimmed"]
        print(f"from request {a['n']} to {b['n']}: RSS {b['rss'] - a['rss']:+.0f} MiB; outside the analyses held: "
              f"tensors alive {b['tensors'] - a['tensors']:+.0f} MiB, RSS after malloc_trim "
              f"{b['trimmed'] - a['trimmed']:+.0f} MiB; peak {peak_rss_mb():.0f} MiB: "
              f"{'STILL GROWING' if grows else 'no growth beyond noise (bounded caches)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
