"""`ingestd workflows ...`: the app's workflows (graphs of operators) that collectors run."""

from __future__ import annotations

from typing import Any

import typer

from ingestd.cli.documents import DocumentError, load_document
from ingestd.cli.option_groups import Page, grouped, page_options
from ingestd.cli.options import JsonOpt, coded, console, emit_json, fail, page_table, table
from ingestd.cli.state import app_page, get_or_fail, open_runtime
from pipeline.collect.operators import OPERATORS
from pipeline.collect.workflows.graph import parse_workflow
from pipeline.errors import InputError
from pipeline.status import StatusCode

app = typer.Typer(
    help="Workflows of the app (--app): graphs of operator nodes, from JSON or YAML files. "
    "A collector runs one before capture (pre-queue, on the model's output) and one after "
    "(post-queue, on the original input). `ingestd workflows operators` lists the operators.",
    no_args_is_help=True,
)
_SECRET_HEADERS = ("authorization", "key", "token", "secret", "cookie", "password")


def masked(doc: dict[str, Any]) -> dict[str, Any]:
    """The workflow fit to print: header values that look secret are masked."""
    nodes = []
    for node in doc.get("nodes", []):
        params = dict(node.get("params") or {})
        if isinstance(params.get("headers"), dict):
            params["headers"] = {
                k: "**********" if any(s in k.lower() for s in _SECRET_HEADERS) else v
                for k, v in params["headers"].items()
            }
        nodes.append({**node, "params": params})
    return {**doc, "nodes": nodes}


@app.command("create")
def create(
    file: str = typer.Argument(..., help="Workflow document (.json, .yaml; - for stdin)."),
    workflow_id: str | None = typer.Option(None, "--id", help="Id (overrides the file's id)."),
    replace: bool = typer.Option(False, "--replace", help="Replace a workflow with this id."),
    as_json: bool = JsonOpt,
) -> None:
    """Validate a workflow document and store it in the app."""
    try:
        spec = parse_workflow(load_document(file), workflow_id)
    except DocumentError as exc:
        fail(coded(StatusCode.WORKFLOW_UNSUPPORTED_FORMAT, str(exc)))
        return
    except InputError as exc:
        fail(str(exc))
        return
    with open_runtime() as rt:
        s = rt.settings
        stored = rt.catalog.workflows.save(s.user_id, s.app_id, spec, replace=replace)
    if not stored:
        fail(
            coded(
                StatusCode.WORKFLOW_DUPLICATE,
                f"workflow {spec.id!r} exists in {s.user_id}/{s.app_id}; --replace changes it",
            )
        )
        return
    if as_json:
        emit_json(masked(spec.model_dump(mode="json")))
        return
    verb = "stored" if replace else "created"
    console.print(f"{verb} workflow [bold]{spec.id}[/] ({len(spec.nodes)} nodes)")
    for node in spec.nodes:
        console.print(f"  {node.id}: {node.operator} <- {', '.join(node.inputs) or 'IN'}")


@app.command("list")
@grouped(paging=page_options("Workflows", 1000))
def list_workflows(
    paging: Page,
    as_json: bool = JsonOpt,
) -> None:
    """The app's workflows in id order, a page at a time."""
    docs, s = app_page(lambda c: c.workflows.for_app, paging)
    if as_json:
        emit_json([masked(d) for d in docs])
        return
    page_table(
        f"workflows of {s.user_id}/{s.app_id}",
        ["id", "nodes", "description", "modified"],
        [
            (
                d["id"],
                " -> ".join(n["operator"] for n in d["nodes"]),
                d["description"],
                d["modified_at"],
            )
            for d in docs
        ],
        paging.limit,
    )


@app.command("get")
def get(workflow_id: str, as_json: bool = JsonOpt) -> None:
    """One workflow with its nodes (secret-looking header values masked)."""
    missing = coded(StatusCode.WORKFLOW_DOES_NOT_EXIST, f"no workflow {workflow_id!r}")
    stored, _ = get_or_fail(lambda c: c.workflows, workflow_id, missing)
    doc = masked(stored)
    if as_json:
        emit_json(doc)
        return
    console.print(f"[bold]{doc['id']}[/] {doc['description']}")
    table(
        "nodes",
        ["id", "operator", "inputs", "params"],
        [
            (n["id"], n["operator"], ", ".join(n["inputs"]) or "IN", n["params"])
            for n in doc["nodes"]
        ],
    )


@app.command("delete")
def delete(
    workflow_ids: list[str] = typer.Argument(..., help="Workflow ids."),
    force: bool = typer.Option(False, "--force", help="Delete even if collectors use them."),
    as_json: bool = JsonOpt,
) -> None:
    """Delete workflows; one a collector runs is kept unless --force."""
    results: list[dict[str, Any]] = []
    with open_runtime() as rt:
        s = rt.settings
        catalog = rt.catalog.workflows
        for wf in workflow_ids:
            users = catalog.used_by(s.user_id, s.app_id, wf)
            if users and not force:
                results.append(
                    {
                        "id": wf,
                        "deleted": False,
                        "error": f"used by collector(s) {', '.join(users)}",
                    }
                )
                continue
            if catalog.delete(s.user_id, s.app_id, wf):
                results.append({"id": wf, "deleted": True})
            else:
                error = coded(StatusCode.WORKFLOW_DOES_NOT_EXIST, "no such workflow")
                results.append({"id": wf, "deleted": False, "error": error})
    if as_json:
        emit_json(results)
    else:
        for r in results:
            console.print(f"{r['id']}: deleted" if r["deleted"] else f"{r['id']}: {r['error']}")
    if not all(r["deleted"] for r in results):
        raise typer.Exit(1)


@app.command("operators")
def operators(as_json: bool = JsonOpt) -> None:
    """The operators a node can use, with their params."""
    if as_json:
        emit_json(
            {
                name: {"summary": op.summary, "params": op.Params.model_json_schema()}
                for name, op in OPERATORS.items()
            }
        )
        return
    table(
        "operators",
        ["operator", "what it does", "params"],
        [(name, op.summary, ", ".join(op.Params.model_fields)) for name, op in OPERATORS.items()],
    )
