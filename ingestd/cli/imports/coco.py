"""`ingestd import coco`: a COCO instances file with its images, or a zip of both."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from ingestd.cli.imports.common import ImportArgs
from ingestd.cli.option_groups import grouped
from ingestd.cli.options import fail
from ingestd.cli.state import settings


@grouped(common=ImportArgs)
def import_coco(
    path: Path = typer.Argument(
        ...,
        help="COCO instances JSON, or a .zip holding one and its images.",
        exists=True,
        dir_okay=False,
    ),
    images: Path | None = typer.Option(
        None,
        "--images",
        help="Folder the images' file_name values are relative to (default: the JSON's "
        "sibling images/, or the folder where they are found).",
        exists=True,
        file_okay=False,
    ),
    *,  # the group has no default: @grouped fills it
    common: ImportArgs,
) -> None:
    """Import COCO images with their boxes, polygons and masks; categories become concepts.

    The file is read as a stream and indexed on disk first: broken JSON imports nothing.
    """
    from connectors.importers.coco import iter_coco_items, open_coco
    from pipeline.errors import InputError
    from pipeline.status import StatusCode

    given_images = images.resolve().as_posix() if images is not None else None
    meta, keys = common.parsed("coco", path.resolve().as_posix(), images=(given_images, None))
    recorded_images = common.option("images")  # a retry reads the folder its run read
    images = Path(recorded_images) if recorded_images else None
    conf = settings()
    with tempfile.TemporaryDirectory(prefix="ingestd-coco-") as tmp:
        try:
            source = open_coco(path, images, Path(tmp), conf.dropzone.archives)
        except InputError as exc:  # a refused archive
            fail(exc.message, exc.code)
        except ValueError as exc:  # not JSON, not a COCO file
            fail(str(exc), StatusCode.INPUT_INVALID_REQUEST)
        try:
            total = len(keys) if keys is not None else source.index.images
            items = iter_coco_items(
                source, metadata=meta, keys=keys, max_pixels=conf.limits.image_pixels
            )
            common.run(lambda _stager: items, total, "coco")
        finally:
            source.close()
