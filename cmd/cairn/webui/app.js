/*
 * The page of `cairn webui`: instances, and per instance a snapshot timeline with the schedule's
 * next slots and the prune preview, snapshot actions and the schedule editor. Everything goes
 * through the client's proxy to the daemon's API (doc/api.md); live updates come from /events
 * (the daemon's /1.0/events, as Server-Sent Events). No framework: the page is small.
 */
"use strict";

const $ = (sel) => document.querySelector(sel);
const NEVER = "0001-01-01T00:00:00Z";
const SNAPSHOT_ROWS = 100; /* rows of the snapshot table shown before "show all" */

const state = {
  instances: [],     /* GET /1.0/instances?recursion=2 */
  usage: new Map(),  /* instance -> {count, bytes|null} from its snapshots' sizes */
  selected: null,    /* name of the instance shown in detail */
  detail: null,      /* {instance, state, snapshots, verdicts: Map, schedule} */
  showAll: false,
};

/* ---- API ---------------------------------------------------------------------------- */

class ApiError extends Error {}

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const res = await fetch(path, init);
  let env = null;
  try { env = await res.json(); } catch (e) { env = null; }
  if (!env || typeof env !== "object")
    throw new ApiError(`Invalid answer from cairnd (HTTP ${res.status})`);
  if (env.type === "error")
    throw new ApiError(env.error || `HTTP ${res.status}`);
  if (env.type === "async" && env.operation) {
    const op = await api("GET", env.operation + "/wait");
    if (op && op.status && op.status !== "Success")
      throw new ApiError(op.err || `Operation ${op.status}`);
    return op;
  }
  return env.metadata;
}

const enc = encodeURIComponent;
const instPath = (name) => `/1.0/instances/${enc(name)}`;
const snapPath = (name, snap) => `${instPath(name)}/snapshots/${enc(snap)}`;

function showError(err) {
  const box = $("#error");
  if (!err) { box.hidden = true; box.textContent = ""; return; }
  box.textContent = "Error: " + (err.message || String(err));
  box.hidden = false;
}

/* Runs an action and shows its error as the CLI prints it; the data is read again after. */
let busy = 0;
async function act(fn) {
  showError(null);
  $("#busy").hidden = ++busy === 0;
  try {
    await fn();
  } catch (e) {
    showError(e);
  } finally {
    $("#busy").hidden = --busy === 0;
  }
  await refreshAll();
}

/* ---- formatting --------------------------------------------------------------------- */

const pad = (n) => String(n).padStart(2, "0");

function isNever(t) { return !t || t === NEVER || t.startsWith("0001-01-01"); }

