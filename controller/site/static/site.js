// lanectl site page: log in, follow the supervisor's event stream, pin lanes with CSRF.
// No framework, no build step. The server decides who may pin; this page shows it.
"use strict";

const MAX_JOURNAL_SHOWN = 100;
const PINS = [["open", "Open"], ["closed", "Closed"], [null, "Auto"]];

// What the page has seen, for people debugging it and for the browser tests.
const sitepage = window.sitepage = { me: null, last: null, received: [], journalIds: [],
  streamOpens: 0 };
let source = null;
let lastId = null;
let freshStream = false;

const $ = (id) => document.getElementById(id);

const api = (path, body) => lanectlAuth.api(path, body);
const showLogin = (message) => lanectlAuth.showLogin(message);

function init() {
  lanectlAuth.setup({ view: "site", state: sitepage, onStart: start, onStop: stopStream });
}

function stopStream() {
  if (source) { source.close(); source = null; }
}

function start() {
  connect();
}

function connect() {
  const url = lastId === null ? "/events" : `/events?after=${lastId}`;
  source = new EventSource(url);
  source.addEventListener("open", () => {
    sitepage.streamOpens += 1;
    freshStream = true;
    $("link").textContent = "live";
    $("link").className = "link up";
  });
  source.addEventListener("site", (e) => renderSite(JSON.parse(e.data)));
  source.addEventListener("journal", (e) => onJournal(JSON.parse(e.data)));
  source.addEventListener("error", async () => {
    $("link").textContent = "reconnecting";
    $("link").className = "link down";
    if (source.readyState !== EventSource.CLOSED) return;  // the browser retries by itself
    const r = await api("/api/me");
    if (r.status === 401) { showLogin("Session ended: log in again."); return; }
    setTimeout(connect, 1000);
  });
}

