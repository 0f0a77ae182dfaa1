/* Interactive SVG plots, no library: curves with a read-out under the pointer and legend entries
   that hide or show a curve; viewing directions on a Hammer (equal-area) projection; motion tracks
   over the frame. The STAR-file views (FSC, Guinier, motion) are built from these. */
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const COLOURS = ["#1f5fbf", "#d0342c", "#2a9d3a", "#8e44ad", "#e67e22", "#555555"];
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

function svgNode(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

/* Colour of t in [0, 1] on the viridis scale. */
function viridis(t) {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1), i = Math.min(VIRIDIS.length - 2, Math.floor(x)), f = x - i;
  const [a, b] = [VIRIDIS[i], VIRIDIS[i + 1]];
  return `rgb(${a.map((v, k) => Math.round(v + f * (b[k] - v))).join(",")})`;
}

/* [x, y] pairs of two numeric columns of a STAR table (as /api/display/star gives it); x is the row number when empty. */
function columnPoints(block, x, y) {
  const xi = block.labels.indexOf(x), yi = block.labels.indexOf(y);
  return block.rows.map((r, n) => [xi >= 0 ? r[xi] : n, r[yi]]).filter(([a, b]) => typeof a === "number" && typeof b === "number");
}

function niceNumber(v) { return Number(Number(v).toPrecision(3)); }

/* Resolution read-out of a spatial frequency (1/Å). */
function frequencyText(s) { return `${niceNumber(s)} Å⁻¹ (${s > 0 ? niceNumber(1 / s) : "∞"} Å)`; }

