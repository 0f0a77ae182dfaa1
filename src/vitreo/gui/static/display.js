/* Display views (File > Display, node links): micrographs, stack montages with sorting and
   selection (3D classes as their views along z, y and x), orthogonal map slices and a 3D surface,
   STAR tables with their plots (FSC, Guinier, motion tracks, angular distribution), CTF fits,
   manual picking, and files (PDF, SVG) in a sandboxed frame. */
"use strict";

const loadedScripts = {};

function loadScript(src) {
  if (!loadedScripts[src]) {
    loadedScripts[src] = new Promise((resolve, reject) =>
      document.head.append(el("script", { src, onload: resolve, onerror: () => reject(new Error("cannot load " + src)) })));
  }
  return loadedScripts[src];
}

const Display = {
  show(title, ...content) {
    document.getElementById("overlay-title").textContent = title;
    document.getElementById("overlay-body").replaceChildren(...content);
    document.getElementById("overlay").hidden = false;
  },

  close() { document.getElementById("overlay").hidden = true; },

  async open(path) {
    const info = await attempt(() => api("display/kind", { params: { path } }));
    if (!info) return;
    const view = { micrograph: Display.micrograph, stack: Display.stack, particles: Display.stack,
                   classes: Display.stack, map: Display.map, star: Display.star, file: Display.file,
                   ctf: Display.ctf }[info.kind];
    view(path, info.kind);
  },

  /* Browse the project's folders; a file is displayed, or handed to ``choose`` (a Browse button). */
  async browse(dir, choose = null) {
    const listing = await attempt(() => api("browse", { params: { path: dir } }));
    if (!listing) return;
    const up = listing.path === "." ? null : listing.path.split("/").slice(0, -1).join("/") || ".";
    const pick = (e) => {
      if (e.folder) Display.browse(e.path, choose);
      else if (choose) { choose(e.path); Display.close(); } else Display.open(e.path);
    };
    const items = listing.entries.map((e) => el("li", { onclick: () => pick(e) }, e.folder ? e.name + "/" : e.name));
    if (up) items.unshift(el("li", { onclick: () => Display.browse(up, choose) }, "../"));
    const extra = choose ? [el("button", { onclick: () => { choose(listing.path === "." ? "" : listing.path + "/"); Display.close(); } },
                               "Use this folder")] : [];
    Display.show(`${choose ? "Choose a file" : "Display"}: ${listing.path}`, ...extra, el("ul", { class: "browser" }, items));
  },

  micrograph(path) {
    const c = { scale: 0.25, sigma: 3, black: 0, white: 0, lowpass: 0, highpass: 0, index: 0 };
    const img = el("img", { alt: path });
    const update = () => { img.src = apiUrl("display/micrograph.png", { path, ...c }); };
    const controls = el("div", { class: "controls" }, Object.keys(c).map((key) =>
      el("label", { title: { scale: "zoom factor", sigma: "contrast: mean ± sigma·std (0: min to max)",
                              black: "value shown black (black = white: automatic)", white: "value shown white",
                              lowpass: "low-pass filter (Å, 0: none)", highpass: "high-pass filter (Å, 0: none)",
                              index: "image in a stack (from 0)" }[key] },
         key, " ", el("input", { type: "number", step: "any", value: c[key],
                                 onchange: (e) => { c[key] = Number(e.target.value); update(); } }))));
    update();
    Display.show(path, controls, img);
  },

  async stack(path) {
    const s = { sort: "", reverse: false, offset: 0, limit: 100, columns: 10, scale: 1, view: "projection",
                selected: new Set(), anchor: null, info: null };
    const grid = el("div", { class: "montage" });
    const status = el("span");
    const sortSelect = el("select", { onchange: (e) => { s.sort = e.target.value; s.offset = 0; load(); } });
    const maxPerClass = el("input", { type: "number", value: -1, title: "at most this many particles per class (negative: all)" });
    const alias = el("input", { type: "text", placeholder: "alias", title: "alias of the new Select job" });
    async function load() {
      const info = await attempt(() => api("display/stack", { params: { path, sort: s.sort, reverse: s.reverse } }));
      if (!info) return;
      s.info = info;
      if (!sortSelect.options.length) {
        sortSelect.replaceChildren(el("option", { value: "" }, "(file order)"),
                                   ...info.labels.map((l) => el("option", { value: l }, l)));
        if (info.volumes) { s.columns = 1; columnsInput.value = s.columns; }  // a class per row: its views along z, y, x
        extras.replaceChildren(
          info.volumes ? el("label", { title: "each class as its views along z, y and x (double-click: the map)" }, "views ",
            el("select", { onchange: (e) => { s.view = e.target.value; draw(); } },
               el("option", { value: "projection" }, "projections"), el("option", { value: "slice" }, "central slices"))) : "",
          info.labels.includes("rlnAngleRot") && info.labels.includes("rlnAngleTilt")
            ? el("button", { title: "viewing directions of these particles", onclick: () => Display.angdist(info.source) }, "Angular distribution") : "",
          el("button", { title: "the STAR table, with plots of its columns", onclick: () => Display.star(info.source) }, "Table"));
      }
      draw();
    }
    function draw() {
      const info = s.info;
      const rows = info.order.slice(s.offset, s.offset + s.limit);
      const img = el("img", { alt: "montage", src: apiUrl("display/montage.png",
        { path, sort: s.sort, reverse: s.reverse, offset: s.offset, limit: s.limit, columns: s.columns, scale: s.scale,
          view: info.volumes ? s.view : null }) });
      img.addEventListener("load", () => {
        const cols = Math.min(s.columns, rows.length), w = img.naturalWidth / cols;
        const h = img.naturalHeight / Math.ceil(rows.length / cols);
        const cells = rows.map((row, i) => {
          const position = s.offset + i;
          const value = info.values ? ` ${info.sort} = ${info.values[position]}` : "";
          return el("div", { class: "cell", "data-row": row, "data-position": position, title: `row ${row}${value}`,
                             style: `left:${(i % cols) * w}px;top:${Math.floor(i / cols) * h}px;width:${w}px;height:${h}px`,
                             onclick: () => { toggle(row); s.anchor = position; mark(); },
                             ondblclick: () => { if (info.maps) Display.map(info.maps[row]); } });
        });
        grid.replaceChildren(img, ...cells);
        mark();
      });
      grid.replaceChildren(img);
    }
    function mark() {
      for (const cell of grid.querySelectorAll(".cell")) {
        cell.classList.toggle("selected", s.selected.has(Number(cell.dataset.row)));
        cell.classList.toggle("anchor", s.anchor === Number(cell.dataset.position));
      }
      const shown = Math.min(s.limit, s.info.count - s.offset);
      status.textContent = `${s.info.kind}: ${s.info.count} images, showing ${s.offset + 1}–${s.offset + shown}; ${s.selected.size} selected`;
    }
    function toggle(row) { if (s.selected.has(row)) s.selected.delete(row); else s.selected.add(row); }
    const button = (text, title, action, redraw = false) =>
      el("button", { title, onclick: () => { action(); if (redraw) draw(); else mark(); } }, text);
    const extras = el("span", { class: "controls" });
    const columnsInput = el("input", { type: "number", value: s.columns, min: 1, max: 100, onchange: (e) => { s.columns = Number(e.target.value); draw(); } });
    const controls = el("div", { class: "controls" },
      el("label", {}, "Sort by ", sortSelect),
      el("label", {}, el("input", { type: "checkbox", onchange: (e) => { s.reverse = e.target.checked; load(); } }), " reverse"),
      el("label", {}, "columns ", columnsInput),
      el("label", {}, "scale ", el("input", { type: "number", value: s.scale, step: "any", onchange: (e) => { s.scale = Number(e.target.value); draw(); } })),
      button("◀ page", "previous page", () => { s.offset = Math.max(0, s.offset - s.limit); }, true),
      button("page ▶", "next page", () => { if (s.offset + s.limit < s.info.count) s.offset += s.limit; }, true),
      button("Select all", "select every image", () => { s.info.order.forEach((r) => s.selected.add(r)); }),
      button("Invert", "invert the selection", () => { s.info.order.forEach(toggle); }),
      button("Select all above", "select every image before the last clicked one (in this order)", () => {
        if (s.anchor !== null) s.info.order.slice(0, s.anchor + 1).forEach((r) => s.selected.add(r));
      }),
      button("Clear", "select nothing", () => s.selected.clear()),
      el("label", {}, "max per class ", maxPerClass), alias,
      el("button", { onclick: async () => {
        const body = { path, rows: [...s.selected], max_per_class: Number(maxPerClass.value), alias: alias.value || null };
        say(s.info.kind === "classes" ? "running a Select job on the selected classes…" : "saving the selection…");
        const r = await attempt(() => api("display/select", { body }));
        if (r) { say(`${r.job}: ${r.particles} particles selected`); status.textContent = `saved ${r.job} (${r.particles} particles)`; }
      } }, "Save selected"),
      extras, status);
    Display.show(path, controls, grid);
    load();
  },

  async map(path) {
    const info = await attempt(() => api("display/map", { params: { path } }));
    if (!info) return;
    const [nz, ny, nx] = info.shape, c = { sigma: 3, scale: Math.min(8, Math.max(1, Math.floor(300 / Math.max(nz, ny, nx)))) };
    const index = { z: Math.floor(nz / 2), y: Math.floor(ny / 2), x: Math.floor(nx / 2) };
    const size = { z: nz, y: ny, x: nx };
    const figures = ["z", "y", "x"].map((axis) => {
      const img = el("img", { alt: `${axis} slice` });
      const caption = el("figcaption");
      const update = () => { img.src = apiUrl("display/map/slice.png", { path, axis, index: index[axis], ...c }); caption.textContent = `${axis} = ${index[axis]}`; };
      const slider = el("input", { type: "range", min: 0, max: size[axis] - 1, value: index[axis],
                                   oninput: (e) => { index[axis] = Number(e.target.value); update(); } });
      update();
      return { figure: el("figure", {}, img, el("div", {}, slider), caption), update };
    });
    const controls = el("div", { class: "controls" },
      `${nx}×${ny}×${nz} voxels of ${info.pixel_size.toFixed(3)} Å; mean ${info.mean.toPrecision(4)}, std ${info.std.toPrecision(4)}`,
      ["sigma", "scale"].map((key) => el("label", {}, key, " ", el("input", { type: "number", step: "any", value: c[key],
        onchange: (e) => { c[key] = Number(e.target.value); figures.forEach((f) => f.update()); } }))));
    Display.show(path, controls, el("div", { class: "slices" }, figures.map((f) => f.figure)), Display.surfacePanel(path));
  },

  /* A thresholded 3D surface (NGL, vendored), optionally coloured by a second map such as a
     local-resolution map: blue for its lowest values (best resolution) to red for its highest. */
  surfacePanel(path) {
    const c = { level: 3, colourBy: "" };
    const viewer = el("div", { class: "surface" });
    const note = el("span");
    let stage = null, component = null;
    async function draw() {
      try {
        await loadScript("/static/vendor/ngl.js");
        if (!stage) {
          stage = new NGL.Stage(viewer, { backgroundColor: "white" });
          component = await stage.loadFile(apiUrl("files", { path }), { ext: "mrc", name: path });
        }
        const params = { isolevelType: "sigma", isolevel: c.level, color: "#7aa7d8", smooth: 1 };
        if (c.colourBy) {
          const info = await api("display/map", { params: { path: c.colourBy } });
          const colour = await stage.loadFile(apiUrl("files", { path: c.colourBy }), { ext: "mrc", name: c.colourBy });
          delete params.color;  // NGL reads `color` as a uniform scheme
          Object.assign(params, { colorScheme: "volume", colorVolume: colour.volume,
                                  colorScale: ["blue", "cyan", "green", "yellow", "red"], colorDomain: [info.min, info.max] });
          note.textContent = `colour: ${c.colourBy} from ${info.min.toPrecision(3)} (blue) to ${info.max.toPrecision(3)} (red)`;
        } else note.textContent = "";
        component.removeAllRepresentations();
        component.addRepresentation("surface", params);
        component.autoView();
      } catch (err) {
        note.textContent = `no 3D view: ${err.message || err} (the browser needs WebGL)`;
      }
    }
    const controls = el("div", { class: "controls" },
      el("button", { onclick: draw }, "3D surface"),
      el("label", { title: "surface threshold in standard deviations above the mean" }, "threshold (σ) ",
         el("input", { type: "number", step: "any", value: c.level, onchange: (e) => { c.level = Number(e.target.value); if (stage) draw(); } })),
      el("label", { title: "colour the surface by this map (e.g. a local-resolution map), project-relative" }, "colour by map ",
         el("input", { type: "text", placeholder: "LocalRes/job001/relion_locres.mrc", onchange: (e) => { c.colourBy = e.target.value.trim(); if (stage) draw(); } })),
      note);
    return el("section", {}, controls, viewer);
  },

  async star(path) {
    const data = await attempt(() => api("display/star", { params: { path, limit: 20000 } }));
    if (!data) return;
    const shown = 500;
    const actions = { rlnCtfImage: "CTF fit", rlnMicrographMetadata: "motion" };  // row buttons: the file a column names
    const parts = Object.entries(data.blocks).map(([name, block]) => {
      if (block.pairs) {
        return el("section", {}, el("h4", {}, `data_${name}`), el("table", { class: "star" },
          Object.entries(block.pairs).map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v)))));
      }
      const link = ["rlnMicrographName", "rlnImageName", "rlnReferenceImage"].find((l) => block.labels.includes(l));
      const column = block.labels.indexOf(link);
      const buttons = Object.entries(actions).filter(([label]) => block.labels.includes(label));
      const rows = block.rows.slice(0, shown).map((row) => el("tr", link ? { class: "link", title: "display " + row[column],
          onclick: () => Display.open(String(row[column]).replace(/^\d+@/, "")) } : {},
        buttons.length ? el("td", {}, buttons.map(([label, text]) => el("button", { class: "row-action",
          onclick: (e) => { e.stopPropagation(); Display.open(String(row[block.labels.indexOf(label)]).replace(/:mrc$/, "")); } }, text))) : null,
        row.map((v) => el("td", {}, v === null ? "nan" : v))));
      const head = `data_${name} (${block.count} rows${block.count > rows.length ? ", first " + rows.length + " shown" : ""})`;
      const angles = block.labels.includes("rlnAngleRot") && block.labels.includes("rlnAngleTilt")
        ? el("button", { onclick: () => Display.angdist(path) }, "Angular distribution") : null;
      return el("section", {}, el("h4", {}, head, " ", angles), Display.plotControls(name, block),
                el("table", { class: "star" }, el("tr", {}, buttons.length ? el("th", {}) : null, block.labels.map((l) => el("th", {}, l))), rows));
    });
    Display.show(path, el("div", { class: "star-views" }, StarViews.views(path, data.blocks)), ...parts);
  },

  /* Plot any numeric columns of a table against another (points or lines). */
  plotControls(name, block) {
    const numeric = block.labels.filter((l, i) => block.rows.some((r) => typeof r[i] === "number"));
    if (numeric.length < 1 || block.rows.length < 2) return null;
    const x = el("select", {}, el("option", { value: "" }, "(row)"), numeric.map((l) => el("option", { value: l }, l)));
    const y = el("select", { multiple: true, size: Math.min(4, numeric.length) }, numeric.map((l) => el("option", { value: l }, l)));
    const scatter = el("input", { type: "checkbox" });
    const area = el("div", { class: "plot" });
    const button = el("button", { onclick: () => {
      const ys = [...y.selectedOptions].map((o) => o.value);
      if (!ys.length) return say("choose one or more columns to plot", true);
      area.replaceChildren(Plot.columns(block, x.value, ys, { scatter: scatter.checked }));
    } }, "Plot");
    return el("div", { class: "controls" }, "Plot ", y, " against ", x, el("label", {}, scatter, " points"), button,
              `(${block.rows.length} rows)`, area);
  },

  /* The CTF fit of one micrograph (its diagnostic image R.ctf): the fitted parameters, the spectrum
     beside the fitted CTF², CTFFIND's own picture, and the Thon rings and fit quality against frequency. */
  async ctf(path) {
    const data = await attempt(() => api("display/ctf", { params: { path } }));
    if (!data) return;
    const f = data.fit, p = data.profiles, c = { scale: 1, picture: "fit" };
    const img = el("img", { alt: "spectrum | fitted CTF²", class: "ctf-image" });
    const caption = el("figcaption");
    const update = () => {
      img.src = c.picture === "fit" ? apiUrl("display/ctf/fit.png", { path, scale: c.scale })
                                    : apiUrl("display/micrograph.png", { path, scale: c.scale, sigma: 3 });
      caption.textContent = c.picture === "fit" ? "left: the spectrum; right: the CTF² of the fitted parameters"
                                                : "CTFFIND's diagnostic image (fit overlays in the first rows)";
    };
    const nyquist = 1 / (2 * f.pixel_size);  // the profiles run on to the corner; show 1/20 of Nyquist to Nyquist
    const shown = (key) => p.frequency.map((s, i) => [s, p[key][i]]).filter(([s]) => s >= nyquist / 20 && s <= nyquist);
    const fitted = f.max_resolution ? [{ x: 1 / f.max_resolution, label: `fit to ${niceNumber(f.max_resolution)} Å` }] : [];
    const thon = Plot.curves({ title: "Thon rings", xLabel: "spatial frequency (1/Å)", yLabel: "amplitude²", xText: frequencyText,
                               series: [{ label: "spectrum (equi-phase average)", points: shown("equiphase_average") },
                                        { label: "CTF fit", points: shown("ctf_fit") }], vlines: fitted, yRange: [-0.2, 1.3] });
    const quality = Plot.curves({ title: "Fit quality", xLabel: "spatial frequency (1/Å)", yLabel: "correlation", xText: frequencyText, height: 260,
                                  series: [{ label: "ring correlation", points: shown("correlation") },
                                           { label: "2σ of noise", points: shown("threshold"), dash: "4 3" }], vlines: fitted, yRange: [-0.2, 1.05] });
    const number = (v, digits = 0) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));
    const summary = el("p", { class: "ctf-summary" },
      `defocus U ${number(f.defocus_u)} Å, V ${number(f.defocus_v)} Å (astigmatism ${number(f.defocus_u - f.defocus_v)} Å) at ${number(f.angle, 1)}°; ` +
      `phase shift ${number(f.phase_shift, 1)}°; figure of merit ${number(f.figure_of_merit, 4)}; rings fit to ${number(f.max_resolution, 2)} Å; ` +
      `${number(f.voltage)} kV, Cs ${f.cs} mm, amplitude contrast ${f.amplitude_contrast}, ${f.pixel_size} Å/px`);
    const controls = el("div", { class: "controls" },
      el("label", {}, "picture ", el("select", { onchange: (e) => { c.picture = e.target.value; update(); } },
         el("option", { value: "fit" }, "spectrum | fit"), el("option", { value: "diagnostic" }, "CTFFIND's image"))),
      el("label", {}, "scale ", el("input", { type: "number", step: "any", value: c.scale, onchange: (e) => { c.scale = Number(e.target.value); update(); } })));
    update();
    Display.show(`CTF fit: ${path}`, summary, controls,
                 el("div", { class: "ctf-view" }, el("figure", {}, img, caption), el("div", {}, thon, quality)));
  },

  /* Viewing directions of refined particles (rlnAngleRot, rlnAngleTilt) on an equal-area map. */
  async angdist(path) {
    const c = { bins: 18 };
    const area = el("div");
    const draw = async () => {
      const data = await attempt(() => api("display/angdist", { params: { path, bins: c.bins } }));
      if (data) area.replaceChildren(Plot.hammer(data));
    };
    const controls = el("div", { class: "controls" }, el("label", { title: "latitude bands (twice as many longitude steps)" }, "bins ",
      el("input", { type: "number", min: 2, max: 90, value: c.bins, onchange: (e) => { c.bins = Number(e.target.value); draw(); } })));
    Display.show(`Angular distribution: ${path}`, controls, area);
    await draw();
  },

  /* Manual picking on a ManualPick or AutoPick job: click to pick, click a pick to delete it,
     circles of the particle diameter coloured blue→red by a column (e.g. the FOM), Save. */
  async picking(job) {
    const summary = await attempt(() => api("picking", { params: { job } }));
    if (!summary) return;
    const d = summary.display, number = (v, fallback) => (v === undefined || Number(v) < 0 ? fallback : Number(v));
    const c = { scale: number(d.micscale, 0.2), sigma: number(d.sigma_contrast, 3), lowpass: number(d.lowpass, 0),
                highpass: number(d.highpass, 0), diameter: summary.diameter, colour: d.do_color === "Yes",
                label: d.color_label || "rlnAutopickFigureOfMerit", blue: number(d.blue_value, 0), red: number(d.red_value, 2) };
    const s = { micrograph: null, pixel: 1, x: [], y: [], fom: [], colour: null, changed: false };
    const img = el("img", { alt: "micrograph" });
    const svgNS = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(svgNS, "svg");
    svg.classList.add("picks");
    const status = el("span");
    const list = el("ul", { class: "browser micrographs" });
    function circleColour(i) {
      if (!c.colour || !s.colour || s.colour[i] === null || s.colour[i] === -999) return "#2c2";
      const t = Math.min(1, Math.max(0, (s.colour[i] - c.blue) / ((c.red - c.blue) || 1)));
      return `rgb(${Math.round(255 * t)},0,${Math.round(255 * (1 - t))})`;
    }
    function draw() {
      svg.setAttribute("width", img.naturalWidth);
      svg.setAttribute("height", img.naturalHeight);
      const r = (c.diameter / 2 / s.pixel) * c.scale;
      svg.replaceChildren(...s.x.map((x, i) => {
        const circle = document.createElementNS(svgNS, "circle");
        for (const [k, v] of Object.entries({ cx: x * c.scale, cy: s.y[i] * c.scale, r, stroke: circleColour(i), "data-index": i }))
          circle.setAttribute(k, v);
        return circle;
      }));
      status.textContent = `${s.micrograph}: ${s.x.length} picks${s.changed ? " (not saved)" : ""}`;
    }
    function render() {
      img.src = apiUrl("display/micrograph.png", { path: s.micrograph, scale: c.scale, sigma: c.sigma,
                                                   lowpass: c.lowpass, highpass: c.highpass });
    }
    img.addEventListener("load", draw);
    svg.addEventListener("click", (event) => {
      const box = svg.getBoundingClientRect();
      const px = (event.clientX - box.left) / c.scale, py = (event.clientY - box.top) / c.scale;
      const radius = c.diameter / 2 / s.pixel;
      const hit = s.x.findIndex((x, i) => (x - px) ** 2 + (s.y[i] - py) ** 2 <= radius ** 2);
      if (hit >= 0) {
        for (const a of [s.x, s.y, s.fom]) a.splice(hit, 1);
        if (s.colour) s.colour.splice(hit, 1);
      } else {
        s.x.push(px); s.y.push(py); s.fom.push(-999);
        if (s.colour) s.colour.push(null);
      }
      s.changed = true;
      draw();
    });
    async function load(m) {
      if (s.changed && !confirm(`Discard the unsaved picks of ${s.micrograph}?`)) return;
      const picks = await attempt(() => api("picking/picks", { params: { job, micrograph: m.name, colour: c.label } }));
      if (!picks) return;
      Object.assign(s, { micrograph: m.name, pixel: m.pixel_size || 1, x: picks.x, y: picks.y, fom: picks.fom,
                         colour: picks.colour, changed: false, ctf: m.ctf_image });
      for (const li of list.children) li.classList.toggle("active", li.dataset.name === m.name);
      render();
    }
    async function save() {
      if (!s.micrograph) return;
      const r = await attempt(() => api("picking/picks", { body: { job, micrograph: s.micrograph, x: s.x, y: s.y, fom: s.fom } }));
      if (!r) return;
      s.changed = false;
      say(`${r.saved} picks saved for ${r.micrograph}`);
      const li = [...list.children].find((item) => item.dataset.name === s.micrograph);
      if (li) li.textContent = `${s.micrograph} (${r.saved})`;
      draw();
    }
    list.replaceChildren(...summary.micrographs.map((m) =>
      el("li", { "data-name": m.name, onclick: () => load(m) }, `${m.name} (${m.picks})`)));
    const input = (key, title, redraw) => el("label", { title }, key, " ", el("input", {
      type: "number", step: "any", value: c[key], onchange: (e) => { c[key] = Number(e.target.value); redraw(); } }));
    const controls = el("div", { class: "controls" },
      input("scale", "zoom factor", render), input("sigma", "contrast: mean ± sigma·std", render),
      input("lowpass", "low-pass filter (Å, 0: none)", render), input("highpass", "high-pass filter (Å, 0: none)", render),
      input("diameter", "particle diameter (Å): the circle size", draw),
      el("label", { title: "colour circles from blue to red by this column" },
         el("input", { type: "checkbox", checked: c.colour, onchange: (e) => { c.colour = e.target.checked; draw(); } }),
         " colour by ", el("input", { type: "text", value: c.label, onchange: (e) => { c.label = e.target.value; const m = s.micrograph; s.changed = false; if (m) load({ name: m, pixel_size: s.pixel, ctf_image: s.ctf }); } })),
      input("blue", "value drawn blue", draw), input("red", "value drawn red", draw),
      el("button", { onclick: save }, "Save picks"),
      el("button", { onclick: () => { if (s.micrograph) { s.changed = false; load({ name: s.micrograph, pixel_size: s.pixel, ctf_image: s.ctf }); } } }, "Reload"),
      el("button", { title: "the CTF fit of this micrograph, in a new tab",
                     onclick: () => { if (s.ctf) window.open("/#display=" + encodeURIComponent(s.ctf)); else say("this micrograph has no CTF image", true); } }, "CTF image"),
      status);
    Display.show(`Picking: ${job}`, controls, el("div", { class: "picking" }, list, el("div", { class: "pickarea" }, img, svg)));
    if (summary.micrographs.length) load(summary.micrographs[0]);
  },

  file(path) {
    const pdf = path.toLowerCase().endsWith(".pdf");
    Display.show(path, el("iframe", { class: "file", sandbox: pdf ? false : "", src: apiUrl("files", { path }) }));
  },
};

document.getElementById("overlay-close").addEventListener("click", () => Display.close());
document.addEventListener("keydown", (e) => { if (e.key === "Escape") Display.close(); });
