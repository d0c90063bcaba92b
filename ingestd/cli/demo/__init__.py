"""`ingestd demo`: sample data with deliberate faults, imported on the embedded default.

The run is in run.py, the sample files in samples.py, the oversized media in media.py and
the collector scene in collectors.py; they load only when the demo runs.
"""

from __future__ import annotations

import typer

from ingestd.cli.options import JsonOpt


def demo(
    workdir: str = typer.Option(
        "demo-out", "--dir", help="Where the demo writes its files and storage."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Make sample data (good and bad), import it on the embedded default and show the result."""
    from ingestd.cli.demo.run import run_demo

    ok = run_demo(workdir, as_json=as_json)
    if not ok:
        raise typer.Exit(1)
