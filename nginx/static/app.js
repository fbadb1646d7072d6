// The page: a form for /predict, the accuracy from /accuracy, the decision boundary drawn from
// the served model's own parameters (/model), and the latest rows of the log (/predictions).
"use strict";

const LIMITS = { age: [0, 120], salary: [0, 10000000] };
const COLORS = {
  buyRegion: [253, 231, 200],
  noBuyRegion: [219, 232, 245],
  buy: "#b45309",
  noBuy: "#1e5a96",
  boundary: "#1b1f24",
  axis: "#4a5360",
};
const MARGIN = { left: 64, right: 16, top: 12, bottom: 44 };

const $ = (id) => document.getElementById(id);

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Accept: "application/json", ...(options.headers || {}) },
  });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return { status: response.status, ok: response.ok, body };
}

// --- the decision boundary --------------------------------------------------------------------

// The same arithmetic as the API: standardise, weigh, add the intercept; > 0 means "buys".
function decision(model, age, salary) {
  const x = [age, salary];
  let z = model.intercept;
  for (let i = 0; i < 2; i += 1) z += model.coef[i] * ((x[i] - model.mean[i]) / model.scale[i]);
  return z;
}

class Plot {
  constructor(regions, overlay, model) {
    this.regions = regions;
    this.overlay = overlay;
    this.model = model;
    const ages = model.training_points.map((p) => p.age);
    const salaries = model.training_points.map((p) => p.salary);
    this.domain = {
      age: [Math.min(...ages) - 2, Math.max(...ages) + 2],
      salary: [Math.max(0, Math.min(...salaries) - 10000), Math.max(...salaries) + 10000],
    };
    this.query = null;
  }

  get width() { return this.regions.width - MARGIN.left - MARGIN.right; }
  get height() { return this.regions.height - MARGIN.top - MARGIN.bottom; }

  toPixel(age, salary) {
    const [a0, a1] = this.domain.age;
    const [s0, s1] = this.domain.salary;
    return {
      x: MARGIN.left + ((age - a0) / (a1 - a0)) * this.width,
      y: MARGIN.top + (1 - (salary - s0) / (s1 - s0)) * this.height,
    };
  }

  fromPixel(x, y) {
    const [a0, a1] = this.domain.age;
    const [s0, s1] = this.domain.salary;
    return {
      age: a0 + ((x - MARGIN.left) / this.width) * (a1 - a0),
      salary: s0 + (1 - (y - MARGIN.top) / this.height) * (s1 - s0),
    };
  }

  // Grows the axes so that a query outside the training range is still on the plot.
  include(age, salary) {
    const d = this.domain;
    const grown = {
      age: [Math.min(d.age[0], age - 2), Math.max(d.age[1], age + 2)],
      salary: [Math.min(d.salary[0], Math.max(0, salary - 10000)), Math.max(d.salary[1], salary + 10000)],
    };
    const changed = grown.age.some((v, i) => v !== d.age[i]) || grown.salary.some((v, i) => v !== d.salary[i]);
    this.domain = grown;
    return changed;
  }

  drawRegions() {
    const ctx = this.regions.getContext("2d");
    const image = ctx.createImageData(this.regions.width, this.regions.height);
    for (let y = 0; y < image.height; y += 1) {
      for (let x = 0; x < image.width; x += 1) {
        const inside = x >= MARGIN.left && x < MARGIN.left + this.width
          && y >= MARGIN.top && y < MARGIN.top + this.height;
        const offset = (y * image.width + x) * 4;
        let rgb = [255, 255, 255];
        if (inside) {
          const p = this.fromPixel(x + 0.5, y + 0.5);
          rgb = decision(this.model, p.age, p.salary) > 0 ? COLORS.buyRegion : COLORS.noBuyRegion;
        }
        image.data.set([...rgb, 255], offset);
      }
    }
    ctx.putImageData(image, 0, 0);
  }

  drawOverlay() {
    const ctx = this.overlay.getContext("2d");
    ctx.clearRect(0, 0, this.overlay.width, this.overlay.height);
    this.drawAxes(ctx);
    this.drawBoundary(ctx);
    for (const { age, salary, purchased } of this.model.training_points) {
      const { x, y } = this.toPixel(age, salary);
      ctx.fillStyle = purchased ? COLORS.buy : COLORS.noBuy;
      ctx.beginPath();
      ctx.arc(x, y, 3, 0, 2 * Math.PI);
      ctx.fill();
    }
    if (this.query) this.drawQuery(ctx);
  }