/* "2026/11/21 15:57 UTC", as `cairn info` writes times. */
function fmtTime(t) {
  if (isNever(t)) return "";
  const d = new Date(t);
  return `${d.getUTCFullYear()}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
}

function fmtBytes(n) {
  if (n === null || n === undefined || n < 0) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return i === 0 ? `${n}B` : `${n.toFixed(2)}${units[i]}`;
}

function fmtSpan(sec) {
  const a = Math.abs(sec);
  if (a < 90) return `${Math.round(a)}s`;
  if (a < 5400) return `${Math.round(a / 60)}min`;
  if (a < 129600) return `${Math.round(a / 3600)}h`;
  return `${Math.round(a / 86400)}d`;
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) =>
    ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "onclick") e.addEventListener("click", v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

/* Redraws part of the page (`fn`) and gives the focus back to the button that had it, so that a
 * live update does not throw a keyboard user back to the top. */
function keepFocus(container, fn) {
  const a = document.activeElement;
  const key = (b) => b.getAttribute("aria-label") || b.textContent;
  const label = a && a.tagName === "BUTTON" && container.contains(a) ? key(a) : null;
  fn();
  if (label) {
    const b = [...container.querySelectorAll("button")].find((x) => key(x) === label);
    if (b) b.focus();
  }
}

/* ---- the cron line in words ---------------------------------------------------------- */

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
  "September", "October", "November", "December"];
const DAY_NAMES = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };
const MONTH_NAMES = { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9,
  oct: 10, nov: 11, dec: 12 };
const ALIASES = {
  "@hourly": "every hour (at a minute of its own for this instance)",
  "@daily": "every day (at a time of its own for this instance)",
  "@midnight": "every day (at a time of its own for this instance)",
  "@weekly": "every week (at a time of its own for this instance)",
  "@monthly": "every month (at a time of its own for this instance)",
  "@annually": "every year (at a time of its own for this instance)",
  "@yearly": "every year (at a time of its own for this instance)",
  "@startup": "when the instance starts",
  "@never": "never",
};

function joinWords(list) {
  if (list.length <= 1) return list.join("");
  return list.slice(0, -1).join(", ") + " and " + list[list.length - 1];
}

/* One field as a list of {from, to, step} items, or null when it does not read. */
function cronField(text, min, max, names) {
  const items = [];
  for (const part of text.split(",")) {
    const m = /^(\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:\/([0-9]+))?$/i.exec(part);
    if (!m) return null;
    const value = (s) => {
      const k = s.toLowerCase();
      if (names && k in names) return names[k];
      return /^[0-9]+$/.test(s) ? Number(s) : NaN;
    };
    let from = min, to = max;
    if (m[1] !== "*") {
      const [a, b] = m[1].split("-");
      from = value(a);
      to = b === undefined ? (m[2] ? max : from) : value(b);
    }
    const step = m[2] ? Number(m[2]) : 1;
    if (!(from >= min && to <= max && from <= to && step >= 1)) return null;
    items.push({ from, to, step, star: m[1] === "*" });
  }
  return items;
}

const isStar = (f) => f.length === 1 && f[0].star && f[0].step === 1;
const single = (f) => f.every((i) => i.from === i.to);
const values = (f) => f.flatMap((i) => {
  const out = [];
  for (let v = i.from; v <= i.to; v += i.step) out.push(v);
  return out;
});

function describeDays(f, names) {
  return joinWords(f.map((i) => {
    if (i.star && i.step > 1) return `every ${i.step}th day`;
    if (i.from === i.to) return names(i.from);
    if (i.step === 1) return `${names(i.from)} to ${names(i.to)}`;
    return `every ${i.step} from ${names(i.from)} to ${names(i.to)}`;
  }));
}

function describeEntry(entry) {
  if (entry.startsWith("@")) return ALIASES[entry] || null;
  const parts = entry.split(/\s+/);
  if (parts.length !== 5) return null;
  const [mi, hr, dom, mon, dow] = [
    cronField(parts[0], 0, 59), cronField(parts[1], 0, 23), cronField(parts[2], 1, 31),
    cronField(parts[3], 1, 12, MONTH_NAMES), cronField(parts[4], 0, 7, DAY_NAMES)];
  if (!mi || !hr || !dom || !mon || !dow) return null;
  let when;
  if (isStar(mi) && isStar(hr)) when = "every minute";
  else if (mi.length === 1 && mi[0].star && isStar(hr)) when = `every ${mi[0].step} minutes`;
  else if (!isStar(hr) && !mi.some((i) => i.star) && values(mi).length * values(hr).length <= 8) {
    const times = [];
    for (const h of values(hr)) for (const m of values(mi)) times.push(`${pad(h)}:${pad(m)}`);
    when = "at " + joinWords(times);
  } else if (single(mi) && isStar(hr)) {
    when = `at minute ${joinWords(values(mi).map(String))} of every hour`;
  } else if (single(mi) && hr.length === 1 && hr[0].star) {
    when = `at minute ${joinWords(values(mi).map(String))} of every ${hr[0].step}th hour`;
  } else if (single(mi) && hr.every((i) => i.step === 1)) {
    when = `at minute ${joinWords(values(mi).map(String))} of every hour from ` +
      joinWords(hr.map((i) => i.from === i.to ? pad(i.from) + ":00" :
        `${pad(i.from)}:00 to ${pad(i.to)}:00`));
  } else {
    when = `at minutes ${parts[0]} of hours ${parts[1]}`;
  }
  const bits = [when];
  const dayName = (v) => DAYS[v % 7];
  if (!isStar(dom)) bits.push("on day " + describeDays(dom, String) + " of the month");
  if (!isStar(dow)) bits.push((isStar(dom) ? "" : "or ") + describeDays(dow, dayName));
  if (!isStar(mon)) bits.push("in " + describeDays(mon, (v) => MONTHS[v - 1]));
  return bits.join(", ");
}

/* "at 02:00 and 14:00, Monday to Friday" for "0 2,14 * * 1-5"; null when a part does not read
 * (the daemon has the last word when the line is saved). */
function describeCron(line) {
  const text = line.trim();
  if (!text) return "no schedule";
  const out = [];
  for (const entry of text.split(/,\s+/)) {
    const d = describeEntry(entry.trim());
    if (!d) return null;
    out.push(d);
  }
  return out.join("; and ");
}

/* ---- expiry as the CLI reads it ----------------------------------------------------- */

/* A lifetime ("1d 3H": terms S M H d w m y, each once) added to now, an absolute date, or
 * "never" (""). Something else is handed to the daemon as it is, which says what is wrong. */
function resolveExpiry(text) {
  const t = text.trim();
  if (t === "" || t === "never") return "";
  if (/^(\s*[0-9]+[SMHdwmy])+\s*$/.test(t)) {
    const d = new Date();
    for (const [, n, u] of t.matchAll(/([0-9]+)([SMHdwmy])/g)) {
      const k = Number(n);
      if (u === "S") d.setUTCSeconds(d.getUTCSeconds() + k);
      else if (u === "M") d.setUTCMinutes(d.getUTCMinutes() + k);
      else if (u === "H") d.setUTCHours(d.getUTCHours() + k);
      else if (u === "d") d.setUTCDate(d.getUTCDate() + k);
      else if (u === "w") d.setUTCDate(d.getUTCDate() + 7 * k);
      else if (u === "m") d.setUTCMonth(d.getUTCMonth() + k);
      else d.setUTCFullYear(d.getUTCFullYear() + k);
    }
    return d.toISOString().replace(/\.\d+Z$/, "Z");
  }
  const m = /^(\d{4})[-/](\d\d)[-/](\d\d)[ T](\d\d):(\d\d)(?: UTC)?$/.exec(t);
  if (m) return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:00Z`;
  return t;
}

