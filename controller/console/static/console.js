// lanectl console: log in, follow the lane's event stream, send commands with CSRF.
// No framework, no build step. The server decides what is allowed; this page shows it.
"use strict";

const COMMANDS = [
  ["release", "Release"], ["send_aside", "Send aside"],
  ["open_lane", "Open lane"], ["close_lane", "Close lane"],
  ["maintenance_on", "Maintenance on"], ["maintenance_off", "Maintenance off"],
  ["manual_raise", "Manual raise"], ["manual_lower", "Manual lower"],
  ["emergency_open_on", "Emergency open"], ["emergency_open_off", "End emergency open"],
  ["reset_fault", "Fault reset"],
];
const ALARM_KINDS = new Set(["fault_latched", "camera_fault", "camera_restored", "bus_lost",
  "bus_restored", "stuck_loop", "sensor_disagreement", "safety_override", "motor_fault",
  "fault_reset", "alarm_acknowledged"]);
// The kinds that change a bar of the chart (the totals come with each state).
const COUNT_KINDS = new Set(["vehicle_passed", "vehicle_sent_aside", "tailgate", "run_through"]);
const MAX_EVENTS_SHOWN = 100;
const PHASE_WORDS = {
  START: "finding where the boom is", READY: "ready for the next vehicle",
  ENTERING: "vehicle entering the bay", INSPECTING: "vehicle stopped: inspect, then release",
  ASIDE: "sent aside: waiting for the bay to clear", WARNING: "released: warning before the boom moves",
  RAISING: "boom rising", PASSING: "vehicle passing under the raised boom",
  CLEARING: "waiting for the boom line to clear", LOWERING: "boom lowering",
  HALTED: "boom motor stopped", OPENED: "emergency open: boom up, exit green",
};

// What the page has seen, for people debugging it and for the browser tests.
const lanectl = window.lanectl = { eventIds: [], states: [], me: null, lastState: null,
  streamOpens: 0 };
let source = null;
let lastId = null;
let stateAt = 0;
let standingTimer = null;
let freshStream = false;

const $ = (id) => document.getElementById(id);

const api = (path, body) => lanectlAuth.api(path, body);
const showLogin = (message) => lanectlAuth.showLogin(message);

function init() {
  lanectlAuth.setup({ view: "console", state: lanectl, onStart: start, onStop: stopStream });
}

function stopStream() {
  if (source) { source.close(); source = null; }
}

function start() {
  buildCommands();
  connect();
  const img = $("camera-img");
  img.addEventListener("error", () => { $("camera-none").hidden = false; img.hidden = true; },
    { once: true });
  img.src = "/camera.mjpg";
  refreshAlarms();
  refreshCounts();
  if (standingTimer === null) standingTimer = setInterval(tickStanding, 1000);
}

function connect() {
  const url = lastId === null ? "/events" : `/events?after=${lastId}`;
  source = new EventSource(url);
  source.addEventListener("open", () => {
    lanectl.streamOpens += 1;
    freshStream = true;
    $("link").textContent = "live";
    $("link").className = "link up";
  });
  source.addEventListener("state", (e) => renderState(JSON.parse(e.data)));
  source.addEventListener("journal", (e) => onJournal(JSON.parse(e.data)));
  source.addEventListener("camera", (e) => renderCamera(JSON.parse(e.data)));
  source.addEventListener("error", async () => {
    $("link").textContent = "reconnecting";
    $("link").className = "link down";
    if (source.readyState !== EventSource.CLOSED) return;  // the browser retries by itself
    const r = await api("/api/me");
    if (r.status === 401) { showLogin("Session ended: log in again."); return; }
    setTimeout(connect, 1000);
  });
}

function onJournal(ev) {
  lastId = ev.id;
  lanectl.eventIds.push(ev.id);
  const li = document.createElement("li");
  li.value = ev.id;
  li.dataset.id = ev.id;
  li.dataset.kind = ev.kind;
  const data = ev.data || {};
  const when = ev.wall ? new Date(ev.wall).toLocaleTimeString() : "";
  const who = data.user ? ` by ${data.user} (${data.role || "?"}) from ${data.remote}` : "";
  const rest = Object.entries(data).filter(([k]) => !["user", "role", "remote"].includes(k)
    && !k.startsWith("in_") && !k.startsWith("proposed_") && !k.startsWith("written_"))
    .map(([k, v]) => `${k}=${v}`).join(" ");
  li.textContent = `${when} ${ev.kind} ${rest}`;
  if (who) {
    const span = document.createElement("span");
    span.className = "who";
    span.textContent = who;
    li.appendChild(span);
  }
  const list = $("events");
  list.insertBefore(li, list.firstChild);
  while (list.children.length > MAX_EVENTS_SHOWN) list.removeChild(list.lastChild);
  if (ALARM_KINDS.has(ev.kind)) refreshAlarms();
  if (COUNT_KINDS.has(ev.kind)) refreshCounts();
}