  drawBoundary(ctx) {
    // decision = 0 is a straight line: solve for the salary at each edge of the age axis.
    const m = this.model;
    const salaryAt = (age) => m.mean[1] - (m.scale[1] / m.coef[1])
      * (m.intercept + m.coef[0] * ((age - m.mean[0]) / m.scale[0]));
    const [a0, a1] = this.domain.age;
    const p0 = this.toPixel(a0, salaryAt(a0));
    const p1 = this.toPixel(a1, salaryAt(a1));
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
    const [a0, a1] = this.domain.age;
    for (let age = Math.ceil(a0 / 10) * 10; age <= a1; age += 10) {
      const { x } = this.toPixel(age, this.domain.salary[0]);
      ctx.fillText(String(age), x, MARGIN.top + this.height + 16);
    }
    ctx.fillText("Age", MARGIN.left + this.width / 2, MARGIN.top + this.height + 36);
    ctx.textAlign = "right";
    const [s0, s1] = this.domain.salary;
    const step = niceStep((s1 - s0) / 6);
    for (let s = Math.ceil(s0 / step) * step; s <= s1; s += step) {
      const { y } = this.toPixel(this.domain.age[0], s);
      ctx.fillText(formatMoney(s), MARGIN.left - 6, y + 4);
    }
    ctx.save();
    ctx.translate(14, MARGIN.top + this.height / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center";
    ctx.fillText("Estimated salary", 0, 0);
    ctx.restore();
  }

  drawQuery(ctx) {
    const { x, y } = this.toPixel(this.query.age, this.query.salary);
    ctx.strokeStyle = "#000";
    ctx.lineWidth = 3;
    ctx.beginPath();
    ctx.moveTo(x - 8, y - 8); ctx.lineTo(x + 8, y + 8);
    ctx.moveTo(x + 8, y - 8); ctx.lineTo(x - 8, y + 8);
    ctx.stroke();
  }

  draw() {
    this.drawRegions();
    this.drawOverlay();
  }

  mark(age, salary) {
    this.query = { age, salary };
    if (this.include(age, salary)) this.draw();
    else this.drawOverlay();
  }
}

function niceStep(raw) {
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((f) => f * power).find((s) => s >= raw);
}

function formatMoney(value) {
  return value >= 1e6 ? `${(value / 1e6).toFixed(1)}M` : `${Math.round(value / 1000)}k`;
}

// --- the form -----------------------------------------------------------------------------------

function fieldError(name, message) {
  const input = $(name);
  $(`${name}-error`).textContent = message;
  input.setAttribute("aria-invalid", message ? "true" : "false");
}

function validate(name) {
  const raw = $(name).value.trim();
  const [low, high] = LIMITS[name];
  const label = name === "age" ? "Age" : "Salary";
  let message = "";
  if (raw === "" || $(name).validity.badInput) message = `${label} is required and must be a number.`;
  else if (!Number.isFinite(Number(raw))) message = `${label} must be a number.`;
  else if (Number(raw) < low || Number(raw) > high) message = `${label} must be between ${low.toLocaleString("en")} and ${high.toLocaleString("en")}.`;
  fieldError(name, message);
  return message ? null : Number(raw);
}

async function onSubmit(event) {
  event.preventDefault();
  $("form-error").textContent = "";
  const age = validate("age");
  const salary = validate("salary");
  if (age === null || salary === null) {
    $(age === null ? "age" : "salary").focus();
    return;
  }
  const button = event.target.querySelector("button");
  button.disabled = true;
  try {
    const { status, body } = await api("/predict", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ age, salary }),
    });
    if (status === 200) {
      showResult(body, age, salary);
      await loadHistory();
    } else if (status === 422 && body && Array.isArray(body.detail)) {
      for (const item of body.detail) {
        if (item.field in LIMITS) fieldError(item.field, item.message);
        else $("form-error").textContent = item.message;
      }
    } else {
      $("form-error").textContent = (body && typeof body.detail === "string")
        ? body.detail : `The service answered ${status}; please try again.`;
    }
  } catch {
    $("form-error").textContent = "The service cannot be reached; please try again.";
  } finally {
    button.disabled = false;
  }
}