/* ---- the timeline ------------------------------------------------------------------- */

const SVG_H = 170;
const Y = { axis: 152, sched: 36, manual: 60, verdict: 82, lanes: 98, lane: 7, maxLanes: 6 };

/*
 * Draws snapshots (objects with name, created_at, expires_at, stateful, scheduled) on `svg`,
 * with the schedule's next slots, `now` and the prune verdicts (name -> {verdict, reason}).
 * Built as one string and parsed once: a thousand marks draw in a few milliseconds.
 */
function drawTimeline(svg, snaps, slots, verdicts, now, selected) {
  const width = Math.max(svg.clientWidth || 0, 320);
  const left = 58, right = width - 12;
  const created = snaps.map((s) => Date.parse(s.created_at) / 1000);
  let t0 = created.length ? Math.min(...created) : now - 3600;
  /* At least two minutes back, so that a burst of snapshots still spreads out a little. */
  t0 = Math.min(t0, now - 120);
  let past = now - t0;
  t0 -= past * 0.02;
  past = now - t0;
  const futureSlots = slots.map((s) => Date.parse(s) / 1000).filter((t) => t > now);
  let future = past * 0.25;
  if (futureSlots.length) future = Math.max(future, Math.min((futureSlots[0] - now) * 1.15, past * 2));
  const t1 = now + future;
  const x = (t) => left + (t - t0) / (t1 - t0) * (right - left);
  const out = [];

  /* Ticks at a round step. */
  const steps = [60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400,
    7 * 86400, 14 * 86400, 30 * 86400, 91 * 86400, 182 * 86400, 365 * 86400];
  const want = (t1 - t0) / Math.max(2, Math.floor((right - left) / 110));
  const step = steps.find((s) => s >= want) || steps[steps.length - 1];
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
    const d = new Date(t * 1000);
    const label = step >= 86400
      ? `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`
      : `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
    const xx = x(t).toFixed(1);
    out.push(`<line class="tick" x1="${xx}" x2="${xx}" y1="20" y2="${Y.axis}"/>`,
      `<text class="tick-label" x="${xx}" y="${Y.axis + 13}" text-anchor="middle">${label}</text>`);
  }
  out.push(`<line class="axis" x1="${left}" x2="${right}" y1="${Y.axis}" y2="${Y.axis}"/>`,
    `<text class="lane-label" x="4" y="${Y.sched + 3}">scheduled</text>`,
    `<text class="lane-label" x="4" y="${Y.manual + 3}">manual</text>`,
    `<text class="lane-label" x="4" y="${Y.verdict + 3}">prune</text>`,
    `<text class="lane-label" x="4" y="${Y.lanes + 6}">expiry</text>`);

  /* Expiry bars, packed into a few lanes so that they do not hide each other. What needs no
   * identity of its own (the bars' ends, the verdict marks) is one path per kind: a thousand
   * snapshots make a few thousand fewer elements to parse and lay out. */
  const laneEnd = [], ends = [], deletes = [], keeps = [];
  const order = snaps.map((s, i) => i).filter((i) => !isNever(snaps[i].expires_at));
  for (const i of order) {
    const s = snaps[i];
    const a = created[i], b = Date.parse(s.expires_at) / 1000;
    let lane = laneEnd.findIndex((end) => end <= a);
    if (lane < 0) lane = laneEnd.length < Y.maxLanes ? laneEnd.length : Y.maxLanes - 1;
    laneEnd[lane] = Math.max(laneEnd[lane] || 0, b);
    const xa = Math.max(x(a), left), xb = Math.min(x(b), right + 6);
    const y = Y.lanes + lane * Y.lane;
    const soon = b - now < 86400 ? " soon" : "";
    out.push(`<rect class="expiry${soon}" data-i="${i}" data-name="${esc(s.name)}" data-expires="${esc(s.expires_at)}" ` +
      `x="${xa.toFixed(1)}" y="${y}" width="${Math.max(1, xb - xa).toFixed(1)}" height="5"/>`);
    ends.push(b <= t1 ? `M${x(b).toFixed(1)} ${y - 1}v7` : `M${right + 2} ${y - 1.5}l5 4l-5 4`);
  }
  if (ends.length) out.push(`<path class="expiry-end" d="${ends.join("")}"/>`);

  /* The next slots of the schedule, ahead of now. */
  for (const t of futureSlots) {
    if (t > t1) break;
    out.push(`<circle class="slot" data-time="${new Date(t * 1000).toISOString()}" cx="${x(t).toFixed(1)}" cy="${Y.sched}" r="4.5"/>`);
  }

  /* The marks, and under them what the next prune does. */
  snaps.forEach((s, i) => {
    const xx = x(created[i]).toFixed(1);
    const kind = s.scheduled ? "scheduled" : "manual";
    const v = verdicts.get(s.name);
    const cls = `mark ${kind}${s.stateful ? " stateful" : ""}${s.name === selected ? " selected" : ""}`;
    const data = `data-i="${i}" data-name="${esc(s.name)}" data-kind="${kind}" data-stateful="${s.stateful ? 1 : 0}"` +
      (v ? ` data-verdict="${v.verdict}" data-reason="${esc(v.reason)}"` : "");
    out.push(s.scheduled
      ? `<circle class="snap ${cls}" ${data} cx="${xx}" cy="${Y.sched}" r="5"/>`
      : `<path class="snap ${cls}" ${data} d="M${xx} ${Y.manual - 6}l5.5 10.5h-11z"/>`);
    if (v && v.verdict === "delete")
      deletes.push(`M${(+xx - 4).toFixed(1)} ${Y.verdict - 4}l8 8m0 -8l-8 8`);
    else if (v && (v.reason.startsWith("retention") || v.reason.startsWith("floor")))
      keeps.push(`M${(+xx - 4).toFixed(1)} ${Y.verdict}l3 3.5l5.5 -7`);
  });
  if (deletes.length) out.push(`<path class="verdict delete" d="${deletes.join("")}"/>`);
  if (keeps.length) out.push(`<path class="verdict keep" d="${keeps.join("")}"/>`);

  const xn = x(now).toFixed(1);
  out.push(`<line class="now" x1="${xn}" x2="${xn}" y1="14" y2="${Y.axis}"/>`,
    `<text class="now-label" x="${xn}" y="11" text-anchor="middle">now</text>`);
  const desc = `<desc id="timeline-desc">Snapshot timeline: ${snaps.length} snapshots, ` +
    `${futureSlots.length} upcoming slots</desc>`;
  svg.setAttribute("viewBox", `0 0 ${width} ${SVG_H}`);
  svg.innerHTML = desc + out.join("");
  drawn = { snaps, verdicts };
  const tip = document.getElementById("tip");
  if (tip) tip.hidden = true; /* it spoke of a mark that is gone */
}

/* What the timeline drew last, for its tooltip: one element shows the text of the mark under the
 * pointer, rather than a <title> in each of a thousand marks. */
let drawn = { snaps: [], verdicts: new Map() };

function tipText(target) {
  const g = target.closest(".snap, rect.expiry, circle.slot");
  if (!g) return null;
  if (g.matches("circle.slot")) return `next slot ${fmtTime(g.dataset.time)}`;
  const s = drawn.snaps[Number(g.dataset.i)];
  if (!s) return null;
  if (g.matches("rect.expiry")) return `${s.name}: expires ${fmtTime(s.expires_at)}`;
  const v = drawn.verdicts.get(s.name);
  return `${s.name}: ${s.scheduled ? "scheduled" : "manual"}${s.stateful ? ", stateful" : ""}, ` +
    `taken ${fmtTime(s.created_at)}` +
    (isNever(s.expires_at) ? "" : `, expires ${fmtTime(s.expires_at)}`) +
    (v ? ` — next prune: ${v.verdict}${v.reason ? " (" + v.reason + ")" : ""}` : "");
}

function showTip(ev) {
  const tip = $("#tip");
  const text = tipText(ev.target);
  if (!text) { tip.hidden = true; return; }
  tip.textContent = text;
  tip.hidden = false;
  const box = $("#timeline").getBoundingClientRect();
  const left = Math.min(ev.clientX - box.left + 12, box.width - tip.offsetWidth - 4);
  tip.style.left = `${Math.max(0, left)}px`;
  tip.style.top = `${ev.clientY - box.top + 16}px`;
}

/* ---- instance list ------------------------------------------------------------------ */

function addresses(inst) {
  const net = inst.state && inst.state.network;
  if (!net) return [];
  const out = [];
  for (const [dev, n] of Object.entries(net)) {
    if (dev === "lo" || !n || !n.addresses) continue;
    for (const a of n.addresses)
      if (a.scope === "global") out.push(`${a.address} (${dev})`);
  }
  return out;
}

async function deleteInstance(name) {
  const ok = await ask({ title: `Delete ${name}?`, message: `The instance ${name} and all its snapshots will be deleted.`, ok: "Delete" });
  if (!ok) return;
  await act(() => api("DELETE", instPath(name)));
  if (state.selected === name && !state.instances.some((i) => i.name === name)) select(null);
}

function renderInstances() {
  const body = $("#instances tbody");
  const rows = state.instances.map((inst) => {
    const running = inst.status === "Running";
    const snaps = inst.snapshots || [];
    const use = state.usage.get(inst.name);
    const size = use && use.bytes !== null ? ` (${fmtBytes(use.bytes)})` : "";
    const action = (label, fn) => el("button", { type: "button", onclick: fn, "aria-label": `${label} ${inst.name}`, text: label });
    const stateAction = (verb) => () => act(() =>
      api("PUT", `${instPath(inst.name)}/state`, { action: verb, timeout: 30 }));
    return el("tr", { "data-name": inst.name, class: inst.name === state.selected ? "selected" : null },
      el("td", {}, el("button", { type: "button", class: "link", onclick: () => select(inst.name), text: inst.name })),
      el("td", { class: `state-${inst.status}`, text: inst.status }),
      el("td", { "data-label": "Addresses", text: addresses(inst).join("\n") }),
      el("td", { class: "snapcount", "data-label": "Snapshots", text: `${snaps.length}${size}` }),
      el("td", { class: "actions" },
        running ? action("Stop", stateAction("stop")) : action("Start", stateAction("start")), " ",
        running ? action("Restart", stateAction("restart")) : null, running ? " " : null,
        action("Delete", () => deleteInstance(inst.name))));
  });
  keepFocus(body, () => body.replaceChildren(...rows));
  $("#no-instances").hidden = state.instances.length > 0;
}

/* The space each instance's snapshots hold (their exclusive sizes): one request per instance,
 * a few at a time, after the list is drawn. */
async function refreshUsage() {
  const names = state.instances.map((i) => i.name);
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const name = names[next++];
      try {
        const snaps = await api("GET", `${instPath(name)}/snapshots?recursion=1`);
        const sized = snaps.filter((s) => s.size >= 0);
        state.usage.set(name, { count: snaps.length, bytes: sized.length ? sized.reduce((a, s) => a + s.size, 0) : null });
      } catch (e) { /* gone meanwhile */ }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  renderInstances();
}

async function refreshInstances() {
  state.instances = await api("GET", "/1.0/instances?recursion=2");
  state.instances.sort((a, b) => a.name.localeCompare(b.name));
  renderInstances();
  refreshUsage();
}

/* ---- detail ------------------------------------------------------------------------- */

async function select(name) {
  state.selected = name;
  state.showAll = false;
  $("#detail").hidden = !name;
  renderInstances();
  if (!name) return;
  try {
    await refreshDetail(true);
  } catch (e) {
    showError(e);
  }
  $("#detail-title").focus();
}

async function refreshDetail(fillForm) {
  const name = state.selected;
  if (!name) return;
  let instance, st, snaps, report;
  const overrides = fillForm ? {} : previewOverrides();
  try {
    [instance, st, snaps, report] = await Promise.all([
      api("GET", instPath(name)),
      api("GET", `${instPath(name)}/state`),
      api("GET", `${instPath(name)}/snapshots?recursion=1`),
      pruneReport(name, overrides),
    ]);
  } catch (e) {
    if (state.selected === name && !state.instances.some((i) => i.name === name)) {
      select(null);
      return;
    }
    throw e;
  }
  if (state.selected !== name) return;
  const verdicts = new Map();
  const rep = (report || []).find((r) => r.instance === name);
  for (const v of (rep && rep.snapshots) || []) verdicts.set(v.name, { verdict: v.verdict, reason: v.reason || "" });
  state.detail = { instance, state: st, snapshots: snaps, verdicts, schedule: st.snapshot_schedule || {} };
  renderDetail(fillForm);
}

/* The prune preview: what the next prune keeps and deletes, and why. With `overrides` (the
 * editor's unsaved rules), what it would do under them; a rule the daemon refuses is said next
 * to the editor and the preview falls back to the saved rules. */
async function pruneReport(name, overrides) {
  const note = $("#preview-note");
  const body = { instances: [name], dry_run: true };
  if (Object.keys(overrides).length) {
    try {
      const report = await api("POST", "/1.0/snapshots/prune", { ...body, config: overrides });
      note.textContent = "The timeline previews the unsaved rules: " +
        Object.entries(overrides).map(([k, v]) => `${k}=${v === "" ? "(unset)" : v}`).join(", ");
      note.classList.remove("bad");
      return report;
    } catch (e) {
      note.textContent = "No preview: " + e.message;
      note.classList.add("bad");
    }
  } else {
    note.textContent = "";
    note.classList.remove("bad");
  }
  return api("POST", "/1.0/snapshots/prune", body);
}

/* The editor's prune rules that differ from the instance's own config. */
function previewOverrides() {
  const own = (state.detail && state.detail.instance.config) || {};
  const out = {};
  for (const key of ["snapshots.retention", "snapshots.retention.min", "snapshots.limit"]) {
    const input = document.querySelector(`#schedule-form input[name="${key}"]`);
    const v = input.value.trim();
    if (v !== (own[key] || "")) out[key] = v;
  }
  return out;
}

