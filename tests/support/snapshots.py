"""A small dataset with every kind of annotation, uploaded through the real ingest stage."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageDraw

from ingestd.app.runtime import Runtime
from pipeline.events import SnapshotRequest, UploadRequest
from pipeline.models import (
    Annotation,
    AnnotationData,
    AnnotationStatus,
    BoundingBox,
    Concept,
    Data,
    Geo,
    GeoPoint,
    Input,
    Mask,
    Media,
    Point,
    Polygon,
    Region,
    RegionData,
    RegionInfo,
    Text,
)
from pipeline.snapshot.stage import SnapshotResult
from tests.support.storage import image_bytes

DATASET = "pets"
MASK_BOX = (10, 5, 30, 20)  # x0, y0, x1, y1 (exclusive): 20 x 15 = 300 pixels


def mask_png(size: tuple[int, int] = (64, 48)) -> bytes:
    img = Image.new("L", size, 0)
    x0, y0, x1, y1 = MASK_BOX
    ImageDraw.Draw(img).rectangle((x0, y0, x1 - 1, y1 - 1), fill=255)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def region(info: RegionInfo, *concepts: str) -> Region:
    return Region(region_info=info, data=RegionData(concepts=[Concept(id=c) for c in concepts]))


BOX = RegionInfo(
    bounding_box=BoundingBox(top_row=0.25, left_col=0.5, bottom_row=0.75, right_col=1.0)
)
TRIANGLE = RegionInfo(
    polygon=Polygon(
        points=[Point(row=0.0, col=0.0), Point(row=0.0, col=0.5), Point(row=0.5, col=0.0)]
    )
)


def seed_inputs() -> list[Input]:
    """Five inputs: boxes, polygons, masks, points, negative tags, an empty one, a text."""
    return [
        Input(
            id="img-a",
            data=Data(
                image=Media(base64=image_bytes("JPEG", color="red")),
                concepts=[Concept(id="cat")],
                metadata={"batch": 1},
                geo=Geo(geo_point=GeoPoint(latitude=48.1, longitude=11.5)),
            ),
            annotations=[
                Annotation(user_id="alice", data=AnnotationData(regions=[region(BOX, "cat")])),
                Annotation(
                    user_id="bob",
                    model_version_id="mv-1",
                    data=AnnotationData(regions=[region(TRIANGLE, "cat", "animal")]),
                ),
            ],
        ),
        Input(
            id="img-b",
            data=Data(image=Media(base64=image_bytes("PNG", color="blue"))),
            annotations=[
                Annotation(
                    user_id="alice",
                    status=AnnotationStatus.PENDING,
                    data=AnnotationData(
                        regions=[
                            region(RegionInfo(mask=Mask(image=Media(base64=mask_png()))), "dog")
                        ]
                    ),
                ),
                Annotation(
                    user_id="bob",
                    data=AnnotationData(
                        regions=[region(RegionInfo(point=Point(row=0.5, col=0.5)), "dog")]
                    ),
                ),
            ],
        ),
        Input(id="img-c", data=Data(image=Media(base64=image_bytes("GIF", color="green")))),
        Input(
            id="img-d",
            data=Data(
                image=Media(base64=image_bytes("JPEG", (80, 60), color="white")),
                concepts=[Concept(id="dog", value=0.0)],
            ),
            annotations=[
                Annotation(user_id="alice", data=AnnotationData(regions=[region(BOX, "dog")]))
            ],
        ),
        Input(
            id="txt-e",
            data=Data(text=Text(raw="a note about pets"), concepts=[Concept(id="note")]),
        ),
    ]


def seed(rt: Runtime, dataset: str = DATASET) -> None:
    result = rt.ingest.handle(UploadRequest(inputs=seed_inputs(), dataset_ids=[dataset]))
    assert not result.failed, result.failed
    outsider = Input(id="not-in-dataset", data=Data(image=Media(base64=image_bytes("PNG"))))
    assert not rt.ingest.handle(UploadRequest(inputs=[outsider])).failed


def snapshot(rt: Runtime, version_id: str, **kw: Any) -> SnapshotResult:
    kw.setdefault("dataset_id", DATASET)
    return rt.snapshot.handle(
        SnapshotRequest(
            user_id=rt.settings.user_id, app_id=rt.settings.app_id, version_id=version_id, **kw
        )
    )
