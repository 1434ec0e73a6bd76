// The SOE web UI: plain JavaScript over the /v1 API, no build step.
// The API key (when the server needs one) is kept in sessionStorage: this tab only.
"use strict";

const KEY_STORAGE = "soe-api-key";
const PAGE_SIZE = 25;
const page = { offset: 0, total: 0 };
const execution = { id: null, lastEventId: null, following: false, refreshTimer: null, graphCount: 0 };
const KEYS_REQUIRED = document.body.dataset.keysRequired === "true";

const $ = (id) => document.getElementById(id);
const encode = encodeURIComponent;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

// ---------------------------------------------------------------- API access

function authHeaders() {
  const key = sessionStorage.getItem(KEY_STORAGE);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

function messageOf(body, fallback) {
  const detail = body && body.detail;
  if (!detail) return fallback;
  if (typeof detail === "string") return detail;
  if (detail.message) {
    const where = detail.location ? ` (line ${detail.location.line}, column ${detail.location.column})` : "";
    return detail.message + where;
  }
  return JSON.stringify(detail);
}

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json", ...authHeaders(), ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) {
    sessionStorage.removeItem(KEY_STORAGE);
    showKeyForm("The server refused this key.");
    throw new Error("API key refused");
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error(messageOf(body, response.statusText));
  return body;
}

// ---------------------------------------------------------------- views

function show(view) {
  for (const id of ["key-view", "list-view", "execution-view"]) $(id).hidden = id !== view;
}

function showKeyForm(message) {
  show("key-view");
  $("key-error").textContent = message || "";
  $("key-input").focus();
}

async function useKey(event) {
  event.preventDefault();
  sessionStorage.setItem(KEY_STORAGE, $("key-input").value.trim());
  $("key-input").value = "";
  try {
    await api("/v1/executions?limit=1");
  } catch (error) {
    return;
  }
  route();
}

function route() {
  const match = location.pathname.match(/^\/executions\/([^/]+)$/);
  if (match) openExecution(decodeURIComponent(match[1]));
  else openList();
}

function statusBadge(status) {
  return el("span", { class: `status ${status}`, text: status });
}

// ---------------------------------------------------------------- executions list

async function openList() {
  show("list-view");
  await refreshList();
  setInterval(refreshList, 2000);
}

async function refreshList() {
  const query = new URLSearchParams({ offset: page.offset, limit: PAGE_SIZE });
  if ($("status-filter").value) query.set("status", $("status-filter").value);
  let found;
  try {
    found = await api(`/v1/executions?${query}`);
  } catch (error) {
    return;
  }
  page.total = found.total;
  const rows = found.executions.map((entry) => el("tr", {},
    el("td", {}, el("a", { href: `/executions/${encode(entry.execution_id)}`, text: entry.execution_id })),
    el("td", {}, statusBadge(entry.status)),
    el("td", { text: (entry.waiting_for || []).join(", ") }),
    el("td", { text: entry.main_execution_id || "" }),
    el("td", { text: entry.updated_at || "" }),
    el("td", { class: "error", text: entry.error || "" })));
  $("executions").tBodies[0].replaceChildren(...rows);
  const last = Math.min(page.offset + PAGE_SIZE, page.total);
  $("page-info").textContent = page.total ? `${page.offset + 1}–${last} of ${page.total}` : "none";
  $("prev-page").disabled = page.offset === 0;
  $("next-page").disabled = last >= page.total;
}

function turnPage(step) {
  page.offset = Math.max(0, page.offset + step * PAGE_SIZE);
  refreshList();
}

// ---------------------------------------------------------------- one execution

async function openExecution(id) {
  execution.id = id;
  show("execution-view");
  $("execution-id").textContent = id;
  await refreshExecution();
  refreshRevisions();
  renderGraph();
  followEvents();
}

function scheduleRefresh() {
  if (execution.refreshTimer) return;
  execution.refreshTimer = setTimeout(() => {
    execution.refreshTimer = null;
    refreshExecution();
  }, 250);
}

async function refreshExecution() {
  const base = `/v1/executions/${encode(execution.id)}`;
  let info;
  let history;
  try {
    [info, history] = await Promise.all([api(base), api(`${base}/history`)]);
  } catch (error) {
    $("error").textContent = error.message;
    return;
  }
  $("status").replaceWith(Object.assign(statusBadge(info.status), { id: "status" }));
  $("workflow").textContent = info.workflow || "";
  $("waiting-for").textContent = (info.waiting_for || []).join(", ") || "—";
  $("error").textContent = info.error || "";
  renderSignalChoices(info);
  renderContext(history.context);
}

function renderContext(context) {
  const fields = Object.entries(context).map(([name, values]) => el("div", { class: "field" },
    el("strong", { text: name }),
    el("ol", { start: 0 }, ...(Array.isArray(values) ? values : [values]).map(
      (value) => el("li", { text: JSON.stringify(value) })))));
  $("context").replaceChildren(...(fields.length ? fields : [el("p", { class: "muted", text: "(empty)" })]));
}

function renderSignalChoices(info) {
  const select = $("signal-name");
  const chosen = select.value;
  const waiting = info.waiting_for || [];
  const signals = [...waiting, ...(info.listens_for || []).filter((s) => !waiting.includes(s))];
  select.replaceChildren(...signals.map((signal) => el("option", { value: signal, text: signal })));
  if (signals.includes(chosen)) select.value = chosen;
  $("signal-form").classList.toggle("waiting", waiting.length > 0);
}