let previewTimer = null;
function schedulePreview() {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(() => refreshDetail(false).catch(showError), 300);
}

function renderDetail(fillForm) {
  const d = state.detail;
  if (!d) return;
  const name = d.instance.name;
  const cfg = d.instance.expanded_config || {};
  $("#detail-title").textContent = `${name} — snapshots`;
  const sched = d.schedule;
  const words = sched.schedule ? describeCron(sched.schedule) : null;
  const bits = [];
  bits.push(sched.schedule ? `Schedule ${sched.schedule}${words ? ` (${words})` : ""}` : "No schedule");
  if (sched.next_slot) bits.push(`next ${fmtTime(sched.next_slot)}`);
  if (sched.last_error) bits.push(`last failure: ${sched.last_error}`);
  if (sched.last_skip) bits.push(`last skip: ${sched.last_skip}`);
  $("#schedule-summary").textContent = bits.join(" · ");

  drawTimeline($("#timeline"), d.snapshots, sched.next_slots || [], d.verdicts, Date.now() / 1000, null);
  renderSnapshots();

  const running = d.instance.status === "Running";
  const stateful = cfg["migration.stateful"] === "true";
  const box = $("#create-form [name=stateful]");
  box.disabled = !(running && stateful);
  if (box.disabled) box.checked = false;
  $("#stateful-hint").textContent = !stateful ? "stateful needs migration.stateful=true"
    : !running ? "stateful needs the instance running" : "";

  if (fillForm) {
    const own = d.instance.config || {};
    for (const input of $("#schedule-form").querySelectorAll("input[name]"))
      input.value = own[input.name] !== undefined ? own[input.name] : "";
    echoCron();
    $("#schedule-status").textContent = "";
  }
}

