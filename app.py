#!/usr/bin/env python
"""FPN Explorer: the Gradio app.

    python app.py                       # http://127.0.0.1:7860, models from checkpoints/
    python app.py --port 8080 --checkpoints runs/ --device cpu
    python app.py --host 0.0.0.0        # reachable from other machines (you choose to expose it)
    python app.py --share               # a public gradio.live link (off unless asked for)

--host / --port default to $GRADIO_SERVER_NAME / $GRADIO_SERVER_PORT when set (the Gradio convention), else
127.0.0.1 / 7860. Privacy: binds 127.0.0.1 by default, no share link unless --share, Gradio analytics off, fonts
from the system (no Google Fonts request), uploads limited to --max-upload-mb.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported anywhere
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# numpy's BLAS threads would compete with torch's on a small CPU (the PCA view: 70-360 ms with them, 4-28 ms without)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 7860


def port_number(text: str) -> int:
    """argparse type of --port (and of $GRADIO_SERVER_PORT, its default)."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return port


def build_parser() -> argparse.ArgumentParser:
    """The command line; reads $GRADIO_SERVER_NAME / $GRADIO_SERVER_PORT for the defaults of --host / --port."""
    host = os.environ.get("GRADIO_SERVER_NAME") or DEFAULT_HOST
    port = os.environ.get("GRADIO_SERVER_PORT") or str(DEFAULT_PORT)
    p = argparse.ArgumentParser(description="FPN Explorer (Gradio app)")
    p.add_argument("--host", default=host,
                   help=f"interface to bind (default: $GRADIO_SERVER_NAME, else {DEFAULT_HOST}: this machine only)")
    p.add_argument("--port", type=port_number, default=port,
                   help=f"port (default: $GRADIO_SERVER_PORT, else {DEFAULT_PORT})")
    p.add_argument("--share", action="store_true", help="also open a public gradio.live link (off by default)")
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="largest accepted upload (MB)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--checkpoints", default="checkpoints", help="folder searched for CK.json + CK.safetensors")
    p.add_argument("--c4-rois", type=int, default=300, metavar="N",
                   help="proposals per image for the C4 baseline's conv5 head (default 300, Faster R-CNN's test "
                        "setting, about 3x faster than the 1000 the models were evaluated with; 0: 1000)")
    p.add_argument("--dataset", action="append", default=None,
                   help="COCO-format dataset folder(s) whose val images become examples (default data/pyramid_shapes)")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.max_upload_mb <= 0:
        parser.error("--max-upload-mb must be > 0")
    if args.c4_rois < 0:
        parser.error("--c4-rois must be >= 0 (0: the 1000 proposals the models were evaluated with)")
    from app.server import create_app, launch_options, queued

    try:
        demo, explorer = create_app(args.checkpoints, args.device, args.dataset, args.c4_rois or None)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    reg = explorer.registry
    print(f"FPN Explorer: {len(reg.names('detection'))} detection / {len(reg.names('mask_proposals'))} mask-proposal "
          f"model(s) on {reg.device_info()}")
    for note in reg.notes:
        print(f"note: {note}")
    queued(demo).launch(
        **launch_options(explorer, args.host, args.port, args.share, args.max_upload_mb))
    return 0


if __name__ == "__main__":
    sys.exit(main())