function el(name, attrs, text) {
  const e = document.createElement(name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function svgEl(name, attrs) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function renderSite(s) {
  const now = Date.now();
  sitepage.last = s;
  // The first message of a stream holds states however old: not a live change.
  sitepage.received.push({ t: now, replayed: freshStream, lanes: s.lanes.map((l) => ({
    lane: l.lane, mode: l.mode, phase: l.phase, time: l.state_time })) });
  freshStream = false;
  if (sitepage.received.length > 5000) sitepage.received.shift();
  $("site-name").textContent = s.site;
  $("broker").textContent = s.connected ? "broker up" : "broker down";
  $("broker").className = s.connected ? "link up" : "link down";
  $("open-lanes").textContent = `${s.open_lanes} / ${s.lanes.length}`;
  $("staff").textContent = s.staff;
  $("arrivals").textContent = `${s.arrival_vph} veh/h`;
  $("capacity").textContent = `${s.capacity_vph} veh/h`;
  $("wait").textContent = s.predicted_wait_s === null ? "over capacity"
    : `${s.predicted_wait_s} s`;
  $("wait").classList.toggle("bad", s.predicted_wait_s === null);
  renderLanes(s.lanes);
  drawChart(s.chart);
}

function lamp(cls, title) { return el("span", { class: `lamp ${cls}`, title }); }

function renderLanes(lanes) {
  const body = $("lanes").tBodies[0];
  body.textContent = "";
  for (const l of lanes) {
    const tr = el("tr", { "data-lane": l.lane, "data-status": l.status, "data-mode": l.mode || "",
      "data-unavailable": l.unavailable });
    const name = el("td");
    name.append(el("strong", {}, l.lane), el("br"),
      el("span", { class: "small" }, l.online ? "online" : "offline"));
    const state = el("td");
    state.append(el("span", { class: "status", "data-role": "mode" }, l.mode || "?"), " ",
      el("span", { class: "small", "data-role": "phase" }, l.phase || ""));
    if (l.unavailable) state.append(el("br"), el("span", { class: "small" }, `left out: ${l.unavailable}`));
    const sig = el("td");
    const g = l.signals || {};
    sig.append(lamp(g.entry || "off", `entry ${g.entry}`), lamp(g.lane_use || "off",
      `lane use ${g.lane_use}`), el("span", { class: "small" },
      ` entry ${g.entry || "?"}, lane ${g.lane_use || "?"}`));
    const queue = el("td", { "data-role": "queue" });
    queue.append(`${l.queue} waiting`, el("br"), el("span", { class: "small" },
      `${l.wait_s} s wait${l.in_bay ? ", bay taken" : ""}${l.approach ? ", approach taken" : ""}`));
    const counts = el("td", { "data-role": "vehicles" });
    const outs = Object.entries(l.outcomes || {}).map(([k, v]) => `${k} ${v}`).join(", ");
    counts.append(`${l.vehicles}`, el("br"), el("span", { class: "small" }, outs));
    const alarms = el("td", { class: l.alarms.length ? "alarms" : "alarms none",
      "data-role": "alarms" }, l.alarms.length ? l.alarms.join("; ") : "none");
    const pin = el("td");
    const box = el("div", { class: "pins" });
    for (const [value, label] of PINS) {
      const b = el("button", { type: "button", "data-pin": value === null ? "auto" : value },
        label);
      if (l.pin === value) b.classList.add("chosen");
      b.disabled = !sitepage.me.can_pin;
      b.title = sitepage.me.can_pin ? `pin ${l.lane}: ${label}` : `not for role ${sitepage.me.role}`;
      b.addEventListener("click", () => onPin(l.lane, value));
      box.appendChild(b);
    }
    pin.append(box);
    tr.append(name, state, sig, queue, counts, alarms, pin);
    body.appendChild(tr);
  }
}

async function onPin(lane, value) {
  const r = await api(`/api/pins/${encodeURIComponent(lane)}`, { pin: value });
  if (r.status === 401) { showLogin("Session ended: log in again."); return; }
  $("pin-error").textContent = r.status === 200 ? "" : `pin ${lane}: ${r.data.detail || r.status}`;
}

function drawChart(chart) {
  const svg = $("chart");
  svg.textContent = "";
  const buckets = chart.buckets || [];
  $("chart-bucket").textContent = `(bars of ${chart.bucket_s} s)`;
  const W = 900, H = 200, left = 40, top = 10, bottom = 25;
  const max = Math.max(1, ...buckets.map((b) => Math.max(b.arrivals, b.capacity)));
  const n = Math.max(buckets.length, 12);
  const w = (W - left - 10) / n;
  const y = (v) => top + (H - top - bottom) * (1 - v / max);
  for (const f of [0, 0.5, 1]) {
    svg.appendChild(svgEl("line", { x1: left, x2: W - 10, y1: y(max * f), y2: y(max * f),
      class: "grid" }));
    const t = svgEl("text", { x: left - 4, y: y(max * f) + 4, class: "axis",
      "text-anchor": "end" });
    t.textContent = (max * f).toFixed(max < 10 ? 1 : 0);
    svg.appendChild(t);
  }
  let path = "";
  buckets.forEach((b, i) => {
    const x = left + i * w;
    svg.appendChild(svgEl("rect", { x: x + 1, y: y(b.arrivals), width: Math.max(1, w - 2),
      height: y(0) - y(b.arrivals), class: "bar", "data-start": b.start,
      "data-arrivals": b.arrivals, "data-capacity": b.capacity }));
    path += `${i === 0 ? "M" : "L"}${x.toFixed(1)},${y(b.capacity).toFixed(1)} ` +
      `L${(x + w).toFixed(1)},${y(b.capacity).toFixed(1)} `;
    if (i % Math.max(1, Math.ceil(n / 8)) === 0) {
      const t = svgEl("text", { x, y: H - 8, class: "axis" });
      t.textContent = new Date(b.start).toLocaleTimeString([], { hour: "2-digit",
        minute: "2-digit", second: chart.bucket_s < 60 ? "2-digit" : undefined });
      svg.appendChild(t);
    }
  });
  if (path) svg.appendChild(svgEl("path", { d: path, class: "cap" }));
}

function onJournal(row) {
  lastId = row.id;
  sitepage.journalIds.push(row.id);
  const b = row.body || {};
  const li = el("li", { "data-id": row.id, "data-kind": row.kind });
  li.value = row.id;
  const when = row.wall ? new Date(row.wall).toLocaleTimeString() : "";
  let text = `${when} ${row.kind}`;
  if (row.kind === "decision") text += ` ${b.action} ${row.lane}: ${b.reason}`;
  else if (row.kind === "pin") text += ` ${row.lane} ${b.pin === null ? "auto" : b.pin}`;
  else if (row.kind === "start") text += ` site ${b.site}, staff ${b.staff}`;
  else if (b.reason) text += `: ${b.reason}`;
  li.textContent = text;
  if (b.user) li.appendChild(el("span", { class: "who" },
    ` by ${b.user}${b.role ? ` (${b.role})` : ""}${b.remote ? ` from ${b.remote}` : ""}`));
  const list = $("journal");
  list.insertBefore(li, list.firstChild);
  while (list.children.length > MAX_JOURNAL_SHOWN) list.removeChild(list.lastChild);
}

document.addEventListener("DOMContentLoaded", init);
