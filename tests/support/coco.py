"""Small COCO datasets made on the spot: Pillow images and every annotation shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

CATEGORIES = [
    {"id": 1, "name": "cat", "supercategory": "animal"},
    {"id": 7, "name": "traffic light", "supercategory": "outdoor"},
]
W, H = 64, 48


def _shoelace(xy: list[float]) -> float:
    xs, ys = xy[0::2], xy[1::2]
    return abs(sum(xs[i] * ys[i - 1] - xs[i - 1] * ys[i] for i in range(len(xs)))) / 2


def _rle(box: tuple[int, int, int, int]) -> dict[str, Any]:
    m = np.zeros((H, W), dtype=np.uint8, order="F")
    x, y, w, h = box
    m[y : y + h, x : x + w] = 1
    return mask_utils.encode(m)


def shapes(image_id: int, first_ann: int) -> list[dict[str, Any]]:
    """One annotation of each shape on an image: box, polygon, polygon mask, two RLEs."""
    poly = [4.0, 4.0, 30.5, 4.0, 30.5, 20.25, 4.0, 20.25, 2.0, 12.0]
    two = [[40.0, 2.0, 60.0, 2.0, 60.0, 10.0], [40.0, 30.0, 60.0, 30.0, 50.0, 44.0]]
    merged = mask_utils.merge(mask_utils.frPyObjects(two, H, W))
    rle = _rle((10, 25, 12, 9))
    uncompressed = {"size": [H, W], "counts": _runs(mask_utils.decode(rle))}
    compressed = _rle((33, 20, 5, 7))
    anns = [
        {"bbox": [1.5, 2.0, 20.0, 10.5], "segmentation": [], "area": 20.0 * 10.5, "iscrowd": 0},
        {
            "bbox": [4.0, 4.0, 26.5, 16.25],
            "segmentation": [poly],
            "area": _shoelace(poly),
            "iscrowd": 0,
        },
        {
            "bbox": list(mask_utils.toBbox(merged)),
            "segmentation": two,
            "area": float(mask_utils.area(merged)),
            "iscrowd": 0,
        },
        {
            "bbox": list(mask_utils.toBbox(rle)),
            "segmentation": uncompressed,
            "area": float(mask_utils.area(rle)),
            "iscrowd": 1,
        },
        {
            "bbox": list(mask_utils.toBbox(compressed)),
            "segmentation": {"size": [H, W], "counts": compressed["counts"].decode()},
            "area": float(mask_utils.area(compressed)),
            "iscrowd": 1,
        },
    ]
    for n, ann in enumerate(anns):
        ann.update(id=first_ann + n, image_id=image_id, category_id=CATEGORIES[n % 2]["id"])
    return anns


def _runs(mask: np.ndarray) -> list[int]:
    flat = mask.flatten(order="F")
    runs, value, count = [], 0, 0
    for v in flat:
        if v != value:
            runs.append(count)
            value, count = v, 0
        count += 1
    runs.append(count)
    return runs


def make_coco(root: Path, images: int = 3, *, annotations_first: bool = True) -> dict[str, Any]:
    """root/annotations/instances.json and root/annotations/images/img<n>.png: the document."""
    folder = root / "annotations" / "images"
    folder.mkdir(parents=True, exist_ok=True)
    imgs, anns = [], []
    for n in range(images):
        name = f"img{n}.png"
        Image.new("RGB", (W, H), (n * 40 % 256, 90, 200)).save(folder / name)
        imgs.append({"id": 100 + n, "file_name": name, "width": W, "height": H})
        anns += shapes(100 + n, 1000 + 10 * n)
    doc = {"info": {}, "categories": CATEGORIES}
    doc.update(
        {"annotations": anns, "images": imgs}
        if annotations_first
        else {"images": imgs, "annotations": anns}
    )
    write_json(root / "annotations" / "instances.json", doc)
    return doc


def write_json(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(json.dumps(doc))
    return path