function renderSnapshots() {
  const d = state.detail;
  const name = d.instance.name;
  const running = d.instance.status === "Running";
  const all = d.snapshots.slice().reverse(); /* newest first */
  const shown = state.showAll ? all : all.slice(0, SNAPSHOT_ROWS);
  const rows = shown.map((s) => {
    const v = d.verdicts.get(s.name);
    const kind = (s.scheduled ? "scheduled" : "manual") + (s.stateful ? ", stateful" : "");
    const b = (label, fn) => el("button", { type: "button", onclick: fn, "aria-label": `${label} ${s.name}`, text: label });
    return el("tr", { "data-name": s.name },
      el("th", { scope: "row", text: s.name }),
      el("td", { class: `kind-${s.scheduled ? "scheduled" : "manual"}`, text: kind }),
      el("td", { "data-label": "Taken", text: fmtTime(s.created_at) }),
      el("td", { "data-label": "Expires", text: isNever(s.expires_at) ? "never" : fmtTime(s.expires_at) }),
      el("td", { "data-label": "Size", text: fmtBytes(s.size) }),
      el("td", { "data-label": "Next prune", class: v ? `verdict-${v.verdict}` : null, text: v ? (v.verdict === "delete" ? "delete: " : "keep: ") + v.reason : "" }),
      el("td", { class: "actions" },
        b("Restore", () => restoreSnapshot(name, s.name, running)), " ",
        b("Rename", () => renameSnapshot(name, s.name)), " ",
        b("Expiry", () => expirySnapshot(name, s)), " ",
        b("Delete", () => deleteSnapshot(name, s.name))));
  });
  const tbody = $("#snapshots tbody");
  keepFocus(tbody, () => tbody.replaceChildren(...rows));
  const more = $("#show-all");
  more.hidden = state.showAll || all.length <= SNAPSHOT_ROWS;
  more.textContent = `Show all ${all.length} snapshots`;
}