function showResult(body, age, salary) {
  const answer = $("result-answer");
  answer.textContent = body.purchased ? "Will purchase" : "Won't purchase";
  answer.className = `answer ${body.purchased ? "buy" : "no-buy"}`;
  $("result-detail").textContent = `Probability of a purchase: ${(body.probability * 100).toFixed(1)} % `
    + `(model version ${body.model_version}, prediction #${body.prediction_id})`;
  $("result").hidden = false;
  if (window.plot) window.plot.mark(age, salary);
}

// --- accuracy and history ---------------------------------------------------------------------

async function loadAccuracy() {
  const { ok, body } = await api("/accuracy");
  if (!ok) {
    $("accuracy-summary").textContent = "The accuracy is unavailable right now.";
    return;
  }
  $("accuracy-summary").textContent = `${body.model}, version ${body.model_version}: `
    + `accuracy ${(body.accuracy * 100).toFixed(1)} % on ${body.n_test} held-out people `
    + `(trained on ${body.n_train}; ROC AUC ${body.roc_auc.toFixed(3)}).`;
  body.confusion_matrix.forEach((row, i) => row.forEach((n, j) => { $(`cm-${i}${j}`).textContent = n; }));
}

// Drift: how far recent inputs moved from the training rows (population stability index).
async function loadDrift() {
  const { ok, body } = await api("/drift");
  if (!ok) {
    $("drift-summary").textContent = "Input drift is unavailable right now.";
    return;
  }
  const worst = Math.max(...Object.values(body.psi));
  const verdict = worst > 0.25 ? "shifted" : worst > 0.1 ? "moderate shift" : "stable";
  const figures = Object.entries(body.psi).map(([name, psi]) => `${name} ${psi.toFixed(3)}`);
  $("drift-summary").textContent = `Input drift over the newest ${body.rows} inputs (PSI): `
    + `${figures.join(", ")}: ${verdict}. Live accuracy needs posted outcomes.`;
}

// The log holds people's inputs, so it needs the API token; the page asks for it only here
// and keeps it for this tab (sessionStorage), never in a cookie or on disk.
const TOKEN_KEY = "social-ads-api-token";

async function loadHistory() {
  const tbody = $("history").querySelector("tbody");
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return;
  const { ok, status, body } = await api("/predictions?limit=10",
    { headers: { Authorization: `Bearer ${token}` } });
  tbody.replaceChildren();
  if (!ok) {
    if (status === 401) sessionStorage.removeItem(TOKEN_KEY);
    $("history-status").textContent = status === 401
      ? "That token was refused; enter the API token again."
      : "The log is unavailable right now.";
    return;
  }
  $("history-status").textContent = "The newest predictions, newest first.";
  for (const row of body) {
    const tr = document.createElement("tr");
    const cells = [
      row.id,
      new Date(row.created_at).toLocaleTimeString(),
      row.age,
      Math.round(row.salary).toLocaleString("en"),
      row.purchased ? "Will purchase" : "Won't purchase",
      `${(row.probability * 100).toFixed(1)} %`,
    ];
    for (const value of cells) {
      const td = document.createElement("td");
      td.textContent = String(value);
      tr.append(td);
    }
    tbody.append(tr);
  }
}

async function loadPlot() {
  const { ok, body } = await api("/model");
  if (!ok) return;
  window.plot = new Plot($("plot-regions"), $("plot-overlay"), body);
  window.plot.draw();
  $("plot").dataset.modelVersion = String(body.model_version);
}

document.addEventListener("DOMContentLoaded", () => {
  $("predict-form").addEventListener("submit", onSubmit);
  for (const name of Object.keys(LIMITS)) $(name).addEventListener("input", () => validate(name));
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("api-token").value.trim();
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    $("api-token").value = "";
    loadHistory();
  });
  Promise.all([loadAccuracy(), loadDrift(), loadHistory(), loadPlot()]).then(() => {
    document.body.dataset.ready = "true";
  });
});