function addFieldRow() {
  $("signal-fields").append(el("div", { class: "pair" },
    el("input", { class: "field-name", placeholder: "field", "aria-label": "field name" }),
    el("input", { class: "field-value", placeholder: "value", "aria-label": "field value" })));
}

async function sendSignal(event) {
  event.preventDefault();
  const context = {};
  for (const row of $("signal-fields").querySelectorAll(".pair")) {
    const name = row.querySelector(".field-name").value.trim();
    if (name) context[name] = row.querySelector(".field-value").value;
  }
  const body = { signals: [$("signal-name").value], context };
  try {
    await api(`/v1/executions/${encode(execution.id)}/signals`, { method: "POST", body: JSON.stringify(body) });
    $("signal-result").textContent = `Sent ${body.signals[0]}.`;
    $("signal-fields").replaceChildren();
    addFieldRow();
  } catch (error) {
    $("signal-result").textContent = error.message;
    return;
  }
  scheduleRefresh();
  if (!execution.following) followEvents();
}

// ---------------------------------------------------------------- live timeline (SSE over fetch, so the key can be sent)

function addEvent(id, event) {
  const clock = String(event.timestamp || "").split("T")[1] || "";
  $("timeline").append(el("li", { "data-id": String(id) },
    el("span", { class: "muted", text: `${id} ${clock.replace("Z", "")} ` }),
    el("span", { class: "type", text: event.event_type }),
    el("span", { text: ` ${JSON.stringify(event.context || {})}` })));
  $("timeline").lastChild.scrollIntoView({ block: "nearest" });
}

function parseMessage(block) {
  const message = {};
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const cut = line.indexOf(": ");
    message[line.slice(0, cut)] = line.slice(cut + 2);
  }
  return message;
}

async function readStream(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return false;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const message = parseMessage(buffer.slice(0, cut));
      buffer = buffer.slice(cut + 2);
      if (message.event === "end") return true;
      if (message.event === "telemetry") {
        execution.lastEventId = Number(message.id);
        addEvent(execution.lastEventId, JSON.parse(message.data));
        scheduleRefresh();
      }
    }
  }
}

async function followEvents() {
  execution.following = true;
  for (;;) {
    const headers = authHeaders();
    if (execution.lastEventId !== null) headers["Last-Event-ID"] = String(execution.lastEventId);
    $("stream-state").textContent = "live";
    let ended = false;
    try {
      const response = await fetch(`/v1/executions/${encode(execution.id)}/events`, { headers });
      if (!response.ok) throw new Error(response.statusText);
      ended = await readStream(response);
    } catch (error) {
      ended = false;
    }
    if (ended) break;
    $("stream-state").textContent = "reconnecting";
    await sleep(1000);
  }
  execution.following = false;
  $("stream-state").textContent = "finished";
  refreshExecution();
  refreshRevisions();
  renderGraph();
}

// ---------------------------------------------------------------- graph and revisions

async function renderGraph() {
  let found;
  try {
    found = await api(`/v1/executions/${encode(execution.id)}/graph`);
  } catch (error) {
    return;
  }
  if (!found.mermaid) return;
  execution.graphCount += 1;
  const { svg } = await window.mermaid.render(`graph-svg-${execution.graphCount}`, found.mermaid);
  $("graph").innerHTML = svg;  // strict security level: Mermaid sanitizes labels
}

async function refreshRevisions() {
  let revisions;
  try {
    revisions = await api(`/v1/executions/${encode(execution.id)}/revisions`);
  } catch (error) {
    return;
  }
  const newest = revisions.length - 1;
  $("revisions").replaceChildren(...revisions.map((revision) => el("li", { value: String(revision.revision) },
    el("span", { text: `${revision.author} · ${revision.operation} · ${revision.timestamp} ` }),
    el("button", { type: "button", text: "Diff", onclick: () => showDiff(revision.revision) }),
    revision.revision === newest ? "" : el("button", {
      type: "button", text: `Roll back to ${revision.revision}`, onclick: () => rollBack(revision.revision),
    }))));
}

async function showDiff(revision) {
  const found = await api(`/v1/executions/${encode(execution.id)}/revisions/${revision}/diff`);
  $("revision-diff").textContent = `revision ${found.base} → ${found.target}\n` + JSON.stringify(found.diff, null, 2);
}

async function rollBack(revision) {
  const found = await api(`/v1/executions/${encode(execution.id)}/revisions/${revision}/rollback`, { method: "POST" });
  $("revision-diff").textContent = `rolled back to ${revision}: new revision ${found.revision}`;
  refreshRevisions();
  renderGraph();
}

// ---------------------------------------------------------------- start

function start() {
  window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
  $("key-form").addEventListener("submit", useKey);
  $("status-filter").addEventListener("change", () => { page.offset = 0; refreshList(); });
  $("prev-page").addEventListener("click", () => turnPage(-1));
  $("next-page").addEventListener("click", () => turnPage(1));
  $("signal-form").addEventListener("submit", sendSignal);
  $("add-field").addEventListener("click", addFieldRow);
  addFieldRow();
  const forget = $("forget-key");
  forget.hidden = !KEYS_REQUIRED;
  forget.addEventListener("click", () => { sessionStorage.removeItem(KEY_STORAGE); location.href = "/"; });
  if (KEYS_REQUIRED && !sessionStorage.getItem(KEY_STORAGE)) showKeyForm("");
  else route();
}

start();