async function restoreSnapshot(name, snap, running) {
  const ok = await ask({
    title: `Restore ${snap}?`,
    message: `${name} goes back to snapshot ${snap}: its disk and config as they were then.` +
      (running ? ` The instance is running: it will be stopped, restored and started again.`
        : ` The instance is stopped and stays stopped.`),
    ok: "Restore",
  });
  if (ok) await act(() => api("PUT", instPath(name), { restore: snap }));
}

async function renameSnapshot(name, snap) {
  const v = await ask({ title: `Rename ${snap}`, fields: [{ name: "name", label: "New name", value: snap }], ok: "Rename" });
  if (v) await act(() => api("POST", snapPath(name, snap), { name: v.name }));
}

async function expirySnapshot(name, s) {
  const v = await ask({
    title: `Expiry of ${s.name}`,
    message: "A lifetime from now (1d 3H: S M H d w m y), a date (2026-12-24 18:00, UTC), or never (empty).",
    fields: [{ name: "expiry", label: "Expires", value: isNever(s.expires_at) ? "never" : fmtTime(s.expires_at).replace(/\//g, "-").replace(" UTC", "") }],
    ok: "Set expiry",
  });
  if (v) await act(() => api("PATCH", snapPath(name, s.name), { expires_at: resolveExpiry(v.expiry) }));
}

async function deleteSnapshot(name, snap) {
  const ok = await ask({ title: `Delete ${snap}?`, message: `Snapshot ${snap} of ${name} will be deleted.`, ok: "Delete" });
  if (ok) await act(() => api("DELETE", snapPath(name, snap)));
}

async function createSnapshot(ev) {
  ev.preventDefault();
  const f = ev.target;
  const body = { stateful: f.stateful.checked };
  if (f.elements.name.value.trim()) body.name = f.elements.name.value.trim();
  if (f.no_expiry.checked) body.no_expiry = true;
  else if (f.expiry.value.trim()) body.expiry = f.expiry.value.trim();
  const name = state.selected;
  await act(async () => {
    await api("POST", `${instPath(name)}/snapshots`, body);
    f.reset();
  });
}

/* ---- schedule editor ---------------------------------------------------------------- */

function echoCron() {
  const line = $("#f-schedule").value;
  const words = describeCron(line);
  const out = $("#cron-echo");
  out.textContent = words === null ? "(not read here: saving asks the daemon)" : words;
  out.classList.toggle("bad", words === null);
}

async function saveSchedule(ev) {
  ev.preventDefault();
  const own = (state.detail && state.detail.instance.config) || {};
  const config = {};
  for (const input of ev.target.querySelectorAll("input[name]")) {
    const v = input.value.trim();
    if (v !== (own[input.name] || "")) config[input.name] = v; /* "" unsets */
  }
  const status = $("#schedule-status");
  if (!Object.keys(config).length) { status.textContent = "Nothing changed"; return; }
  showError(null);
  try {
    await api("PATCH", instPath(state.selected), { config });
    status.textContent = "Saved";
    await refreshDetail(true);
    status.textContent = "Saved";
  } catch (e) {
    status.textContent = "";
    showError(e);
  }
}

/* ---- dialog ------------------------------------------------------------------------- */

/* Asks in a modal dialog; resolves to the field values (or true) on OK, null on cancel. */
function ask({ title, message, fields, ok }) {
  const dlg = $("#dialog");
  $("#dialog-title").textContent = title;
  $("#dialog-message").textContent = message || "";
  $("#dialog-ok").textContent = ok || "OK";
  const box = $("#dialog-fields");
  box.replaceChildren(...(fields || []).map((f) =>
    el("label", {}, f.label + " ", el("input", { name: f.name, value: f.value || "", autocomplete: "off" }))));
  return new Promise((resolve) => {
    const form = $("#dialog-form");
    const done = (value) => {
      form.removeEventListener("submit", onSubmit);
      $("#dialog-cancel").removeEventListener("click", onCancel);
      dlg.removeEventListener("cancel", onCancel);
      if (dlg.open) dlg.close();
      resolve(value);
    };
    const onSubmit = (e) => {
      e.preventDefault();
      if (!fields || !fields.length) return done(true);
      const v = {};
      for (const f of fields) v[f.name] = form.elements[f.name].value;
      done(v);
    };
    const onCancel = (e) => { e.preventDefault(); done(null); };
    form.addEventListener("submit", onSubmit);
    $("#dialog-cancel").addEventListener("click", onCancel);
    dlg.addEventListener("cancel", onCancel);
    dlg.showModal();
    const first = box.querySelector("input");
    (first || $("#dialog-ok")).focus();
    if (first) first.select();
  });
}

/* ---- live updates ------------------------------------------------------------------- */

let refreshTimer = null;
let refreshing = null;

async function refreshAll() {
  try {
    await refreshInstances();
    if (state.selected) await refreshDetail(false);
  } catch (e) {
    showError(e);
  }
}

/* Many events come in a burst (a prune deleting a hundred snapshots): read once after it. */
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    refreshing = (refreshing || Promise.resolve()).then(refreshAll);
  }, 250);
}

