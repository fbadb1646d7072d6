// The page: a form for /predict built from the inputs /model declares, the accuracy and the
// confusion matrix from /accuracy, the decision boundary as /model draws it (one panel per
// category when the served version uses one), and the latest rows of the log (/predictions).
// Nothing here knows the model's formula or its inputs: both come from /model.
"use strict";

const COLORS = {
  buyRegion: "rgb(253, 231, 200)",
  noBuyRegion: "rgb(219, 232, 245)",
  buy: "#b45309",
  noBuy: "#1e5a96",
  boundary: "#1b1f24",
  axis: "#4a5360",
};
// In CSS pixels: the canvases are sized to their box (times the screen's pixel ratio), so the
// axis text stays 12 px at any width.
const MARGIN = { left: 64, right: 12, top: 12, bottom: 44 };
const ASPECT = 380 / 520;

const $ = (id) => document.getElementById(id);
const state = { inputs: [], model: null, lastPrediction: null, busy: false };
const percent = (value) => `${(value * 100).toFixed(1)} %`;

const pause = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// Status 0: the service could not be reached at all (every caller says so in its own words).
// A read that failed in the network (a dropped connection, a phone between cells) is tried
// twice more; a POST never is: it may have been logged.
async function api(path, options = {}) {
  const tries = (options.method || "GET") === "GET" ? 3 : 1;
  let response;
  for (let attempt = 1; response === undefined; attempt += 1) {
    try {
      response = await fetch(path, {
        ...options,
        headers: { Accept: "application/json", ...(options.headers || {}) },
      });
    } catch {
      if (attempt >= tries) return { status: 0, ok: false, body: null };
      await pause(250 * attempt);
    }
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return { status: response.status, ok: response.ok, body };
}

function element(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

const formatNumber = (value) => Number(value).toLocaleString("en");

// --- the decision boundary --------------------------------------------------------------------

// Each axis spans its values plus this share of their range on both sides, never below the
// input's declared minimum: the same rule for any numeric input (no input's units are assumed).
const AXIS_PADDING = 0.05;

function paddedRange(values, low) {
  const min = Math.min(...values);
  const max = Math.max(...values);
  const pad = (max - min || Math.abs(max) || 1) * AXIS_PADDING;
  return [Math.max(low, min - pad), max + pad];
}

// One panel: two numeric inputs on the axes, the categories fixed as `panel.given`. Which side
// of the 50 % line buys comes from /model's `boundary`; the page computes no probability.
class Plot {
  constructor(regions, overlay, panel, points, labels, lows) {
    this.regions = regions;
    this.overlay = overlay;
    this.panel = panel;
    this.labels = labels;
    this.lows = { x: lows[panel.x] ?? -Infinity, y: lows[panel.y] ?? -Infinity };
    this.points = points.filter((p) => p[panel.x] !== null && p[panel.y] !== null
      && Object.entries(panel.given).every(([name, value]) => p[name] === value));
    const xs = points.map((p) => p[panel.x]).filter((v) => v !== null);
    const ys = points.map((p) => p[panel.y]).filter((v) => v !== null);
    this.domain = { x: paddedRange(xs, this.lows.x), y: paddedRange(ys, this.lows.y) };
    this.query = null;
    this.ratio = 1;
    this.cssWidth = 0; // not drawn yet: resize() sizes the canvases first
    this.cssHeight = 0;
    this.lastDrawMs = 0;
  }

  get width() { return this.cssWidth - MARGIN.left - MARGIN.right; }
  get height() { return this.cssHeight - MARGIN.top - MARGIN.bottom; }

  // The canvases' pixels follow their box: `cssWidth` CSS pixels wide, times the pixel ratio.
  // Returns whether anything changed (then the caller draws again).
  resize(cssWidth, ratio) {
    const width = Math.max(Math.round(cssWidth), MARGIN.left + MARGIN.right + 40);
    const height = Math.round(width * ASPECT);
    if (width === this.cssWidth && height === this.cssHeight && ratio === this.ratio) return false;
    Object.assign(this, { cssWidth: width, cssHeight: height, ratio });
    for (const canvas of [this.regions, this.overlay]) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    return true;
  }

  context(canvas) {
    const ctx = canvas.getContext("2d");
    ctx.setTransform(this.ratio, 0, 0, this.ratio, 0, 0);
    return ctx;
  }

  toPixel(x, y) {
    const [x0, x1] = this.domain.x;
    const [y0, y1] = this.domain.y;
    return {
      x: MARGIN.left + ((x - x0) / (x1 - x0)) * this.width,
      y: MARGIN.top + (1 - (y - y0) / (y1 - y0)) * this.height,
    };
  }

  lineAt(x) {
    const { intercept, slope } = this.panel.boundary;
    return intercept + slope * x;
  }

  // Grows the axes so that a query outside the training range is still on the plot.
  include(x, y) {
    const d = this.domain;
    const grow = ([low, high], value, floor) => {
      const pad = (high - low) * AXIS_PADDING;
      return [Math.min(low, Math.max(floor, value - pad)), Math.max(high, value + pad)];
    };
    const grown = { x: grow(d.x, x, this.lows.x), y: grow(d.y, y, this.lows.y) };
    const changed = grown.x.some((v, i) => v !== d.x[i]) || grown.y.some((v, i) => v !== d.y[i]);
    this.domain = grown;
    return changed;
  }

  // The boundary is a straight line, so each region is a half-plane: the plot area filled with
  // one colour, the buying side as one polygon over it (clipped to the area). No per-pixel work.
  drawRegions() {
    const ctx = this.context(this.regions);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, this.cssWidth, this.cssHeight);
    ctx.save();
    ctx.beginPath();
    ctx.rect(MARGIN.left, MARGIN.top, this.width, this.height);
    ctx.clip();
    ctx.fillStyle = COLORS.noBuyRegion;
    ctx.fillRect(MARGIN.left, MARGIN.top, this.width, this.height);
    const [x0, x1] = this.domain.x;
    // Far enough past the plot on the buying side (pixel y grows downwards), kept finite.
    const clamp = (v) => Math.max(-1e6, Math.min(1e6, v));
    const p0 = this.toPixel(x0, this.lineAt(x0));
    const p1 = this.toPixel(x1, this.lineAt(x1));
    const beyond = this.panel.boundary.buy_above ? -1e6 : 1e6;
    ctx.fillStyle = COLORS.buyRegion;
    ctx.beginPath();
    ctx.moveTo(p0.x, clamp(p0.y));
    ctx.lineTo(p1.x, clamp(p1.y));
    ctx.lineTo(p1.x, beyond);
    ctx.lineTo(p0.x, beyond);
    ctx.closePath();
    ctx.fill();
    ctx.restore();
  }

  drawOverlay() {
    const ctx = this.context(this.overlay);
    ctx.clearRect(0, 0, this.cssWidth, this.cssHeight);
    this.drawAxes(ctx);
    this.drawBoundary(ctx);
    // One path per colour: two fills for all the dots, not one per dot.
    for (const bought of [false, true]) {
      ctx.fillStyle = bought ? COLORS.buy : COLORS.noBuy;
      ctx.beginPath();
      for (const point of this.points) {
        if (Boolean(point.purchased) !== bought) continue;
        const { x, y } = this.toPixel(point[this.panel.x], point[this.panel.y]);
        ctx.moveTo(x + 3, y);
        ctx.arc(x, y, 3, 0, 2 * Math.PI);
      }
      ctx.fill();
    }
    if (this.query) this.drawQuery(ctx);
  }

  drawBoundary(ctx) {
    const [x0, x1] = this.domain.x;
    const p0 = this.toPixel(x0, this.lineAt(x0));
    const p1 = this.toPixel(x1, this.lineAt(x1));
    ctx.save();
    ctx.beginPath();
    ctx.rect(MARGIN.left, MARGIN.top, this.width, this.height);
    ctx.clip();
    ctx.strokeStyle = COLORS.boundary;
    ctx.lineWidth = 2;
    ctx.setLineDash([6, 4]);
    ctx.beginPath();
    ctx.moveTo(p0.x, p0.y);
    ctx.lineTo(p1.x, p1.y);
    ctx.stroke();
    ctx.restore();
  }

  drawAxes(ctx) {
    ctx.strokeStyle = COLORS.axis;
    ctx.fillStyle = COLORS.axis;
    ctx.lineWidth = 1;
    ctx.strokeRect(MARGIN.left, MARGIN.top, this.width, this.height);
    ctx.font = "12px system-ui, sans-serif";
    ctx.textAlign = "center";
    const [x0, x1] = this.domain.x;
    const xStep = niceStep((x1 - x0) / 6);
    for (let v = Math.ceil(x0 / xStep) * xStep; v <= x1; v += xStep) {
      const { x } = this.toPixel(v, this.domain.y[0]);
      ctx.fillText(formatTick(v), x, MARGIN.top + this.height + 16);
    }
    ctx.fillText(this.labels[this.panel.x], MARGIN.left + this.width / 2,
      MARGIN.top + this.height + 36);
    ctx.textAlign = "right";
    const [y0, y1] = this.domain.y;
    const yStep = niceStep((y1 - y0) / 6);
    for (let v = Math.ceil(y0 / yStep) * yStep; v <= y1; v += yStep) {
      const { y } = this.toPixel(this.domain.x[0], v);
      ctx.fillText(formatTick(v), MARGIN.left - 6, y + 4);
    }
    ctx.save();
    ctx.translate(14, MARGIN.top + this.height / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center";
    ctx.fillText(this.labels[this.panel.y], 0, 0);
    ctx.restore();
  }

  drawQuery(ctx) {
    const { x, y } = this.toPixel(this.query.x, this.query.y);
    ctx.strokeStyle = "#000";
    ctx.lineWidth = 3;
    ctx.beginPath();
    ctx.moveTo(x - 8, y - 8); ctx.lineTo(x + 8, y + 8);
    ctx.moveTo(x + 8, y - 8); ctx.lineTo(x - 8, y + 8);
    ctx.stroke();
  }

  draw() {
    const start = performance.now();
    this.drawRegions();
    this.drawOverlay();
    this.lastDrawMs = performance.now() - start;
  }

  mark(x, y) {
    this.query = { x, y };
    if (this.include(x, y)) this.draw();
    else this.drawOverlay();
  }

  unmark() {
    if (this.query) {
      this.query = null;
      this.drawOverlay();
    }
  }
}

function niceStep(raw) {
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((f) => f * power).find((s) => s >= raw);
}

function formatTick(value) {
  if (value >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (value >= 1e4) return `${Math.round(value / 1000)}k`;
  return String(Math.round(value));
}

// --- the form -----------------------------------------------------------------------------------

function buildForm(inputs) {
  const fields = $("fields");
  fields.replaceChildren();
  for (const input of inputs) {
    const field = element("div", { class: "field" });
    let control;
    let label = input.label;
    if (input.kind === "numeric") {
      label += ` (${input.unit}, ${formatNumber(input.min)}–${formatNumber(input.max)})`;
      // Empty, with the example as a hint only: an untouched form sends no guessed value.
      control = element("input", {
        id: input.name, name: input.name, type: "number", inputmode: "decimal",
        min: input.min, max: input.max, step: "any", placeholder: `e.g. ${input.example}`,
      });
      control.addEventListener("input", () => validate(input));
    } else {
      control = element("select", { id: input.name, name: input.name });
      // A required choice starts empty and is refused until made: never a silent default.
      control.append(element("option", { value: "" }, input.required ? "Choose…" : "Not given"));
      for (const category of input.categories) control.append(element("option", { value: category }, category));
      label += input.required ? " (the served model uses it)" : " (optional; the served model does not use it)";
      control.addEventListener("change", () => validate(input));
    }
    if (input.required) control.setAttribute("required", "");
    control.setAttribute("aria-describedby", `${input.name}-error`);
    field.append(element("label", { for: input.name }, label), control,
      element("p", { class: "error", id: `${input.name}-error`, "aria-live": "polite" }));
    fields.append(field);
  }
}

function fieldError(name, message) {
  $(`${name}-error`).textContent = message;
  $(name).setAttribute("aria-invalid", message ? "true" : "false");
}

// The value to send, undefined when not given, or null when invalid (a message is shown).
function validate(input) {
  const control = $(input.name);
  const raw = control.value.trim();
  let message = "";
  let value;
  if (input.kind === "numeric") {
    if (raw === "" || control.validity.badInput) message = `${input.label} is required and must be a number.`;
    else if (!Number.isFinite(Number(raw))) message = `${input.label} must be a number.`;
    else if (Number(raw) < input.min || Number(raw) > input.max) {
      message = `${input.label} must be between ${formatNumber(input.min)} and ${formatNumber(input.max)}.`;
    } else value = Number(raw);
  } else if (raw === "") {
    if (input.required) message = `${input.label} is required by the served model: choose one.`;
  } else if (!input.categories.includes(raw)) message = `${input.label} must be one of ${input.categories.join(", ")}.`;
  else value = raw;
  fieldError(input.name, message);
  return message ? null : value;
}

async function onSubmit(event) {
  event.preventDefault();
  $("form-error").textContent = "";
  const body = {};
  let firstInvalid = null;
  for (const input of state.inputs) {
    const value = validate(input);
    if (value === null) firstInvalid = firstInvalid || input.name;
    else if (value !== undefined) body[input.name] = value;
  }
  if (firstInvalid) {
    $(firstInvalid).focus();
    return;
  }
  if (state.busy) return;
  // aria-disabled, not disabled: a disabled button drops the keyboard focus to <body>.
  const button = event.target.querySelector("button");
  state.busy = true;
  button.setAttribute("aria-disabled", "true");
  try {
    const { status, body: answer } = await api("/predict", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (status === 200) {
      showResult(answer, body);
      $("result").focus();
      await loadHistory();
    } else if (status === 422 && answer && Array.isArray(answer.detail)) {
      for (const item of answer.detail) {
        if ($(`${item.field}-error`)) fieldError(item.field, item.message);
        else $("form-error").textContent = item.message;
      }
    } else if (status === 0) {
      $("form-error").textContent = "The service cannot be reached; please try again.";
    } else {
      $("form-error").textContent = (answer && typeof answer.detail === "string")
        ? answer.detail : `The service answered ${status}; please try again.`;
    }
  } finally {
    state.busy = false;
    button.removeAttribute("aria-disabled");
  }
}

function showResult(answer, given) {
  const text = $("result-answer");
  text.textContent = answer.purchased ? "Will purchase" : "Won't purchase";
  text.className = `answer ${answer.purchased ? "buy" : "no-buy"}`;
  $("result-detail").textContent = `Probability of a purchase: ${(answer.probability * 100).toFixed(1)} % `
    + `(model version ${answer.model_version}, prediction #${answer.prediction_id})`;
  $("result").hidden = false;
  state.lastPrediction = answer.prediction_id;
  $("outcome-prediction").textContent = `#${answer.prediction_id}`;
  $("outcome-message").textContent = "";
  $("outcome-form").hidden = false;
  for (const plot of window.plots || []) {
    const matches = Object.entries(plot.panel.given).every(([name, value]) => given[name] === value);
    if (matches) plot.mark(given[plot.panel.x], given[plot.panel.y]);
    else plot.unmark();
  }
}

// --- accuracy and history ---------------------------------------------------------------------

async function loadAccuracy() {
  const { ok, body } = await api("/accuracy");
  if (!ok) {
    $("accuracy-summary").textContent = "The accuracy is unavailable right now.";
    return;
  }
  const live = body.live.n_outcomes
    ? `Live: ${percent(body.live.accuracy)} on ${body.live.n_outcomes} recorded outcomes.`
    : "Live: no outcome recorded yet for this version.";
  $("accuracy-summary").textContent = `${body.model}, version ${body.model_version} `
    + `(inputs: ${body.features.join(", ")}): `
    + `accuracy ${percent(body.accuracy)} on ${body.n_test} held-out people `
    + `(trained on ${body.n_train}; ROC AUC ${body.roc_auc.toFixed(3)}). ${live}`;
  const peak = Math.max(...body.confusion_matrix.flat(), 1);
  body.confusion_matrix.forEach((row, i) => row.forEach((n, j) => {
    const cell = $(`cm-${i}${j}`);
    cell.textContent = n;
    // A coloured grid: the darker the cell, the more people in it.
    const share = n / peak;
    cell.style.backgroundColor = `rgba(30, 90, 150, ${(0.08 + 0.85 * share).toFixed(3)})`;
    cell.style.color = share > 0.5 ? "#fff" : "var(--ink)";
  }));
}

async function loadVersions() {
  const { ok, body } = await api("/models");
  const tbody = $("versions").querySelector("tbody");
  tbody.replaceChildren();
  if (!ok) {
    $("versions-summary").textContent = "The model versions are unavailable right now.";
    return;
  }
  $("versions-summary").textContent = body.served_version === null
    ? "No version is served yet." : `Version ${body.served_version} is served.`;
  for (const v of body.versions) {
    const tr = element("tr", v.served ? { class: "served" } : {});
    const live = v.live.n_outcomes ? `${percent(v.live.accuracy)} (${v.live.n_outcomes})` : "– (0)";
    for (const value of [v.version, new Date(v.trained_at).toLocaleString(), v.features.join(", "),
      percent(v.holdout.accuracy), live, v.served ? "served" : ""]) {
      tr.append(element("td", {}, String(value)));
    }
    tbody.append(tr);
  }
}

async function onOutcome(event) {
  event.preventDefault();
  const message = $("outcome-message");
  const chosen = document.querySelector("input[name=outcome]:checked");
  const token = $("token").value.trim();
  if (!chosen) {
    message.textContent = "Choose Bought or Did not buy first.";
    return;
  }
  if (!token) {
    message.textContent = "The API token is needed to record an outcome.";
    $("token").focus();
    return;
  }
  const { status, body } = await api(`/predictions/${state.lastPrediction}/outcome`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ purchased: chosen.value === "true" }),
  });
  const messages = {
    201: `Recorded: prediction #${state.lastPrediction} ${body && body.purchased ? "bought" : "did not buy"}.`,
    401: "The API token was not accepted.",
    404: "That prediction is not in the log.",
    409: "This prediction already has an outcome.",
  };
  message.textContent = messages[status] || `The service answered ${status}; please try again.`;
  if (status === 201) await Promise.all([loadAccuracy(), loadVersions()]);
}

// Drift: how far recent inputs moved from the training rows (population stability index).
async function loadDrift() {
  const { ok, body } = await api("/drift");
  if (!ok) {
    $("drift-summary").textContent = "Input drift is unavailable right now.";
    return;
  }
  // The verdict is the API's (GET /drift), thresholds and minimum number of rows included.
  if (!body.enough_data) {
    $("drift-summary").textContent = `Input drift: ${body.verdict} (${body.rows} of the `
      + `${body.min_rows} logged inputs it needs).`;
    return;
  }
  const figures = Object.entries(body.psi).map(([name, psi]) => `${name} ${psi.toFixed(3)}`);
  $("drift-summary").textContent = `Input drift over the newest ${body.rows} inputs (PSI): `
    + `${figures.join(", ")}: ${body.verdict}.`;
}

// The log holds people's inputs, so it needs the API token; the page asks for it only here
// and keeps it for this tab (sessionStorage), never in a cookie or on disk.
const TOKEN_KEY = "social-ads-api-token";

async function loadHistory() {
  const head = $("history").querySelector("thead tr");
  head.replaceChildren(...["#", "Time", ...state.inputs.map((i) => i.label), "Answer", "Probability"]
    .map((title) => element("th", { scope: "col" }, title)));
  const tbody = $("history").querySelector("tbody");
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return;
  const { ok, status, body } = await api("/predictions?limit=10",
    { headers: { Authorization: `Bearer ${token}` } });
  tbody.replaceChildren();
  if (!ok) {
    $("history-frame").hidden = true;
    if (status === 401) sessionStorage.removeItem(TOKEN_KEY);
    $("history-status").textContent = status === 401
      ? "That token was refused; enter the API token again."
      : `The log is unavailable right now (${status || "no answer"}).`;
    return;
  }
  $("history-status").textContent = body.length
    ? "The newest predictions, newest first." : "The log has no prediction yet.";
  $("history-frame").hidden = body.length === 0;
  for (const row of body) {
    const tr = document.createElement("tr");
    const cells = [
      row.id,
      new Date(row.created_at).toLocaleTimeString(),
      ...state.inputs.map((input) => {
        const value = row[input.name];
        if (value === null || value === undefined) return "–";
        return input.kind === "numeric" ? formatNumber(Math.round(value * 100) / 100) : value;
      }),
      row.purchased ? "Will purchase" : "Won't purchase",
      `${(row.probability * 100).toFixed(1)} %`,
    ];
    for (const value of cells) tr.append(element("td", {}, String(value)));
    tbody.append(tr);
  }
}

function drawPlots(model) {
  const labels = Object.fromEntries(model.inputs.map((i) => [i.name, i.label]));
  const lows = Object.fromEntries(model.inputs.map((i) => [i.name, i.min ?? -Infinity]));
  const container = $("plots");
  container.replaceChildren();
  window.plots = model.panels.map((panel, index) => {
    const given = Object.entries(panel.given);
    const title = given.length ? given.map(([name, value]) => `${labels[name]}: ${value}`).join(", ") : "";
    const figure = element("figure", { class: "plot-panel", "data-given": JSON.stringify(panel.given) });
    if (title) figure.append(element("figcaption", {}, title));
    const frame = element("div", { class: "plot" });
    const regions = element("canvas", { id: `plot-regions-${index}`, width: 520, height: 380 });
    const overlay = element("canvas", {
      id: `plot-overlay-${index}`, width: 520, height: 380, role: "img",
      "aria-label": `Decision boundary over ${labels[panel.x]} and ${labels[panel.y]}${title ? ` for ${title}` : ""}`,
    });
    frame.append(regions, overlay);
    figure.append(frame);
    container.append(figure);
    return new Plot(regions, overlay, panel, model.training_points, labels, lows);
  });
  window.plot = window.plots[0];
  state.plotsDrawn = new Promise((resolve) => { state.onPlotsDrawn = resolve; });
  // Each panel is drawn at the size its box was laid out at, which the ResizeObserver reports
  // after layout: no forced layout here, and drawn again when the box changes (rotation, a
  // resized window).
  state.frameWidths = new Map();
  if (!state.resizeObserver) {
    let pending = false;
    state.resizeObserver = new ResizeObserver((entries) => {
      for (const entry of entries) state.frameWidths.set(entry.target, entry.contentRect.width);
      if (pending) return;
      pending = true;
      // A task of its own, not the frame's: drawing never lengthens the rendering work.
      setTimeout(() => { pending = false; fitPlots(); }, 0);
    });
  }
  state.resizeObserver.disconnect();
  for (const frame of container.querySelectorAll(".plot")) state.resizeObserver.observe(frame);
  $("plots").dataset.modelVersion = String(model.model_version);
  $("plot-help").textContent = `Shaded regions show what the served model predicts; dots are the `
    + `${model.training_points.length} training people`
    + `${model.panels.length > 1 ? " (each panel shows its own)" : ""}; the dashed line is where `
    + "the probability is exactly 50 %; your query is the ✕.";
}

function fitPlots() {
  let drawing = 0;
  const plots = window.plots || [];
  for (const plot of plots) {
    const width = state.frameWidths.get(plot.regions.parentElement);
    if (width !== undefined && plot.resize(width, window.devicePixelRatio || 1)) {
      plot.draw();
      drawing += plot.lastDrawMs;
    }
  }
  // Read by the browser tier, which reports it: every panel drawn, in ms.
  if (drawing) window.plotDrawMs = drawing;
  if (plots.every((plot) => plot.cssWidth > 0)) state.onPlotsDrawn();
}

async function loadModel() {
  const { ok, body } = await api("/model");
  if (!ok) {
    $("form-error").textContent = "The model is unavailable right now; please reload in a moment.";
    return;
  }
  state.model = body;
  state.inputs = body.inputs;
  buildForm(body.inputs);
  drawPlots(body);
}

document.addEventListener("DOMContentLoaded", async () => {
  $("predict-form").addEventListener("submit", onSubmit);
  $("outcome-form").addEventListener("submit", onOutcome);
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("api-token").value.trim();
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    $("api-token").value = "";
    loadHistory();
  });
  // All at once: the log's columns wait for the model's inputs, nothing else waits.
  await Promise.all([
    loadModel().then(() => Promise.all([loadHistory(), state.plotsDrawn])),
    loadAccuracy(), loadDrift(), loadVersions(),
  ]);
  document.body.dataset.ready = "true";
});
