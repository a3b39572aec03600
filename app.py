#!/usr/bin/env python
"""FPN Explorer: the Gradio app.

    python app.py                       # http://127.0.0.1:7860, models from checkpoints/
    python app.py --port 8080 --checkpoints runs/ --device cpu
    python app.py --host 0.0.0.0        # reachable from other machines (you choose to expose it)
    python app.py --share               # a public gradio.live link (off unless asked for)

Privacy: binds 127.0.0.1 by default, no share link unless --share, Gradio analytics off, fonts from the system
(no Google Fonts request), uploads limited to --max-upload-mb.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported anywhere
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="FPN Explorer (Gradio app)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true", help="also open a public gradio.live link (off by default)")
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="largest accepted upload (MB)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--checkpoints", default="checkpoints", help="folder searched for CK.json + CK.safetensors")
    p.add_argument("--dataset", action="append", default=None,
                   help="COCO-format dataset folder(s) whose val images become examples (default data/pyramid_shapes)")
    return p


def create_app(checkpoints: str = "checkpoints", device: str = "auto", dataset_dirs=None):
    """(gr.Blocks, Explorer) ready to launch."""
    from app.analysis import Analyzer
    from app.examples import DATASET_DIRS, ExampleLibrary
    from app.models import ModelRegistry
    from app.ui import build_ui
    from app.views import Explorer

    registry = ModelRegistry(checkpoints, device)
    explorer = Explorer(registry, Analyzer(registry), ExampleLibrary(dataset_dirs or DATASET_DIRS))
    return build_ui(explorer), explorer


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.max_upload_mb <= 0:
        print("--max-upload-mb must be > 0", file=sys.stderr)
        return 2
    try:
        demo, explorer = create_app(args.checkpoints, args.device, args.dataset)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from app.ui import allowed_paths

    reg = explorer.registry
    print(f"FPN Explorer: {len(reg.names('detection'))} detection / {len(reg.names('mask_proposals'))} mask-proposal "
          f"model(s) on {reg.device_info()}")
    for note in reg.notes:
        print(f"note: {note}")
    demo.queue(default_concurrency_limit=2).launch(
        server_name=args.host, server_port=args.port, share=args.share,
        max_file_size=int(args.max_upload_mb * 1024 * 1024), allowed_paths=allowed_paths(explorer),
        show_error=True, ssr_mode=False, favicon_path=None,
    )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main())