const Plot = {
  /* Curves: {series: [{label, points: [[x, y], ...], colour}], xLabel, yLabel, title, hlines: [{y, label}],
     vlines: [{x, label}], scatter, xText(x), yRange: [lo, hi]}. Moving the pointer shows each visible
     curve's value at the nearest x; clicking a legend entry hides or shows its curve. */
  curves(spec) {
    const W = spec.width || 640, H = spec.height || 360, M = { l: 64, r: 14, t: spec.title ? 40 : 26, b: 40 };
    const series = spec.series.filter((s) => s.points.length);
    const xs = series.flatMap((s) => s.points.map((p) => p[0])), ys = series.flatMap((s) => s.points.map((p) => p[1]));
    const span = (values) => { let lo = Math.min(...values), hi = Math.max(...values); if (!(hi > lo)) { lo -= 1; hi += 1; } return [lo, hi]; };
    const [x0, x1] = span(xs.length ? xs : [0, 1]);
    const [y0, y1] = spec.yRange || span([...(ys.length ? ys : [0, 1]), ...(spec.hlines || []).map((l) => l.y)]);
    const sx = (v) => M.l + ((v - x0) / (x1 - x0)) * (W - M.l - M.r);
    const sy = (v) => H - M.b - ((Math.min(y1, Math.max(y0, v)) - y0) / (y1 - y0)) * (H - M.t - M.b);
    const xText = spec.xText || ((x) => `${spec.xLabel || "x"} = ${niceNumber(x)}`);
    const svg = svgNode("svg", { width: W, height: H, class: "plot-svg" });
    if (spec.title) svg.append(svgNode("text", { x: M.l, y: 16, "font-size": 13, "font-weight": 600 }, spec.title));
    svg.append(svgNode("rect", { x: M.l, y: M.t, width: W - M.l - M.r, height: H - M.t - M.b, fill: "white", stroke: "#999" }));
    for (let i = 0; i <= 4; i++) {
      const xv = x0 + ((x1 - x0) * i) / 4, yv = y0 + ((y1 - y0) * i) / 4;
      svg.append(svgNode("text", { x: sx(xv), y: H - M.b + 16, "text-anchor": "middle", "font-size": 11 }, niceNumber(xv)));
      svg.append(svgNode("text", { x: M.l - 6, y: sy(yv) + 4, "text-anchor": "end", "font-size": 11 }, niceNumber(yv)));
    }
    svg.append(svgNode("text", { x: (W + M.l) / 2, y: H - 6, "text-anchor": "middle", "font-size": 12 }, spec.xLabel || ""));
    if (spec.yLabel) svg.append(svgNode("text", { x: 12, y: (H - M.b + M.t) / 2, "font-size": 12, "text-anchor": "middle",
                                                  transform: `rotate(-90 12 ${(H - M.b + M.t) / 2})` }, spec.yLabel));
    for (const line of spec.hlines || []) {
      svg.append(svgNode("line", { x1: M.l, x2: W - M.r, y1: sy(line.y), y2: sy(line.y), stroke: "#888", "stroke-dasharray": "4 3", class: "hline" }));
      svg.append(svgNode("text", { x: W - M.r - 4, y: sy(line.y) - 3, "text-anchor": "end", "font-size": 10, fill: "#666" }, line.label || ""));
    }
    for (const line of spec.vlines || []) {
      if (!(line.x >= x0 && line.x <= x1)) continue;
      svg.append(svgNode("line", { x1: sx(line.x), x2: sx(line.x), y1: M.t, y2: H - M.b, stroke: "#888", "stroke-dasharray": "4 3", class: "vline" }));
      svg.append(svgNode("text", { x: sx(line.x) + 3, y: M.t + 12, "font-size": 10, fill: "#666" }, line.label || ""));
    }
    const groups = series.map((s, k) => {
      const colour = s.colour || COLOURS[k % COLOURS.length];
      const group = svgNode("g", { "data-series": s.label, stroke: colour, fill: colour });
      if (spec.scatter) s.points.forEach(([a, b]) => group.append(svgNode("circle", { cx: sx(a), cy: sy(b), r: 2, stroke: "none" })));
      else group.append(svgNode("path", { d: s.points.map(([a, b], i) => `${i ? "L" : "M"}${sx(a).toFixed(1)},${sy(b).toFixed(1)}`).join(""),
                                          fill: "none", "stroke-width": 1.5, "stroke-dasharray": s.dash || null, "data-series": s.label }));
      svg.append(group);
      const legend = svgNode("text", { x: M.l + 8, y: M.t + 16 + 14 * k, fill: colour, "font-size": 12, class: "legend",
                                       "data-series": s.label, style: "cursor: pointer" }, s.label);
      legend.addEventListener("click", () => {
        group.classList.toggle("hidden");
        legend.setAttribute("text-decoration", group.classList.contains("hidden") ? "line-through" : "none");
      });
      svg.append(legend);
      return group;
    });
    const cursor = svgNode("line", { y1: M.t, y2: H - M.b, stroke: "#333", visibility: "hidden", "pointer-events": "none" });
    const readout = svgNode("text", { x: M.l, y: M.t - 6, "font-size": 11, class: "readout", "pointer-events": "none" });
    svg.append(cursor, readout);
    svg.addEventListener("mousemove", (event) => {
      const box = svg.getBoundingClientRect(), px = event.clientX - box.left;
      if (px < M.l || px > W - M.r) return;
      const x = x0 + ((px - M.l) / (W - M.l - M.r)) * (x1 - x0);
      const nearest = series.map((s) => s.points.reduce((best, p) => (Math.abs(p[0] - x) < Math.abs(best[0] - x) ? p : best)));
      const shown = series.map((s, k) => k).filter((k) => !groups[k].classList.contains("hidden"));
      if (!shown.length) return;
      const at = nearest[shown[0]][0];  // the sample under the pointer
      cursor.setAttribute("x1", sx(at)); cursor.setAttribute("x2", sx(at)); cursor.setAttribute("visibility", "visible");
      readout.textContent = `${xText(at)}: ${shown.map((k) => `${series[k].label} ${niceNumber(nearest[k][1])}`).join(", ")}`;
    });
    return svg;
  },

  /* Columns ``ys`` of a STAR table (as /api/display/star gives it) against column ``x`` (row number when empty). */
  columns(block, x, ys, options = {}) {
    return Plot.curves({ xLabel: x || "row", series: ys.map((label) => ({ label, points: columnPoints(block, x, label) })), ...options });
  },

  /* Viewing directions (/api/display/angdist) on a Hammer projection: one cell per equal-area bin, its
     colour the particles per steradian; the pointer on a cell names its rot and tilt and its count. */
  hammer(data) {
    const W = 720, H = 380, cx = W / 2, cy = 175, R = 120;  // R: pixels per unit of the projection
    const project = (lon, lat) => {
      const l = (lon * Math.PI) / 180, p = (lat * Math.PI) / 180, d = Math.sqrt(1 + Math.cos(p) * Math.cos(l / 2));
      return [cx + (R * 2 * Math.SQRT2 * Math.cos(p) * Math.sin(l / 2)) / d, cy - (R * Math.SQRT2 * Math.sin(p)) / d];
    };
    const svg = svgNode("svg", { width: W, height: H, class: "plot-svg hammer" });
    const peak = Math.max(...data.density.flat(), 1e-12);
    const lon = data.longitude_edges, lat = data.latitude_edges, steps = 4;
    data.counts.forEach((column, i) => column.forEach((count, j) => {
      const edge = (a, b, fixed) => Array.from({ length: steps + 1 }, (_, s) => project(a + ((b - a) * s) / steps, fixed));
      const corners = [...edge(lon[i], lon[i + 1], lat[j]), ...edge(lon[i + 1], lon[i], lat[j + 1])];
      const cell = svgNode("polygon", { points: corners.map((p) => p.map((v) => v.toFixed(1)).join(",")).join(" "),
                                        fill: viridis(data.density[i][j] / peak), stroke: viridis(data.density[i][j] / peak), "stroke-width": 0.6, class: "cell",
                                        "data-count": count, "data-rot": lon[i], "data-tilt": 90 - lat[j + 1] });
      cell.append(svgNode("title", {}, `rot ${niceNumber(lon[i])}…${niceNumber(lon[i + 1])}°, tilt ` +
        `${niceNumber(90 - lat[j + 1])}…${niceNumber(90 - lat[j])}°: ${count} particles`));
      svg.append(cell);
    }));
    const outline = [...Array.from({ length: 61 }, (_, s) => project(180, 90 - 3 * s)), ...Array.from({ length: 61 }, (_, s) => project(-180, -90 + 3 * s))];
    svg.append(svgNode("polygon", { points: outline.map((p) => p.join(",")).join(" "), fill: "none", stroke: "#333" }));
    svg.append(svgNode("path", { d: `M${project(-180, 0).join(",")}L${project(180, 0).join(",")}`, stroke: "#fff", "stroke-opacity": 0.5 }));
    for (let k = 0; k <= 10; k++) svg.append(svgNode("rect", { x: 200 + 32 * k, y: H - 32, width: 32, height: 10, fill: viridis(k / 10) }));
    svg.append(svgNode("text", { x: 196, y: H - 23, "text-anchor": "end", "font-size": 11 }, "0"));
    svg.append(svgNode("text", { x: 556, y: H - 23, "font-size": 11 }, `${niceNumber(peak)} particles per steradian`));
    svg.append(svgNode("text", { x: cx, y: H - 6, "text-anchor": "middle", "font-size": 12 },
      `${data.count} particles; longitude: rot, latitude: 90° − tilt (tilt 0 at the top)`));
    return svg;
  },

  /* Motion tracks (/api/display/motion): the global track from the frame centre and, at each patch,
     the observed (grey) and fitted (black) local tracks, shifts enlarged ``scale`` times, first
     frames in red, over the micrograph ``background`` when it loads; y grows downwards, as the image. */
  motion(data, scale = 40, background = null) {
    const [nx, ny] = data.size, k = 640 / (nx || 640), W = nx * k, H = ny * k;
    const svg = svgNode("svg", { width: W, height: H, class: "plot-svg motion", "data-scale": scale, "data-zoom": k });
    svg.append(svgNode("rect", { x: 0, y: 0, width: W, height: H, fill: "#f3f3f3", stroke: "#999" }));
    if (background) {
      const image = svgNode("image", { href: background, x: 0, y: 0, width: W, height: H, opacity: 0.6 });
      image.addEventListener("error", () => image.remove());
      svg.append(image);
    }
    const track = (shifts, [x, y], colour, cls) => {
      const points = shifts.map(([dx, dy]) => [(x + scale * dx) * k, (y + scale * dy) * k]);
      svg.append(svgNode("polyline", { points: points.map((p) => p.map((v) => v.toFixed(2)).join(",")).join(" "),
                                       fill: "none", stroke: colour, "stroke-width": cls === "global-track" ? 2 : 1, class: cls }));
      points.forEach((p, n) => {
        const dot = svgNode("circle", { cx: p[0], cy: p[1], r: n ? 1.5 : 3, fill: n ? colour : "red", class: cls + "-frame" });
        dot.append(svgNode("title", {}, `frame ${data.frames[n] ?? n + 1}: shift (${niceNumber(shifts[n][0])}, ${niceNumber(shifts[n][1])}) px`));
        svg.append(dot);
      });
    };
    for (const patch of data.patches) {
      track(patch.observed, patch.centre, "#999", "local-observed");
      if (data.fitted_model) track(patch.fitted, patch.centre, "#111", "local-fitted");
    }
    track(data.shifts, [nx / 2, ny / 2], "#1f5fbf", "global-track");
    return svg;
  },
};
