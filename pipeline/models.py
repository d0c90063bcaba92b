"""Inputs, their data and annotations: the shapes of ../shared/reference/annotations.md.

Field names follow the reference platform (`top_row`, `left_col`, `geo_point`, ...), so a
JSON document written for that platform validates here unchanged.
"""

from __future__ import annotations

import base64 as b64
import binascii
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)


class Strict(BaseModel):
    """Base for every model: unknown fields are refused, so typos surface early."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class MediaType(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    TEXT = "text"


def _decode_base64(value: Any) -> Any:
    # Valid base64 text becomes bytes at once; invalid text is kept as text so the ingest
    # stage can refuse that one input (30104) instead of the whole request failing to parse.
    if isinstance(value, str):
        try:
            return binascii.a2b_base64(value, strict_mode=True)
        except (binascii.Error, ValueError):
            return value
    return value


def _encode_base64(value: bytes | str) -> str:
    return b64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value


# Inline media: raw bytes in process (no encoding cost on the embedded bus), base64 text
# on the wire. Python callers pass bytes; JSON producers send base64 strings.
Base64Data = Annotated[
    bytes | str,
    BeforeValidator(_decode_base64),
    PlainSerializer(_encode_base64, when_used="json"),
    WithJsonSchema({"type": "string", "contentEncoding": "base64"}),
]


class Media(Strict):
    """Where the bytes of one medium come from: exactly one of url, base64, blob_key."""

    url: str | None = None
    base64: Base64Data | None = None
    blob_key: str | None = Field(
        default=None,
        description="Key of an object already in the blob store (claim check): the app's "
        "own media (media/<user>/<app>/...) or an object a service put under "
        "uploads/<user>/<app>/.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Media:
        given = [n for n in ("url", "base64", "blob_key") if getattr(self, n)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of url, base64, blob_key (got {given or 'none'})")
        return self


class Text(Strict):
    """Text is either inline (`raw`) or fetched like any other medium."""

    raw: str | None = None
    url: str | None = None
    base64: Base64Data | None = None
    blob_key: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Text:
        given = [n for n in ("raw", "url", "base64", "blob_key") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of raw, url, base64, blob_key (got {given or 'none'})"
            )
        return self


class Concept(Strict):
    id: str = Field(min_length=1, max_length=256)
    name: str | None = None
    value: float = Field(default=1.0, ge=0.0, le=1.0, description="1 present, 0 absent.")


class GeoPoint(Strict):
    latitude: float = Field(ge=-90.0, le=90.0)
    longitude: float = Field(ge=-180.0, le=180.0)


class Geo(Strict):
    geo_point: GeoPoint


# Geometry is parsed for its types only; its rules (inside [0, 1], ordered corners, three
# points, decodable masks, frames >= 0) are pipeline/annotations.py's, so one bad box fails
# its own input with an annotation status code instead of the whole request's parse.
Unit = Field(description="A fraction of the height or width, 0 to 1.")


class BoundingBox(Strict):
    top_row: float = Unit
    left_col: float = Unit
    bottom_row: float = Unit
    right_col: float = Unit


class Point(Strict):
    row: float = Unit
    col: float = Unit
    z: float | None = None


class Polygon(Strict):
    points: list[Point] = Field(description="At least three points.")


class Mask(Strict):
    """A mask image (base64 PNG) covering the whole input."""

    image: Media


class RegionInfo(Strict):
    bounding_box: BoundingBox | None = None
    polygon: Polygon | None = None
    mask: Mask | None = None
    point: Point | None = None


class Region(Strict):
    id: str | None = None
    region_info: RegionInfo = Field(default_factory=RegionInfo)
    data: RegionData = Field(default_factory=lambda: RegionData())


class RegionData(Strict):
    concepts: list[Concept] = Field(default_factory=list)
    text: Text | None = None


class FrameInfo(Strict):
    index: int = Field(description="The frame's number, from 0.")
    time: int = Field(description="Milliseconds from the start of the video.")


class Frame(Strict):
    frame_info: FrameInfo
    data: FrameData = Field(default_factory=lambda: FrameData())


class FrameData(Strict):
    concepts: list[Concept] = Field(default_factory=list)
    regions: list[Region] = Field(default_factory=list)


class AnnotationStatus(StrEnum):
    SUCCESS = "ANNOTATION_SUCCESS"
    PENDING = "ANNOTATION_PENDING"
    AWAITING_REVIEW = "ANNOTATION_AWAITING_REVIEW"
    AWAITING_CONSENSUS_REVIEW = "ANNOTATION_AWAITING_CONSENSUS_REVIEW"
    REVIEW_DENIED = "ANNOTATION_REVIEW_DENIED"


class AnnotationData(Strict):
    concepts: list[Concept] = Field(default_factory=list)
    regions: list[Region] = Field(default_factory=list)
    frames: list[Frame] = Field(default_factory=list)
    text: Text | None = None


class Annotation(Strict):
    """Labels on an input. One region (or one frame) per annotation, as the reference says."""

    id: str | None = None
    data: AnnotationData = Field(default_factory=AnnotationData)
    user_id: str | None = None
    status: AnnotationStatus = AnnotationStatus.SUCCESS
    task_id: str | None = None
    model_version_id: str | None = Field(
        default=None, description="Set when a model wrote the annotation (a prediction)."
    )
    annotation_info: dict[str, Any] = Field(default_factory=dict)


class Data(Strict):
    image: Media | None = None
    video: Media | None = None
    audio: Media | None = None
    text: Text | None = None
    concepts: list[Concept] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    geo: Geo | None = None

    def media(self) -> tuple[MediaType, Media | Text]:
        """The one medium this input carries."""
        present = [(t, getattr(self, t.value)) for t in MediaType if getattr(self, t.value)]
        if len(present) != 1:
            names = [t.value for t, _ in present] or "none"
            raise ValueError(
                f"an input carries exactly one of image, video, audio, text (got {names})"
            )
        return present[0]


LINEAGE_URI_CHARS = 4096


def _bounded_uri(value: Any) -> Any:
    # Lineage is a record, never a reason to refuse an input: an absurdly long URI is cut.
    return value[:LINEAGE_URI_CHARS] if isinstance(value, str) else value


class Lineage(Strict):
    """Where an input came from; kept with it in the catalog, not part of its content."""

    source_uri: Annotated[str | None, BeforeValidator(_bounded_uri)] = Field(
        default=None,
        description="File path, URL or s3://bucket/key it was read from (credentials are "
        f"removed when stored; cut to {LINEAGE_URI_CHARS} characters).",
    )
    source_etag: str | None = Field(default=None, max_length=128, description="S3 ETag.")
    collector_id: str | None = Field(
        default=None, max_length=160, description="The collector that captured it."
    )
    event_id: str | None = Field(
        default=None, max_length=64, description="The prediction event it was captured from."
    )


class Input(Strict):
    id: str | None = Field(default=None, description="Derived from the request when absent.")
    data: Data
    annotations: list[Annotation] = Field(default_factory=list)
    dataset_ids: list[str] = Field(default_factory=list)
    replace: bool = Field(
        default=False,
        description="An update: overwrite the input under this id even when its content "
        "differs (conflict resolution does not apply), e.g. a changed S3 object.",
    )
    lineage: Lineage | None = Field(
        default=None, description="Where it came from (importers and collectors set it)."
    )


class ConflictResolution(StrEnum):
    """What to do when an input id exists with other content (reference: extraction jobs)."""

    SKIP = "SKIP"
    SUFFIX = "SUFFIX"


class Dataset(Strict):
    id: str
    app_id: str
    description: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)


RequestOrigin = Literal["MANUAL", "TRAINING", "EVAL_GROUND_TRUTH", "EVAL_PREDICTIONS"]

Region.model_rebuild()
Frame.model_rebuild()
