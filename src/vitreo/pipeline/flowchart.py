"""A job's history as a picture: the upstream flowchart as SVG, or HTML with the SVG inline.

RELION draws its flowcharts with LaTeX; here the graph is laid out and written
directly. The chosen job sits at the bottom, every job it depends on above it (each
row one step further up the history), side branches (masks, references, coordinates)
beside the main line. Boxes show the alias (or job name), type and status; arrows are
labelled with what flows along them ("24 movies", "mask", ...).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from vitreo.io.star import Table, read_star
from vitreo.jobs.node_types import describe
from vitreo.pipeline.model import Pipeline, Process, Status
from vitreo.pipeline.project import Project

BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN, BEND = 220, 52, 36, 64, 24, 70
_COUNTED = ("movies", "micrographs", "particles")
_COUNT_MAX_BYTES = 64 * 1024 * 1024
_FILL = {Status.SUCCEEDED: "#d9f2d9", Status.RUNNING: "#fff3c4", Status.SCHEDULED: "#dbe8fb",
         Status.FAILED: "#f8d0d0", Status.ABORTED: "#e4e4e4"}


@dataclass(frozen=True)
class Arrow:
    """An edge of the flowchart: from the producing job to the consuming one."""

    source: str
    target: str
    label: str


@dataclass
class Layout:
    """Box positions (top-left corners, pixels) and the arrows between boxes."""

    positions: dict[str, tuple[float, float]]
    arrows: list[Arrow]
    width: float
    height: float


def upstream_arrows(project: Project, pipeline: Pipeline, target: str) -> tuple[list[str], list[Arrow]]:
    """The jobs in ``target``'s history and the labelled arrows between them."""
    names = pipeline.upstream(target)
    arrows = []
    for name in names:
        for node in pipeline.inputs_of(name):
            source = pipeline.producer(node)
            if source in names:
                found = pipeline.node(node)
                label = describe(found.type_label) if found else ""
                arrows.append(Arrow(source, name, _with_count(project, node, label)))
    return names, arrows


def layout(names: list[str], arrows: list[Arrow]) -> Layout:
    """Rows by distance from the chosen job (``names[0]``), ordered to keep arrows short."""
    depth = {name: 0 for name in names}
    for _ in names:  # longest-path depth; a DAG settles in len(names) rounds
        for arrow in arrows:
            depth[arrow.source] = max(depth[arrow.source], depth[arrow.target] + 1)
    rows: dict[int, list[str]] = {}
    for name in names:
        rows.setdefault(depth[name], []).append(name)
    deepest = max(rows)
    order: dict[str, float] = {}
    for level in sorted(rows):
        if level > 0:
            children = {name: [order[a.target] for a in arrows if a.source == name and a.target in order]
                        for name in rows[level]}
            rows[level].sort(key=lambda n: sum(children[n]) / len(children[n]) if children[n] else 0.0)
        for index, name in enumerate(rows[level]):
            order[name] = index - (len(rows[level]) - 1) / 2
    widest = max(len(row) for row in rows.values())
    bends = any(depth[a.source] - depth[a.target] > 1 for a in arrows)
    width = 2 * MARGIN + widest * BOX_W + (widest - 1) * GAP_X + (2 * (BEND + 60) if bends else 0)
    positions = {name: (width / 2 + order[name] * (BOX_W + GAP_X) - BOX_W / 2,
                        MARGIN + (deepest - depth[name]) * (BOX_H + GAP_Y)) for name in names}
    return Layout(positions, arrows, width, 2 * MARGIN + (deepest + 1) * BOX_H + deepest * GAP_Y)


def flowchart_svg(project: Project, reference: str) -> str:
    """The upstream flowchart of a job as an SVG document."""
    pipeline = project.read()
    process = project.resolve(pipeline, reference)
    names, arrows = upstream_arrows(project, pipeline, process.name)
    plan = layout(names, arrows)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{plan.width:.0f}" height="{plan.height:.0f}" '
             f'viewBox="0 0 {plan.width:.0f} {plan.height:.0f}" font-family="Helvetica, Arial, sans-serif">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
             'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#444"/></marker></defs>',
             f"<title>History of {html.escape(process.display_name)}</title>"]
    parts += [_arrow_svg(plan, arrow, 1 if index % 2 == 0 else -1) for index, arrow in enumerate(arrows)]
    by_name = {p.name: p for p in pipeline.processes}
    parts += [_box_svg(by_name[name], *plan.positions[name], name == process.name) for name in names]
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def flowchart_html(project: Project, reference: str) -> str:
    """The flowchart in a self-contained HTML page, with a table of the jobs shown."""
    pipeline = project.read()
    process = project.resolve(pipeline, reference)
    rows = "".join(
        f"<tr><td>{html.escape(p.name)}</td><td>{html.escape(p.alias or '')}</td>"
        f"<td>{html.escape(p.type_label)}</td><td>{p.status.value}</td></tr>"
        for p in (pipeline.process(name) for name in pipeline.upstream(process.name)) if p is not None)
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>Flowchart of {html.escape(process.display_name)}</title>"
            "<style>body{font-family:Helvetica,Arial,sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #bbb;padding:3px 8px;text-align:left}</style></head><body>"
            f"<h1>History of {html.escape(process.display_name)}</h1>\n{flowchart_svg(project, reference)}"
            "<table><tr><th>Job</th><th>Alias</th><th>Type</th><th>Status</th></tr>"
            f"{rows}</table></body></html>\n")