function setOn(id, on) { $(id).classList.toggle("on", !!on); }

function renderState(s) {
  stateAt = performance.now();
  lanectl.lastState = s;
  // The first state of a stream is the hub's last one, however old: not a live change.
  lanectl.states.push({ seq: s.seq, t: Date.now(), replayed: freshStream });
  freshStream = false;
  if (lanectl.states.length > 5000) lanectl.states.shift();
  const core = s.core || {};
  const out = core.outputs || {};
  const inp = s.inputs || {};
  $("lane-name").textContent = s.lane || "";
  $("mode").textContent = core.mode || "?";
  $("phase").textContent = core.phase || "?";
  $("phase-words").textContent = PHASE_WORDS[core.phase] || "";
  const entry = out.entry_green ? "green" : out.entry_amber ? "amber" : "red";
  $("entry-signal").dataset.aspect = entry;
  setOn("entry-red", out.entry_red); setOn("entry-amber", out.entry_amber);
  setOn("entry-green", out.entry_green);
  $("exit-light").dataset.aspect = out.exit_green ? "green" : "red";
  setOn("exit-red", out.exit_red); setOn("exit-green", out.exit_green);
  $("lane-use").dataset.aspect = out.lane_open ? "open" : "closed";
  $("lane-use-symbol").textContent = out.lane_open ? "\u2193" : "X";
  setOn("loop-approach", inp.loop_approach); setOn("loop-bay", inp.loop_bay);
  setOn("loop-exit", inp.loop_exit); setOn("photocell", inp.photocell);
  setOn("safety-edge", inp.safety_edge); setOn("estop", inp.estop);
  $("warn").setAttribute("visibility", out.warn ? "visible" : "hidden");
  $("alarm-beacon").setAttribute("visibility", out.alarm ? "visible" : "hidden");
  const pos = Math.max(0, Math.min(1000, s.barrier_position || 0));
  $("boom").dataset.position = pos;
  $("boom").setAttribute("transform", `rotate(${(pos * 0.09).toFixed(1)})`);
  const limits = inp.barrier_up ? "up" : inp.barrier_down ? "down" : "between limits";
  $("boom-text").textContent = `${(pos / 10).toFixed(0)} % (${limits}, motor ${core.motion})`;
  $("vehicle").setAttribute("visibility", core.vehicle_in_bay ? "visible" : "hidden");
  $("bay-vehicle").textContent = core.vehicle_in_bay ? "yes" : "no";
  $("count").textContent = core.count;
  $("faults").textContent = (core.faults || []).join(", ") || "none";
  $("bus").textContent = s.bus_ok ? "ok" : "LOST";
  tickStanding();
  renderCommands(s.commands || {});
  if (s.shift) renderShift(s.shift);
}

// The runtime's ShiftStats, as the state message carries them (status()["shift"]).
function renderShift(c) {
  $("count-passed").textContent = c.passed;
  $("count-aside").textContent = c.sent_aside;
  $("count-violations").textContent = c.violations;
  $("count-inspection").textContent = c.mean_inspection_s === null ? "-"
    : `${c.mean_inspection_s} s (${c.inspections})`;
  $("count-since").textContent = new Date(c.since).toLocaleString();
}

function tickStanding() {
  const s = lanectl.lastState;
  if (!s || !s.core || !s.core.vehicle_in_bay) { $("bay-time").textContent = "-"; return; }
  const now = s.now_ms + (performance.now() - stateAt);
  const secs = Math.max(0, Math.round((now - s.bay_since_ms) / 1000));
  $("bay-time").textContent = `${Math.floor(secs / 60)} min ${secs % 60} s`;
}

function buildCommands() {
  const box = $("commands");
  box.textContent = "";
  for (const [name, label] of COMMANDS) {
    const div = document.createElement("div");
    div.className = "command";
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.command = name;
    b.textContent = label;
    b.disabled = true;
    if (lanectl.me.confirm.includes(name)) b.classList.add("danger");
    b.addEventListener("click", () => onCommand(name, label));
    const reason = document.createElement("span");
    reason.className = "reason";
    reason.dataset.reasonFor = name;
    div.append(b, reason);
    box.appendChild(div);
  }
}

