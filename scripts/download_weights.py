#!/usr/bin/env python
"""Download pretrained weights into torch's hub cache (torch.hub.get_dir()/checkpoints), sha256-checked.

    python scripts/download_weights.py                      # torchvision's COCO R50-FPN (160 MB): the app's COCO model
    python scripts/download_weights.py imagenet resnet50    # an ImageNet backbone for backbone_weights="imagenet"
    python scripts/download_weights.py coco --url https://my.mirror/models/    # a mirror: a base URL ...
    python scripts/download_weights.py coco --url https://my.mirror/models/fasterrcnn_resnet50_fpn_coco-258fb6c6.pth
    python scripts/download_weights.py detectron2 COCO-Detection/faster_rcnn_R_50_C4_1x   # a Detectron2 zoo model

The file's sha256 must start with the hex digits in torchvision's file name (for Detectron2's zoo, its md5 with the six
in model_final_XXXXXX.pkl), whatever --url says; nothing
half-written is left behind. Exit status 0: the file is there (its path is printed); 2: it could not be downloaded
(the message says how to place it by hand). $FPN_WEIGHTS_MIRROR replaces download.pytorch.org; it takes the same value
as --url (a base URL serving the same file names, or the file's own URL).
"""
from __future__ import annotations

import argparse
import sys

import fpn

DEPTHS = ("resnet18", "resnet34", "resnet50", "resnet101")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", nargs="?", default="coco", choices=["coco", "imagenet", "detectron2"],
                   help="coco: torchvision's fasterrcnn_resnet50_fpn COCO_V1; imagenet: a ResNet backbone; "
                        "detectron2: a model of Detectron2's zoo (fpn.weights.detectron2_zoo.ZOO)")
    p.add_argument("depth", nargs="?", default=None,
                   help=f"imagenet: the ResNet ({', '.join(DEPTHS)}; default resnet50); detectron2: the zoo name")
    p.add_argument("--url", default=None, help="download from this mirror instead: a base URL serving the same file "
                   "names, or the file's own URL (the hash is still checked)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    progress = not args.quiet
    try:
        if args.what == "coco":
            path = fpn.coco_weights(progress=progress, url=args.url)
        elif args.what == "detectron2":
            from fpn.weights.detectron2_zoo import zoo_weights

            path = zoo_weights(args.depth or "COCO-Detection/faster_rcnn_R_50_FPN_1x", progress=progress, url=args.url)
        else:
            if (args.depth or "resnet50") not in DEPTHS:
                print(f"error: unknown ResNet {args.depth!r}; choose one of {', '.join(DEPTHS)}", file=sys.stderr)
                return 2
            path = fpn.imagenet_weights(args.depth or "resnet50", progress=progress, url=args.url)
    except (fpn.WeightsDownloadError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
