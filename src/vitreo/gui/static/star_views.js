/* Plots drawn as soon as a STAR file with known blocks is displayed: FSC curves (postprocess.star,
   a refinement's _model.star), the Guinier plot with its fitted line (postprocess.star), and motion
   tracks (a movie's motion STAR file from MotionCorr). */
"use strict";

const FSC_CURVES = [
  ["rlnFourierShellCorrelationCorrected", "corrected"],
  ["rlnFourierShellCorrelationUnmaskedMaps", "unmasked maps"],
  ["rlnFourierShellCorrelationMaskedMaps", "masked maps"],
  ["rlnCorrectedFourierShellCorrelationPhaseRandomizedMaskedMaps", "phase-randomised masked maps"],
  ["rlnGoldStandardFsc", "gold-standard FSC"],
];
const NO_LOG_AMPLITUDE = -99;  // RELION's value where a shell has no amplitude

const StarViews = {
  /* The plots the blocks of one STAR file (as /api/display/star gives them) call for. */
  views(path, blocks) {
    const tables = Object.entries(blocks).filter(([, block]) => !block.pairs);
    const general = (blocks.general && blocks.general.pairs) || {};
    const out = [];
    for (const [name, block] of tables) {
      const curves = FSC_CURVES.filter(([label]) => block.labels.includes(label));
      if (curves.length && block.labels.includes("rlnResolution")) out.push(StarViews.fsc(name, block, curves, general));
    }
    if (blocks.guinier && !blocks.guinier.pairs) out.push(StarViews.guinier(blocks.guinier, general));
    if (blocks.global_shift && !blocks.global_shift.pairs) out.push(StarViews.motion(path));
    return out;
  },

  /* FSC against spatial frequency, with the 0.143 and 0.5 thresholds. */
  fsc(name, block, curves, general) {
    const final = general.rlnFinalResolution;
    const series = curves.map(([label, text]) => ({ label: text, points: columnPoints(block, "rlnResolution", label) }));
    return Plot.curves({ title: `FSC (data_${name})${final ? `: final resolution ${niceNumber(final)} Å` : ""}`,
                         xLabel: "resolution (1/Å)", yLabel: "FSC", xText: frequencyText, series, yRange: [-0.2, 1.05],
                         hlines: [{ y: 0.143, label: "0.143" }, { y: 0.5, label: "0.5" }] });
  },

  /* ln|F| against s², and the line fitted to it (B-factor = 4 × slope, as RELION reports it). */
  guinier(block, general) {
    const labels = block.labels.filter((l) => l.startsWith("rlnLogAmplitudes"));
    const series = labels.map((label) => ({ label: label.replace("rlnLogAmplitudes", ""),
      points: columnPoints(block, "rlnResolutionSquared", label).filter(([, y]) => y > NO_LOG_AMPLITUDE) }));
    const slope = general.rlnFittedSlopeGuinierPlot, intercept = general.rlnFittedInterceptGuinierPlot;
    if (slope !== undefined && intercept !== undefined) {
      const xs = series.flatMap((s) => s.points.map((p) => p[0])), ends = [Math.min(...xs), Math.max(...xs)];
      series.push({ label: `fit: B = ${niceNumber(4 * slope)} Å²`, points: ends.map((x) => [x, slope * x + intercept]), dash: "6 4" });
    }
    return Plot.curves({ title: "Guinier plot", xLabel: "resolution² (1/Å²)", yLabel: "ln(amplitude)", series,
                         xText: (x) => `${niceNumber(x)} Å⁻² (${x > 0 ? niceNumber(1 / Math.sqrt(x)) : "∞"} Å)` });
  },

  /* The movie's global and local tracks, enlarged ``scale`` times, over its corrected micrograph. */
  motion(path) {
    const c = { scale: 40 }, area = el("div");
    let data = null;
    const draw = () => {
      const zoom = Math.min(1, 640 / (data.size[0] || 640));
      const background = apiUrl("display/micrograph.png", { path: path.replace(/\.star$/, ".mrc"), scale: zoom, sigma: 3 });
      area.replaceChildren(Plot.motion(data, c.scale, background));
    };
    attempt(() => api("display/motion", { params: { path } })).then((result) => { if (result) { data = result; draw(); } });
    return el("section", { class: "motion-view" }, el("h4", {}, "Motion tracks"), el("div", { class: "controls" },
      el("label", { title: "shifts are drawn this many times larger" }, "enlarge shifts ×",
         el("input", { type: "number", min: 1, value: c.scale, onchange: (e) => { c.scale = Number(e.target.value); if (data) draw(); } })),
      "blue: the frame's global track from its centre; at each patch, grey: observed and black: fitted local tracks; red: first frames"),
      area);
  },
};