function renderCommands(reasons) {
  for (const [name] of COMMANDS) {
    const b = document.querySelector(`button[data-command="${name}"]`);
    const why = reasons[name] === undefined ? "unknown" : reasons[name];
    b.disabled = why !== "";
    b.title = why;
    document.querySelector(`[data-reason-for="${name}"]`).textContent = why;
  }
}

function confirmed(label) {
  return new Promise((resolve) => {
    const dlg = $("confirm");
    $("confirm-text").textContent = `${label}: this moves the boom or clears faults. Confirm?`;
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
    dlg.returnValue = "";
    dlg.showModal();
  });
}

async function onCommand(name, label) {
  const body = {};
  if (lanectl.me.confirm.includes(name)) {
    if (!(await confirmed(label))) return;
    body.confirm = true;
  }
  const r = await api(`/api/commands/${name}`, body);
  if (r.status === 401) { showLogin("Session ended: log in again."); return; }
  if (r.status !== 202) {
    document.querySelector(`[data-reason-for="${name}"]`).textContent =
      `refused: ${r.data.detail || r.status}`;
  }
}

async function refreshAlarms() {
  const r = await api("/api/alarms");
  if (r.status !== 200) return;
  const body = $("alarms").tBodies[0];
  body.textContent = "";
  for (const a of r.data.alarms.slice(0, 50)) {
    const tr = document.createElement("tr");
    tr.dataset.alarm = a.id;
    tr.className = a.cleared ? "cleared" : "active";
    const raised = new Date(a.raised).toLocaleTimeString();
    const ack = a.acknowledged_by ? ` by ${a.acknowledged_by} at ${
      new Date(a.acknowledged_at).toLocaleTimeString()}` : "";
    for (const text of [raised, a.text, `${a.status}${ack}`]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    }
    const td = document.createElement("td");
    if (!a.acknowledged_by && lanectl.me.acknowledge) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = "Acknowledge";
      b.dataset.ack = a.id;
      b.addEventListener("click", () => api(`/api/alarms/${a.id}/ack`, {}));
      td.appendChild(b);
    }
    tr.appendChild(td);
    body.appendChild(tr);
  }
}

async function refreshCounts() {
  const r = await api("/api/counts");
  if (r.status !== 200) return;
  drawChart(r.data.buckets);
}

function svgEl(name, attrs) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

function drawChart(buckets) {
  const svg = $("chart");
  svg.textContent = "";
  const max = Math.max(1, ...buckets.map((b) => b.passed + b.sent_aside + b.violations));
  const w = 620 / buckets.length;
  buckets.forEach((b, i) => {
    let y = 100;
    for (const [key, cls] of [["passed", "bar"], ["sent_aside", "bar aside"],
      ["violations", "bar viol"]]) {
      const h = (b[key] / max) * 90;
      if (h > 0) {
        y -= h;
        svg.appendChild(svgEl("rect", { x: 10 + i * w, y, width: Math.max(1, w - 2), height: h,
          class: cls, "data-start": b.start, "data-key": key, "data-value": b[key] }));
      }
    }
    if (i % 4 === 0) {
      const t = svgEl("text", { x: 10 + i * w, y: 114, class: "axis" });
      t.textContent = new Date(b.start).toLocaleTimeString([], { hour: "2-digit",
        minute: "2-digit" });
      svg.appendChild(t);
    }
  });
  const t = svgEl("text", { x: 630, y: 12, class: "axis", "text-anchor": "end" });
  t.textContent = `max ${max} / 15 min`;
  svg.appendChild(t);
}

function renderCamera(c) {
  lanectl.camera = c;
  const svg = $("camera-zones");
  if (c.width && c.height) svg.setAttribute("viewBox", `0 0 ${c.width} ${c.height}`);
  svg.textContent = "";
  for (const z of c.zones) {
    const poly = svgEl("polygon", { points: z.polygon.map((p) => p.join(",")).join(" "),
      class: z.occupied ? "zone on" : "zone", "data-zone": z.name,
      "data-occupied": z.occupied ? "true" : "false" });
    svg.appendChild(poly);
    const [x, y] = z.polygon[0];
    const label = svgEl("text", { x: x + 4, y: y + 16, class: "zonelabel" });
    label.textContent = z.name;
    svg.appendChild(label);
  }
  const fault = $("camera-fault");
  fault.hidden = c.faults.length === 0;
  fault.textContent = c.faults.length ? `FAULT: ${c.faults.join(", ")}` : "";
}

document.addEventListener("DOMContentLoaded", init);