function listen() {
  const live = $("#live");
  const es = new EventSource("/events");
  /* On every (re)connection: what happened while the stream was down is read again. */
  let first = true;
  es.onopen = () => {
    live.textContent = "live";
    live.classList.add("on");
    if (!first) scheduleRefresh();
    first = false;
  };
  es.onerror = () => { live.textContent = "reconnecting"; live.classList.remove("on"); };
  es.onmessage = (m) => {
    let ev;
    try { ev = JSON.parse(m.data); } catch (e) { return; }
    if (ev.type === "lifecycle") scheduleRefresh();
  };
}

/* ---- start -------------------------------------------------------------------------- */

function start() {
  $("#create-form").addEventListener("submit", createSnapshot);
  $("#schedule-form").addEventListener("submit", saveSchedule);
  $("#f-schedule").addEventListener("input", echoCron);
  for (const id of ["#f-retention", "#f-floor", "#f-limit"])
    $(id).addEventListener("input", schedulePreview);
  $("#timeline").addEventListener("mousemove", showTip);
  $("#timeline").addEventListener("mouseleave", () => { $("#tip").hidden = true; });
  $("#show-all").addEventListener("click", () => { state.showAll = true; renderSnapshots(); });
  let resize = null;
  window.addEventListener("resize", () => {
    clearTimeout(resize);
    resize = setTimeout(() => { if (state.detail) renderDetail(false); }, 100);
  });
  refreshAll().then(() => {
    const hash = decodeURIComponent(location.hash.slice(1));
    if (hash && state.instances.some((i) => i.name === hash)) select(hash);
  });
  listen();
}

/* For the benchmark and the tests: the pure pieces. */
window.cairn = { drawTimeline, describeCron, resolveExpiry, select };

start();
