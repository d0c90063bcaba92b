"""A large COCO file is indexed and listed in bounded memory (peak RSS of a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from PIL import Image

MB = 1024 * 1024
PROBE = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from connectors.importers.coco import iter_coco_items, open_coco
    from connectors.importers.dropzone_config import ArchiveLimits

    def peak_kb():
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM"))

    before = peak_kb()
    source = open_coco(Path(sys.argv[1]), None, Path(sys.argv[2]), ArchiveLimits())
    made = sum(1 for item in iter_coco_items(source) if item.input is not None)
    print(made, peak_kb() - before)
    """
)


def write_large_coco(root: Path, images: int, per_image: int, real: int) -> Path:
    """`images` images (the first `real` exist, as hard links of one PNG), 20-point polygons."""
    folder = root / "images"
    folder.mkdir(parents=True)
    Image.new("RGB", (64, 48), "red").save(folder / "img0.png")
    for n in range(1, real):
        os.link(folder / "img0.png", folder / f"img{n}.png")
    poly = ",".join(f"{(k * 7) % 60}.5,{(k * 5) % 40}.25" for k in range(20))
    path = root / "instances.json"
    with path.open("w") as fh:
        fh.write('{"annotations":[')  # before the images: the index must hold them
        for a in range(images * per_image):
            fh.write("," if a else "")
            fh.write(
                f'{{"id":{a},"image_id":{a % images},"category_id":1,"iscrowd":0,'
                f'"bbox":[1.5,2.5,30.25,20.0],"area":605.0,"segmentation":[[{poly}]]}}'
            )
        fh.write('],"images":[')
        fh.write(
            ",".join(
                f'{{"id":{n},"file_name":"img{n}.png","width":64,"height":48}}'
                for n in range(images)
            )
        )
        fh.write('],"categories":[{"id":1,"name":"thing"}]}')
    return path


def test_a_large_file_is_read_in_bounded_memory(tmp_path: Path) -> None:
    path = write_large_coco(tmp_path / "coco", images=12_000, per_image=10, real=200)
    size = path.stat().st_size
    assert size > 35 * MB  # json.load of it would take several hundred MB
    (tmp_path / "work").mkdir()
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(path), str(tmp_path / "work")],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(repo)},
        timeout=300,
    ).stdout.split()
    made, grown_kb = int(out[0]), int(out[1])
    assert made == 200  # the rest have no file: failed items, not an error
    assert grown_kb * 1024 < size / 2, f"peak RSS grew {grown_kb} KB reading a {size} B file"