def write_flowchart(project: Project, reference: str, output: Path) -> Path:
    """Write the flowchart as .svg or .html (chosen by the extension)."""
    suffix = output.suffix.lower()
    if suffix not in (".svg", ".html", ".htm"):
        raise ValueError(f"flowchart output must end in .svg or .html, not {output.name!r}")
    text = flowchart_svg(project, reference) if suffix == ".svg" else flowchart_html(project, reference)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    return output


def _with_count(project: Project, node: str, label: str) -> str:
    """``"24 movies"`` for movie, micrograph and particle STAR files small enough to count."""
    path = project.path(node)
    if label not in _COUNTED or not path.is_file() or path.stat().st_size > _COUNT_MAX_BYTES:
        return label
    try:
        blocks = read_star(path)
    except (OSError, ValueError):
        return label
    tables = [block for name, block in blocks.items() if name != "optics" and isinstance(block, Table)]
    return f"{len(tables[0])} {label}" if tables else label


def _box_svg(process: Process, x: float, y: float, chosen: bool) -> str:
    title = html.escape(process.display_name.rstrip("/"))
    detail = html.escape(f"{process.type_label} · {process.status.value}")
    stroke = ' stroke-width="2.5"' if chosen else ' stroke-width="1"'
    return (f'<g><rect x="{x:.1f}" y="{y:.1f}" width="{BOX_W}" height="{BOX_H}" rx="8" '
            f'fill="{_FILL[process.status]}" stroke="#333"{stroke}/>'
            f'<text x="{x + BOX_W / 2:.1f}" y="{y + 21:.1f}" text-anchor="middle" font-size="14" '
            f'font-weight="bold">{title}</text>'
            f'<text x="{x + BOX_W / 2:.1f}" y="{y + 40:.1f}" text-anchor="middle" font-size="11" '
            f'fill="#444">{detail}</text></g>')


def _arrow_svg(plan: Layout, arrow: Arrow, side: int) -> str:
    """A straight arrow between neighbouring rows; an arrow skipping rows bends out to ``side`` (+1/-1)
    so that it does not cross the boxes in between."""
    sx, sy = plan.positions[arrow.source]
    tx, ty = plan.positions[arrow.target]
    x1, y1, x2, y2 = sx + BOX_W / 2, sy + BOX_H, tx + BOX_W / 2, ty
    label = html.escape(arrow.label)
    if y2 - y1 <= GAP_Y + 1:
        path, lx, ly = f"M {x1:.1f} {y1:.1f} L {x2:.1f} {y2:.1f}", (x1 + x2) / 2 + 6, (y1 + y2) / 2 + 4
    else:  # from the side of one box to the side of the other, around the boxes in between
        x1 = sx + (BOX_W if side > 0 else 0)
        x2 = tx + (BOX_W if side > 0 else 0)
        y1, y2 = sy + BOX_H / 2, ty + BOX_H / 2
        bend = side * BEND
        path = f"M {x1:.1f} {y1:.1f} C {x1 + bend:.1f} {y1:.1f} {x2 + bend:.1f} {y2:.1f} {x2:.1f} {y2:.1f}"
        lx, ly = (x1 + x2) / 2 + 0.75 * bend + (6 if side > 0 else -6), (y1 + y2) / 2 + 4
    anchor = "end" if side < 0 and y2 - y1 > GAP_Y + 1 else "start"
    return (f'<g><path d="{path}" fill="none" stroke="#444" stroke-width="1.5" marker-end="url(#arrow)"/>'
            f'<text x="{lx:.1f}" y="{ly:.1f}" text-anchor="{anchor}" font-size="11" fill="#222">{label}</text></g>')


__all__ = ["Arrow", "Layout", "upstream_arrows", "layout", "flowchart_svg", "flowchart_html", "write_flowchart"]
