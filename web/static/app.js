/* Aegis web page: plain JavaScript over the /v1 JSON API, no build step.
 *
 * The API key lives in sessionStorage (this tab only) and goes out as a Bearer
 * header; EventSource cannot send headers, so the event stream gets it as ?key=.
 * Everything shown comes from the API and is put into the page with textContent,
 * never innerHTML, so a hostile filename or document text cannot run script.
 *
 * Live progress: one EventSource per unfinished document (a few at most, because a
 * browser allows only ~6 connections per host over HTTP/1.1), and polling every
 * second for the rest or whenever a stream errors or does not exist. Either way the
 * event only says "something changed": the document is re-read from the API, which
 * is the state of record, and its row is re-rendered.
 */
(() => {
  "use strict";

  const KEY_STORAGE = "aegis.apiKey";
  const TERMINAL = new Set(["succeeded", "failed", "rejected"]);
  const MAX_STREAMS = 3;
  const POLL_MS = 1000;
  const SAFETY_POLL_MS = 10000;
  const PAGE_BATCH = 20;
  const UPLOAD_CONCURRENCY = 3;
  const STREAM_EVENTS = ["message", "snapshot", "started", "succeeded", "failed", "rejected", "document_succeeded"];
  const script = document.currentScript;
  const STAGES = ((script && script.dataset.stages) || "validate,metadata,content,ai").split(",");

  /* Plain words for the stable error codes; the server's own message follows them. */
  const PLAIN = {
    empty_file: "The file is empty.",
    too_large: "The file is larger than this server accepts.",
    file_too_large: "The file is larger than this server accepts.",
    unsupported_format: "Aegis cannot read this kind of file.",
    type_mismatch: "The file's contents do not match its name or type.",
    encrypted: "The file is password-protected. Upload it again with its password (under Options).",
    malformed: "The file is damaged or not valid, so it could not be read.",
    too_many_pages: "The document has more pages than this server accepts.",
    zip_bomb: "The file unpacks to far more data than it holds, so it was refused for safety.",
    timeout: "Processing took too long and was stopped. You can try Reprocess.",
    worker_lost: "The worker handling it stopped several times. You can try Reprocess.",
    token_budget_exceeded: "Your AI budget is used up, so the summary step could not run.",
    unauthorized: "The API key is not valid or has been revoked.",
    not_found: "That document no longer exists.",
    internal_error: "Something went wrong on the server.",
  };

  const $ = (id) => document.getElementById(id);
  const state = {
    key: null,
    rows: new Map(),      // document id -> {tr, cells}
    docs: new Map(),      // document id -> last document JSON
    watchers: new Map(),  // document id -> {source, timer, safety}
    inflight: new Map(),  // document id -> Promise of a refresh
    uploadLines: new Map(), // document id -> the status text of its line under Upload
    again: new Set(),     // ids whose refresh must run once more when the current one ends
    cursor: null,
    openId: null,
    pages: [],
    pagesShown: 0,
  };

  /* ---------- small helpers ---------- */

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function announce(message) {
    const region = $("announcer");
    region.textContent = "";
    // A fresh text node after a tick makes screen readers speak repeats too.
    window.setTimeout(() => { region.textContent = message; }, 50);
  }

  function showAppError(message) {
    const box = $("app-error");
    box.textContent = message;
    box.hidden = !message;
  }

  function formatBytes(n) {
    if (n === null || n === undefined) return "";
    const units = ["bytes", "KB", "MB", "GB"];
    let value = n;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return unit === 0 ? `${value} bytes` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
  }

  function formatDuration(ms) {
    if (ms === null || ms === undefined) return "";
    return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(ms < 10000 ? 1 : 0)} s`;
  }

  function formatWhen(iso) {
    if (!iso) return "";
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
  }

  function plainError(error) {
    if (!error) return "";
    return PLAIN[error.code] || error.message || error.code;
  }

  function pill(status, label) {
    return el("span", { class: `pill ${status || "pending"}`, text: label || status || "pending" });
  }

  // Office MIME types run to 70 characters and wrapped a table cell onto eight lines:
  // show a short name, keep the full type in the tooltip.
  const SHORT_MIME = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word (DOCX)",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "PowerPoint (PPTX)",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel (XLSX)",
    "application/vnd.ms-excel.sheet.macroenabled.12": "Excel (XLSM)",
    "application/vnd.oasis.opendocument.text": "OpenDocument text",
    "application/vnd.oasis.opendocument.spreadsheet": "OpenDocument sheet",
    "application/vnd.oasis.opendocument.presentation": "OpenDocument slides",
    "application/vnd.ms-outlook": "Outlook message",
    "application/epub+zip": "EPUB",
  };

  function shortMime(mime) {
    if (!mime) return "";
    if (SHORT_MIME[mime]) return SHORT_MIME[mime];
    const sub = mime.split(";")[0].split("/").pop().replace(/^(vnd\.|x-)/, "");
    return sub.length > 18 ? `${sub.slice(0, 17)}…` : sub;
  }

  function mimeLabel(mime) {
    return mime ? el("span", { class: "mime", title: mime, text: shortMime(mime) }) : null;
  }

  /** What to say when the upload turned out to be a file already here, by how that one ended. */
  function duplicateMessage(doc) {
    if (doc.status === "rejected") {
      return `already uploaded and rejected: ${plainError(doc.error) || "the file is not acceptable"}`;
    }
    if (doc.status === "failed") {
      return `already uploaded; it failed: ${plainError(doc.error) || "processing did not finish"}`;
    }
    return "already uploaded — showing the existing document";
  }

  /* ---------- API ---------- */

  class ApiError extends Error {
    constructor(status, code, detail) {
      super(detail);
      this.status = status;
      this.code = code;
    }
  }

  async function api(path, options = {}) {
    const headers = Object.assign({ Accept: "application/json" }, options.headers || {});
    if (state.key) headers.Authorization = `Bearer ${state.key}`;
    let response;
    try {
      response = await fetch(path, Object.assign({}, options, { headers }));
    } catch (err) {
      throw new ApiError(0, "network", "Could not reach the server. Check your connection and try again.");
    }
    if (response.status === 204) return null;
    const type = response.headers.get("Content-Type") || "";
    const body = type.includes("json") ? await response.json().catch(() => null) : null;
    if (!response.ok) {
      const detail = (body && (body.detail || body.title)) || `The server answered ${response.status}.`;
      const error = new ApiError(response.status, (body && body.code) || "http_error", detail);
      if (response.status === 401 && state.key && !options.signingIn) signOut(detail);
      throw error;
    }
    return body;
  }

  /* ---------- sign in / out ---------- */

  async function signIn(key, fromStorage) {
    const errorBox = $("signin-error");
    errorBox.textContent = "";
    try {
      state.key = key;
      await api("/v1/documents?limit=1", { signingIn: true });
    } catch (err) {
      state.key = null;
      sessionStorage.removeItem(KEY_STORAGE);
      errorBox.textContent = fromStorage ? "" : err.message;
      if (!fromStorage) $("api-key").focus();
      return;
    }
    sessionStorage.setItem(KEY_STORAGE, key);
    $("api-key").value = "";
    $("signin").hidden = true;
    $("app").hidden = false;
    $("signout").hidden = false;
    announce("Signed in.");
    await showScope();
    await loadDocuments(true);
    route();
  }

  /* What the key may do: a read key sees no upload, reprocess or delete controls. */
  const SCOPE_TEXT = {
    read: "may list, read and search documents; uploading, reprocessing and deleting need a write key",
    write: "may list, read, search, upload, reprocess and delete documents",
    admin: "may do everything, including reading the audit log",
  };

  async function showScope() {
    const box = $("key-scope");
    let me;
    try {
      me = await api("/v1/me");
    } catch (err) {
      box.hidden = true;
      return;
    }
    const canWrite = me.scopes.includes("write");
    document.body.classList.toggle("read-only", !canWrite);
    box.textContent = `Tenant ${me.tenant}, ${me.scope} key: ${SCOPE_TEXT[me.scope] || "may do nothing"}.`;
    box.hidden = false;
  }

  function signOut(message) {
    document.body.classList.remove("read-only");
    $("key-scope").hidden = true;
    for (const id of [...state.watchers.keys()]) unwatch(id);
    state.key = null;
    sessionStorage.removeItem(KEY_STORAGE);
    state.rows.clear();
    state.docs.clear();
    state.uploadLines.clear();
    $("documents-body").replaceChildren();
    $("search-results").replaceChildren();
    $("uploads").replaceChildren();
    $("app").hidden = true;
    $("signout").hidden = true;
    $("signin").hidden = false;
    $("signin-error").textContent = message || "";
    if (location.hash) history.replaceState(null, "", location.pathname);
    $("api-key").focus();
  }

  /* ---------- document list ---------- */

  async function loadDocuments(reset) {
    const status = $("status-filter").value;
    const params = new URLSearchParams({ limit: "50" });
    if (status) params.set("status", status);
    if (!reset && state.cursor) params.set("cursor", state.cursor);
    let page;
    try {
      page = await api(`/v1/documents?${params}`);
    } catch (err) {
      showAppError(err.message);
      return;
    }
    showAppError("");
    if (reset) {
      $("documents-body").replaceChildren();
      state.rows.clear();
    }
    for (const doc of page.documents) upsertRow(doc, false);
    state.cursor = page.next_cursor;
    $("load-more").hidden = !state.cursor;
    updateEmpty();
  }

  function updateEmpty() {
    $("documents-empty").hidden = state.rows.size > 0;
  }

  function buildRow(doc) {
    const open = el("a", { class: "open-link", href: `#/documents/${encodeURIComponent(doc.id)}` });
    const sub = el("span", { class: "sub" });
    const status = el("td", { class: "doc-status" });
    const stageCells = {};
    const tr = el("tr", { "data-id": doc.id }, el("td", { class: "name" }, open, sub), status);
    for (const stage of STAGES) {
      stageCells[stage] = el("td", { class: "stage", "data-stage": stage });
      tr.append(stageCells[stage]);
    }
    const reprocess = el("button", { type: "button", class: "button small needs-write", text: "Reprocess",
      onclick: () => reprocessDocument(doc.id) });
    const remove = el("button", { type: "button", class: "button small danger needs-write", text: "Delete",
      onclick: () => deleteDocument(doc.id) });
    tr.append(el("td", { class: "actions" }, reprocess, remove));
    return { tr, open, sub, status, stageCells, reprocess, remove };
  }

  function renderRow(row, doc) {
    row.open.textContent = doc.filename || doc.id;
    row.open.setAttribute("aria-label", `Open ${doc.filename || doc.id}`);
    const mime = mimeLabel(doc.mime);
    row.sub.replaceChildren(formatBytes(doc.size), mime ? " · " : null, mime, ` · ${formatWhen(doc.created_at)}`);
    row.status.replaceChildren(pill(doc.status));
    if (doc.error) {
      row.status.append(el("span", { class: "sub", text: plainError(doc.error) }));
    }
    for (const stage of STAGES) {
      const run = (doc.stages || {})[stage];
      const cell = row.stageCells[stage];
      cell.replaceChildren(pill(run ? run.status : "pending"));
      if (run && run.pages_total && run.status === "running") {
        // OCR fans out by page: say how far it is (progress events refresh the row).
        cell.append(el("span", { class: "sub pages", text: `${run.pages_done || 0}/${run.pages_total} pages` }));
      } else if (run && run.duration_ms !== null && run.duration_ms !== undefined) {
        cell.append(el("span", { class: "sub", text: formatDuration(run.duration_ms) }));
      }
      cell.title = run && run.error ? `${stage}: ${plainError(run.error)}` : "";
    }
    // A rejected file is unacceptable as it is: running it again gives the same answer.
    row.reprocess.hidden = doc.status === "rejected";
    row.reprocess.setAttribute("aria-label", `Reprocess ${doc.filename}`);
    row.remove.setAttribute("aria-label", `Delete ${doc.filename}`);
  }

  /** Insert or update a document's row; new uploads go to the top, list pages to the bottom. */
  function upsertRow(doc, atTop) {
    const previous = state.docs.get(doc.id);
    state.docs.set(doc.id, doc);
    let row = state.rows.get(doc.id);
    const filter = $("status-filter").value;
    if (!row && (atTop || !filter || doc.status === filter)) {
      row = buildRow(doc);
      state.rows.set(doc.id, row);
      const body = $("documents-body");
      if (atTop) body.prepend(row.tr); else body.append(row.tr);
      updateEmpty();
    }
    if (row) renderRow(row, doc);
    if (!row && state.openId !== doc.id) return; // filtered out and not on screen: nothing to follow
    if (TERMINAL.has(doc.status)) {
      unwatch(doc.id);
      if (previous && !TERMINAL.has(previous.status)) {
        const outcome = doc.status === "succeeded" ? "is ready" : `${doc.status}: ${plainError(doc.error)}`;
        announce(`${doc.filename} ${outcome}`);
        const line = state.uploadLines.get(doc.id);
        if (line) {
          line.textContent = doc.status === "succeeded" ? "ready" : `${doc.status}: ${plainError(doc.error)}`;
          line.className = doc.status === "succeeded" ? "ok-text" : "field-error";
        }
      }
    } else {
      watch(doc.id);
    }
    if (state.openId === doc.id) renderDetail(doc, previous);
  }

  function removeRow(id) {
    unwatch(id);
    const row = state.rows.get(id);
    if (row) row.tr.remove();
    state.rows.delete(id);
    state.docs.delete(id);
    updateEmpty();
  }

  function flash(id) {
    const row = state.rows.get(id);
    if (!row) return;
    row.tr.classList.remove("flash");
    void row.tr.offsetWidth; // restart the animation
    row.tr.classList.add("flash");
  }

  /* ---------- live progress ---------- */

  /** Re-read one document; calls that arrive while one is in flight collapse into one more. */
  function refresh(id) {
    if (state.inflight.has(id)) {
      state.again.add(id);
      return state.inflight.get(id);
    }
    const run = (async () => {
      try {
        const doc = await api(`/v1/documents/${encodeURIComponent(id)}`);
        if (state.key) upsertRow(doc, false);
      } catch (err) {
        if (err.status === 404) removeRow(id);
        // Anything else (network blip, 5xx): the next poll or event tries again.
      } finally {
        state.inflight.delete(id);
        if (state.again.delete(id) && state.watchers.has(id)) refresh(id);
      }
    })();
    state.inflight.set(id, run);
    return run;
  }

  function streams() {
    let count = 0;
    for (const w of state.watchers.values()) if (w.source) count += 1;
    return count;
  }

  function startPolling(id, watcher) {
    if (watcher.timer) return;
    watcher.timer = window.setInterval(() => refresh(id), POLL_MS);
  }

  function watch(id) {
    if (state.watchers.has(id) || !state.key) return;
    const watcher = { source: null, timer: null, safety: null };
    state.watchers.set(id, watcher);
    if (!("EventSource" in window) || streams() >= MAX_STREAMS) {
      startPolling(id, watcher);
      return;
    }
    let source;
    try {
      source = new EventSource(
        `/v1/documents/${encodeURIComponent(id)}/events?key=${encodeURIComponent(state.key)}`);
    } catch (err) {
      startPolling(id, watcher);
      return;
    }
    watcher.source = source;
    source.addEventListener("open", () => refresh(id)); // catch up on anything before we subscribed
    for (const name of STREAM_EVENTS) source.addEventListener(name, () => refresh(id));
    source.addEventListener("error", () => {
      // A missing endpoint, a dropped connection or the server ending the stream: poll instead.
      source.close();
      watcher.source = null;
      if (state.watchers.get(id) === watcher) startPolling(id, watcher);
    });
    // Events are best effort by design; a slow re-read covers one that was lost.
    watcher.safety = window.setInterval(() => refresh(id), SAFETY_POLL_MS);
  }

  function unwatch(id) {
    const watcher = state.watchers.get(id);
    if (!watcher) return;
    if (watcher.source) watcher.source.close();
    if (watcher.timer) window.clearInterval(watcher.timer);
    if (watcher.safety) window.clearInterval(watcher.safety);
    state.watchers.delete(id);
  }

  /* ---------- upload ---------- */

  function uploadLine(file) {
    const status = el("span", { class: "muted", text: "uploading…" });
    const bar = el("progress", { max: "100", value: "0", "aria-label": `Upload of ${file.name}` });
    const li = el("li", null, el("strong", { text: file.name }), bar, status);
    $("uploads").prepend(li);
    return { status, bar };
  }

  /**
   * POST a form with upload progress: fetch() cannot report bytes sent, XMLHttpRequest can.
   * Errors are the same ApiError objects api() throws.
   */
  function uploadForm(form, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/v1/documents");
      xhr.setRequestHeader("Accept", "application/json");
      if (state.key) xhr.setRequestHeader("Authorization", `Bearer ${state.key}`);
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) onProgress(Math.round((100 * event.loaded) / event.total));
      });
      xhr.addEventListener("error", () =>
        reject(new ApiError(0, "network", "Could not reach the server. Check your connection and try again.")));
      xhr.addEventListener("load", () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = null; }
        if (xhr.status >= 200 && xhr.status < 300) { resolve(body); return; }
        const detail = (body && (body.detail || body.title)) || `The server answered ${xhr.status}.`;
        if (xhr.status === 401 && state.key) signOut(detail);
        reject(new ApiError(xhr.status, (body && body.code) || "http_error", detail));
      });
      xhr.send(form);
    });
  }

  async function uploadOne(file, password) {
    const { status, bar } = uploadLine(file);
    const form = new FormData();
    form.append("file", file, file.name);
    if (password) form.append("password", password);
    try {
      const body = await uploadForm(form, (percent) => {
        bar.value = percent;
        status.textContent = percent < 100 ? `uploading… ${percent}%` : "uploaded, waiting for the server";
      });
      bar.value = 100;
      const docs = body.documents || [body];
      for (const doc of docs) {
        state.uploadLines.set(doc.id, status);
        upsertRow(doc, true);
        flash(doc.id);
        if (doc.duplicate) {
          status.textContent = duplicateMessage(doc);
          announce(`${file.name}: ${duplicateMessage(doc)}.`);
        } else {
          status.textContent = "uploaded, processing";
          announce(`${file.name} uploaded; processing started.`);
        }
        status.className = "muted";
      }
    } catch (err) {
      status.textContent = err.message;
      status.className = "field-error";
      announce(`${file.name} could not be uploaded: ${err.message}`);
    }
  }

  /** Files go up one request each (a few at a time), so one bad file fails alone. */
  async function uploadFiles(fileList) {
    const files = Array.from(fileList || []);
    if (!files.length || !state.key) return;
    const password = $("upload-password").value;
    $("upload-password").value = "";
    const queue = files.slice();
    const workers = Array.from({ length: Math.min(UPLOAD_CONCURRENCY, queue.length) }, async () => {
      while (queue.length) await uploadOne(queue.shift(), password);
    });
    await Promise.all(workers);
    updateEmpty();
  }

  function setUpDropzone() {
    const zone = $("dropzone");
    let depth = 0;
    const hasFiles = (event) => Array.from(event.dataTransfer ? event.dataTransfer.types : []).includes("Files");
    zone.addEventListener("dragenter", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      depth += 1;
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragover", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    });
    zone.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (!depth) zone.classList.remove("dragging");
    });
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      depth = 0;
      zone.classList.remove("dragging");
      uploadFiles(event.dataTransfer.files);
    });
    // A drop that misses the zone must not navigate away from the page (and the key).
    for (const type of ["dragover", "drop"]) {
      window.addEventListener(type, (event) => {
        if (!zone.contains(event.target) && hasFiles(event)) event.preventDefault();
      });
    }
    $("file-input").addEventListener("change", (event) => {
      uploadFiles(event.target.files);
      event.target.value = "";
    });
  }

  /* ---------- actions ---------- */

  async function reprocessDocument(id) {
    const doc = state.docs.get(id);
    try {
      const fresh = await api(`/v1/documents/${encodeURIComponent(id)}/reprocess`, { method: "POST" });
      unwatch(id);
      upsertRow(fresh, false);
      flash(id);
      announce(`${(doc && doc.filename) || "The document"} is being processed again.`);
    } catch (err) {
      showAppError(err.message);
    }
  }

  async function deleteDocument(id) {
    const doc = state.docs.get(id);
    const name = (doc && doc.filename) || "this document";
    if (!window.confirm(`Delete ${name}? Its file, text and search entries are removed for good.`)) return;
    try {
      await api(`/v1/documents/${encodeURIComponent(id)}`, { method: "DELETE" });
    } catch (err) {
      if (err.status !== 404) {
        showAppError(err.message);
        return;
      }
    }
    removeRow(id);
    announce(`${name} deleted.`);
    if (state.openId === id) location.hash = "";
  }

  /* ---------- document detail ---------- */

  function route() {
    const match = /^#\/documents\/(.+)$/.exec(location.hash);
    if (!state.key) return;
    if (match) openDocument(decodeURIComponent(match[1]));
    else closeDocument();
  }

  async function openDocument(id) {
    state.openId = id;
    state.pages = [];
    state.pagesShown = 0;
    $("detail-title").textContent = "Loading…";
    $("detail-pages").replaceChildren(el("p", { class: "muted", text: "Not yet available." }));
    $("more-pages").hidden = true;
    $("list-view").hidden = true;
    $("detail").hidden = false;
    try {
      const doc = await api(`/v1/documents/${encodeURIComponent(id)}`);
      if (state.openId !== id) return;
      upsertRow(doc, !state.rows.has(doc.id));
      renderDetail(doc, null);
    } catch (err) {
      $("detail-title").textContent = "Document not available";
      $("detail-error").hidden = false;
      $("detail-error").replaceChildren(el("strong", { text: err.message }));
    }
    $("detail-title").focus();
  }

  function closeDocument() {
    const wasOpen = state.openId;
    state.openId = null;
    $("detail").hidden = true;
    $("list-view").hidden = false;
    const row = wasOpen && state.rows.get(wasOpen);
    if (row) row.open.focus();
  }

  function renderDetail(doc, previous) {
    $("detail-title").textContent = doc.filename || doc.id;
    const mime = mimeLabel(doc.mime);
    $("detail-summary-line").replaceChildren(`Status: ${doc.status} · ${formatBytes(doc.size)}`,
      mime ? " · " : null, mime, ` · uploaded ${formatWhen(doc.created_at)}`);
    $("detail-reprocess").hidden = doc.status === "rejected";

    const box = $("detail-error");
    if (doc.error) {
      box.replaceChildren(
        el("strong", { text: plainError(doc.error) }),
        el("br"),
        doc.error.message && doc.error.message !== plainError(doc.error) ? el("span", { text: doc.error.message }) : null,
        " ",
        el("span", { class: "code", text: `(${doc.error.code})` }),
      );
      box.hidden = false;
    } else {
      box.hidden = true;
    }

    for (const stage of STAGES) {
      const tr = document.querySelector(`#detail-stages tr[data-stage="${stage}"]`);
      const run = (doc.stages || {})[stage] || {};
      tr.querySelector(".s-status").replaceChildren(pill(run.status || "pending"));
      tr.querySelector(".s-attempts").textContent = run.attempts ?? "";
      tr.querySelector(".s-took").textContent = run.pages_total && run.status === "running"
        ? `${run.pages_done || 0}/${run.pages_total} pages`
        : formatDuration(run.duration_ms);
      tr.querySelector(".s-error").textContent = run.error ? plainError(run.error) : "";
    }

    // Once a document has ended, a missing part will not come: say so rather than "not yet".
    const absent = TERMINAL.has(doc.status) ? "None: processing stopped before this step." : "Not yet available.";
    renderAI(doc.ai, absent);
    renderMetadata(doc.metadata, absent);
    const contentReady = (doc.stages && doc.stages.content && doc.stages.content.status === "succeeded");
    if (!contentReady) {
      state.pages = [];
      $("more-pages").hidden = true;
      $("detail-pages").replaceChildren(el("p", { class: "muted", text: absent }));
    }
    const wasReady = previous && previous.stages && previous.stages.content
      && previous.stages.content.status === "succeeded";
    if (contentReady && (!wasReady || !state.pages.length)) loadPages(doc.id);
  }

  function renderAI(ai, absent) {
    const target = $("detail-ai");
    if (!ai) {
      target.replaceChildren(el("p", { class: "muted", text: absent }));
      return;
    }
    const parts = [el("p", { class: "summary-text", text: ai.summary || "No summary." })];
    if (Array.isArray(ai.keywords) && ai.keywords.length) {
      parts.push(el("h4", { text: "Keywords" }));
      parts.push(el("ul", { class: "keywords", "aria-label": "Keywords" },
        ...ai.keywords.map((word) => el("li", { text: word }))));
    }
    const facts = el("dl", { class: "kv" });
    if (ai.language) facts.append(el("dt", { text: "Language" }), el("dd", { text: ai.language }));
    if (ai.classification && ai.classification.label) {
      const score = typeof ai.classification.score === "number"
        ? ` (${Math.round(ai.classification.score * 100)}% sure)` : "";
      facts.append(el("dt", { text: "Kind" }), el("dd", { text: ai.classification.label + score }));
    }
    if (ai.provider) facts.append(el("dt", { text: "By" }), el("dd", { text: [ai.provider, ai.model].filter(Boolean).join(" ") }));
    if (facts.children.length) parts.push(facts);
    target.replaceChildren(...parts);
  }

  function metadataValue(value) {
    if (value === null || value === undefined || value === "") return null;
    if (Array.isArray(value)) return value.map((v) => (typeof v === "object" ? JSON.stringify(v) : String(v))).join(", ");
    if (typeof value === "boolean") return value ? "yes" : "no";
    if (typeof value === "object") return null;
    return String(value);
  }

  function metadataList(metadata) {
    const list = el("dl", { class: "kv" });
    for (const [name, value] of Object.entries(metadata)) {
      if (value && typeof value === "object" && !Array.isArray(value)) {
        const nested = metadataList(value);
        if (nested.children.length) {
          list.append(el("details", null, el("summary", { text: name }), nested));
        }
        continue;
      }
      const text = metadataValue(value);
      if (text === null) continue;
      list.append(el("dt", { text: name.replace(/_/g, " ") }), el("dd", { text }));
    }
    return list;
  }

  function renderMetadata(metadata, absent) {
    const target = $("detail-metadata");
    if (!metadata || !Object.keys(metadata).length) {
      target.replaceChildren(el("p", { class: "muted", text: absent }));
      return;
    }
    target.replaceChildren(metadataList(metadata));
  }

  async function loadPages(id) {
    try {
      const content = await api(`/v1/documents/${encodeURIComponent(id)}/content`);
      if (state.openId !== id) return;
      state.pages = content.pages || [];
      state.pagesShown = 0;
      $("detail-pages").replaceChildren();
      if (!state.pages.length) {
        $("detail-pages").append(el("p", { class: "muted", text: "No text was found in this document." }));
      }
      showMorePages();
    } catch (err) {
      $("detail-pages").replaceChildren(el("p", { class: "field-error", text: err.message }));
    }
  }

  /** Long documents render in batches so a 600-page PDF does not freeze the tab. */
  function showMorePages() {
    const next = state.pages.slice(state.pagesShown, state.pagesShown + PAGE_BATCH);
    for (const page of next) {
      const headingId = `page-${page.number}-title`;
      $("detail-pages").append(el("section", { class: "page", "aria-labelledby": headingId },
        el("h4", { id: headingId, text: `Page ${page.number}` }),
        el("div", { class: "page-text", tabindex: "0", text: page.text || "(no text on this page)" })));
    }
    state.pagesShown += next.length;
    const rest = state.pages.length - state.pagesShown;
    $("more-pages").hidden = rest <= 0;
    $("more-pages").textContent = `Show more pages (${rest} left)`;
  }

  /* ---------- search ---------- */

  function highlighted(text, query) {
    const words = query.toLowerCase().split(/\W+/).filter((w) => w.length > 2);
    const holder = el("p", { class: "result-text" });
    if (!words.length) {
      holder.textContent = text;
      return holder;
    }
    const escaped = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    const pattern = new RegExp(`\\b(${escaped.join("|")})\\b`, "gi");
    for (const part of text.split(pattern)) {
      if (!part) continue;
      holder.append(words.includes(part.toLowerCase()) ? el("mark", { text: part }) : document.createTextNode(part));
    }
    return holder;
  }

  async function search(query) {
    const status = $("search-status");
    const list = $("search-results");
    list.replaceChildren();
    status.className = "muted";
    status.textContent = "Searching…";
    let body;
    try {
      body = await api(`/v1/search?${new URLSearchParams({ q: query, k: "10" })}`);
    } catch (err) {
      status.className = "field-error";
      status.textContent = err.status === 404
        ? "Search is not available on this server yet."
        : `Search failed: ${err.message}`;
      return;
    }
    const results = (body && body.results) || [];
    status.textContent = results.length
      ? `${results.length} result${results.length === 1 ? "" : "s"} for “${query}”`
      : `Nothing found for “${query}”`;
    for (const hit of results) {
      const pages = hit.page_start === hit.page_end ? `page ${hit.page_start}` : `pages ${hit.page_start}–${hit.page_end}`;
      const snippet = hit.text.length > 400 ? `${hit.text.slice(0, 400)}…` : hit.text;
      list.append(el("li", { class: "result" },
        el("div", { class: "result-head" },
          el("a", { href: `#/documents/${encodeURIComponent(hit.document_id)}`, text: hit.filename }),
          el("span", { class: "muted small", text: `${pages} · score ${hit.score.toFixed(2)}` })),
        highlighted(snippet, query)));
    }
  }

  /* ---------- wiring ---------- */

  function init() {
    $("signin-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("api-key").value.trim();
      if (!key) {
        $("signin-error").textContent = "Enter your API key.";
        $("api-key").focus();
        return;
      }
      signIn(key, false);
    });
    $("signout").addEventListener("click", () => { signOut(""); announce("Signed out."); });
    $("refresh").addEventListener("click", () => loadDocuments(true));
    $("status-filter").addEventListener("change", () => loadDocuments(true));
    $("load-more").addEventListener("click", () => loadDocuments(false));
    $("more-pages").addEventListener("click", showMorePages);
    $("detail-back").addEventListener("click", (event) => {
      event.preventDefault();
      history.pushState(null, "", location.pathname);
      route();
    });
    $("detail-reprocess").addEventListener("click", () => { if (state.openId) reprocessDocument(state.openId); });
    $("detail-delete").addEventListener("click", () => { if (state.openId) deleteDocument(state.openId); });
    $("search-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const query = $("search-q").value.trim();
      if (query) search(query);
    });
    window.addEventListener("hashchange", route);
    setUpDropzone();

    const saved = sessionStorage.getItem(KEY_STORAGE);
    if (saved) signIn(saved, true);
    else $("api-key").focus();
  }

  init();
})();
