// kij view: draws the capture embedded in this page (#kij-capture) as a sequence
// diagram. Plain JavaScript, no framework, no network. Only the rows in sight are in
// the page at a time (virtualised), so a 50,000-message trace scrolls like a short one.
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("kij-capture").textContent);
  const MSGS = DATA.messages;
  // a parent_header written as an index is that earlier message's header (kij.views.html)
  // and msg_id, msg_type and parent_msg_id, when left out, are those of the headers
  MSGS.forEach((m) => {
    if (typeof m.ph === "number") m.ph = MSGS[m.ph].h;
    if (m.i === undefined && m.h) m.i = m.h.msg_id;
    if (m.y === undefined && m.h) m.y = m.h.msg_type;
    if (m.p === undefined && m.ph) m.p = m.ph.msg_id;
  });
  const KNOWN = ["shell", "control", "stdin", "iopub", "hb"];
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; };
  const state = { shown: [], cursor: -1, selected: -1, large: document.body.classList.contains("large"), printing: false };
  const rowHeight = () => (state.large ? 46 : 28);

  // --- the parties and sockets: lanes from the data itself ---------------------------
  const seqOf = new Map(); // msg_id → index of the first message with that id (the request)
  MSGS.forEach((m, i) => { if (m.i && !seqOf.has(m.i)) seqOf.set(m.i, i); });
  const hasWs = MSGS.some((m) => m.l === "websocket");
  const channels = [...new Set(MSGS.map((m) => m.c))];
  const unknown = channels.filter((c) => !KNOWN.includes(c)).sort();
  const sockets = KNOWN.filter((c) => channels.includes(c)).concat(unknown);
  // the clients: the sessions that sent requests — through the websocket when there is
  // one (the server's own requests to the kernel come from the server's lane)
  const sessions = [];
  MSGS.forEach((m) => {
    const s = m.h && m.h.session;
    const sent = !m.d.startsWith("from_") && (!hasWs || m.l === "websocket");
    if (s && sent && !sessions.includes(s)) sessions.push(s);
  });
  const MAX_CLIENTS = 3;
  const clients = sessions.length <= 1 ? ["client"]
    : sessions.slice(0, MAX_CLIENTS).map((s) => "client " + s.slice(0, 6)).concat(sessions.length > MAX_CLIENTS ? ["other clients"] : []);
  const lanes = clients.map((n) => ({ name: n, party: true }))
    .concat(hasWs ? [{ name: "server", party: true }] : [])
    .concat(sockets.map((c) => ({ name: c, socket: true })))
    .concat([{ name: "kernel", party: true }]);
  const xOf = (i) => ((i + 0.5) / lanes.length) * 100;
  const laneIndex = (name) => lanes.findIndex((l) => l.name === name);
  const serverLane = laneIndex("server"), kernelLane = lanes.length - 1;

  function clientLane(m) {
    const own = !m.d.startsWith("from_") ? m.h && m.h.session : m.ph && m.ph.session;
    const k = own ? sessions.indexOf(own) : 0;
    return k < 0 ? 0 : Math.min(k, clients.length - 1);
  }
  // where an arrow starts and ends: [from lane, to lane, the socket's lane or -1]
  function ends(m) {
    const toKernel = !m.d.startsWith("from_");
    const broadcast = m.c === "iopub" && !toKernel;
    const sock = laneIndex(m.c);
    let a, b;
    if (m.l === "websocket") { a = broadcast ? 0 : clientLane(m); b = serverLane; }
    else { a = hasWs ? serverLane : (broadcast ? 0 : clientLane(m)); b = kernelLane; }
    return toKernel ? [a, b, sock] : [b, a, sock];
  }

  // --- each message's thread: the request at the top of its parent_header chain -------
  function root(i) {
    let m = MSGS[i], depth = 0;
    while (m.p && seqOf.has(m.p) && depth++ < 20) { const j = seqOf.get(m.p); if (j === i) break; i = j; m = MSGS[j]; }
    return m.i || "seq" + m.s;
  }
  const threadOf = MSGS.map((_, i) => root(i));
  const threadSize = new Map();
  threadOf.forEach((t) => threadSize.set(t, (threadSize.get(t) || 0) + 1));
  function hue(text) { let h = 0; for (let k = 0; k < text.length; k++) h = (h * 31 + text.charCodeAt(k)) % 360; return h; }
  const children = new Map(); // msg_id → indexes of the messages that name it as parent
  MSGS.forEach((m, i) => { if (m.p) { if (!children.has(m.p)) children.set(m.p, []); children.get(m.p).push(i); } });

  // --- what a message is called, and its marks ---------------------------------------
  function typeOf(m) {
    if (m.y) return m.y;
    if (m.c === "hb") return m.d.startsWith("from_") ? "heartbeat echo" : "heartbeat ping";
    const f = m.f[0];
    if (f && f[0] === "subscription") return "subscription";
    return "(undecoded)";
  }
  function marks(m) {
    const out = [];
    if (m.y === "error" || (m.ct && m.ct.status === "error")) out.push("error");
    const note = m.n || "";
    if (note.startsWith("forged")) out.push("forged");
    if (note.startsWith("replay")) out.push("replayed");
    if (note.startsWith("probe")) out.push("probe");
    return out;
  }
  const ms = (t) => (t < 1000 ? t.toFixed(1) + " ms" : (t / 1000).toFixed(2) + " s");
  const sig = (v) => (v === true ? ["✓", "ok", "signature valid"] : v === false ? ["✗", "no", "signature INVALID"] : ["–", "t", "nothing signed"]);

  function row(i, k) {
    const m = MSGS[i], [from, to, sock] = ends(m);
    const r = el("div", "message ch-" + m.c);
    r.dataset.msgId = m.i || "";
    r.dataset.channel = m.c;
    r.dataset.seq = m.s;
    r.dataset.index = i;
    r.setAttribute("role", "option");
    const mk = marks(m);
    if (mk.includes("error")) r.classList.add("error");
    r.style.top = state.printing ? "" : k * rowHeight() + "px";
    const th = el("span", "thread");
    // a colour per request and what answers it; grey for a message alone in its thread
    th.style.background = threadSize.get(threadOf[i]) > 1 ? "hsl(" + hue(threadOf[i]) + ",65%,52%)" : "#c8ccd0";
    r.append(th, el("span", "seq", "#" + m.s));
    const area = el("div", "area");
    const lo = Math.min(xOf(from), xOf(to)), hi = Math.max(xOf(from), xOf(to));
    const arrow = el("div", "arrow " + (to > from ? "right" : "left") + (m.c === "iopub" && from > to ? " broadcast" : ""));
    arrow.style.left = lo + "%"; arrow.style.width = hi - lo + "%";
    // on the ZeroMQ leg the dot sits on the socket used; on the websocket leg the
    // channel is a field of the message (one websocket carries them all), so it is named
    const ws = m.l === "websocket";
    const knot = el("div", "knot");
    knot.style.left = xOf(ws || sock < 0 ? to : sock) + "%";
    const label = el("div", "label");
    label.style.left = (lo + hi) / 2 + "%";
    const [mark, cls, title] = sig(m.v);
    if (ws) label.append(el("span", "t", m.c + " ·"), " ");
    label.append(el("span", "type", typeOf(m)), " ", el("span", "t", ms(m.t)), " ");
    const s = el("span", cls, mark); s.title = title; label.append(s);
    if (m.p && seqOf.has(m.p) && seqOf.get(m.p) !== i) label.append(" ", el("span", "ans", "↩ #" + MSGS[seqOf.get(m.p)].s));
    mk.forEach((k) => label.append(" ", el("span", "badge " + k, k)));
    const anon = !(m.h && m.h.session) && !(m.ph && m.ph.session) && clients.length > 1 && !ws;
    r.title = [m.c, m.d, ws ? "websocket" : "", m.n || "",
      anon ? "no session in it: which client sent it is not in the capture (drawn from the first)" : ""].filter(Boolean).join(" · ");
    area.append(arrow, label);
    if (!ws) area.append(knot);
    r.append(area);
    return r;
  }

  // --- drawing: the lanes once, the rows in sight on every scroll ---------------------
  function drawLanes() {
    const head = $("lanes"), lines = $("lane-lines");
    head.textContent = ""; lines.textContent = "";
    lanes.forEach((l, i) => {
      const n = el("span", "lane-name" + (l.socket ? " ch-" + l.name : ""), l.name);
      n.style.left = xOf(i) + "%";
      const line = el("div", "lane-line" + (l.party ? " party" : ""));
      line.style.left = xOf(i) + "%";
      head.append(n); lines.append(line);
    });
  }
  function draw() {
    const rows = $("rows"), sc = $("scroller"), h = rowHeight();
    $("spacer").style.height = state.shown.length * h + "px";
    // a filter may have just shortened the list under a scroller still far down it
    const top = Math.max(0, Math.min(sc.scrollTop, state.shown.length * h - sc.clientHeight));
    const first = Math.max(0, Math.floor(top / h) - 5);
    const last = Math.min(state.shown.length, Math.ceil((top + sc.clientHeight) / h) + 5);
    const frag = document.createDocumentFragment();
    for (let k = first; k < last; k++) frag.append(row(state.shown[k], k));
    rows.textContent = "";
    rows.append(frag);
    paintMarks();
  }
  function paintMarks() {
    const sel = state.selected >= 0 ? MSGS[state.selected] : null;
    const thread = state.selected >= 0 ? threadOf[state.selected] : null;
    for (const r of $("rows").children) {
      const i = +r.dataset.index;
      r.classList.toggle("cursor", state.shown[state.cursor] === i);
      r.classList.toggle("selected", i === state.selected);
      r.classList.toggle("related", thread !== null && i !== state.selected && threadOf[i] === thread);
      r.classList.toggle("parent", !!(sel && sel.p && seqOf.get(sel.p) === i));
      r.setAttribute("aria-selected", i === state.selected ? "true" : "false");
    }
  }

  // --- the detail panel: frames with roles and byte lengths, decoded JSON --------------
  function link(i) {
    const a = el("a", null, "#" + MSGS[i].s + " " + typeOf(MSGS[i]));
    a.addEventListener("click", () => { reveal(i); select(i); });
    return a;
  }
  function detail(i) {
    const m = MSGS[i], body = $("detail-body");
    body.textContent = "";
    const [mark, , title] = sig(m.v);
    body.append(el("h2", null, "#" + m.s + " " + typeOf(m)));
    body.append(el("p", null, [m.c, m.d.replace("_", " "), m.l === "websocket" ? "websocket leg" : "ZeroMQ", ms(m.t), mark + " " + title, m.a ? "step: " + m.a : ""].filter(Boolean).join(" · ")));
    if (m.n) body.append(el("p", "note", m.n));
    if (m.p) {
      const p = el("p", null, "parent_header.msg_id " + m.p.slice(0, 8) + "…: ");
      if (seqOf.has(m.p) && seqOf.get(m.p) !== i) p.append(link(seqOf.get(m.p))); else p.append("not in this capture");
      body.append(p);
    }
    const kids = (m.i && children.get(m.i)) || [];
    if (kids.length) { const p = el("p", null, kids.length + " answer(s) name it as parent: "); kids.slice(0, 40).forEach((k, n) => { if (n) p.append(", "); p.append(link(k)); }); body.append(p); }
    body.append(el("h3", null, m.f.length + " frame(s)" + (m.b ? ", " + m.b + " binary buffer(s)" : "")));
    const t = el("table"), hr = el("tr");
    ["#", "role", "bytes", "value"].forEach((c) => hr.append(el("th", null, c)));
    t.append(hr);
    m.f.forEach(([role, len, text, hex], k) => {
      const tr = el("tr");
      tr.append(el("td", "n", k), el("td", null, role), el("td", "n", len),
        el("td", "v", text === null ? "JSON, decoded below" : (hex ? "hex " : "") + text));
      t.append(tr);
    });
    body.append(t);
    [["header", "h"], ["parent_header", "ph"], ["metadata", "m"], ["content", "ct"]].forEach(([name, key]) => {
      if (m[key] === undefined && !m.f.some((f) => f[0] === name)) return;
      body.append(el("h3", null, name), el("pre", null, JSON.stringify(m[key] || {}, null, 2)));
    });
    $("detail").hidden = false;
  }
  function select(i) { state.selected = i; const k = state.shown.indexOf(i); if (k >= 0) state.cursor = k; detail(i); paintMarks(); }
  function reveal(i) {
    let k = state.shown.indexOf(i);
    if (k < 0) { clearFilters(); k = state.shown.indexOf(i); }
    const sc = $("scroller"), h = rowHeight();
    if (k * h < sc.scrollTop || (k + 1) * h > sc.scrollTop + sc.clientHeight) sc.scrollTop = k * h - sc.clientHeight / 2;
    draw();
  }
  function moveCursor(k) {
    if (!state.shown.length) return;
    state.cursor = Math.max(0, Math.min(state.shown.length - 1, k));
    reveal(state.shown[state.cursor]);
  }

  // --- filters: by channel and by msg_type ---------------------------------------------
  function counts(key) { const c = new Map(); MSGS.forEach((m) => c.set(key(m), (c.get(key(m)) || 0) + 1)); return c; }
  function buildFilters() {
    const box = $("channels");
    counts((m) => m.c).forEach((n, c) => {
      const lab = el("label", "ch-" + c), cb = el("input");
      cb.type = "checkbox"; cb.checked = true; cb.value = c; cb.name = "channel";
      cb.addEventListener("change", applyFilters);
      lab.append(cb, " " + c + " (" + n + ")");
      box.append(lab);
    });
    const sel = $("type-filter");
    [...counts(typeOf)].sort((a, b) => a[0].localeCompare(b[0])).forEach(([t, n]) => {
      const o = el("option", null, t + " (" + n + ")"); o.value = t; sel.append(o);
    });
    sel.addEventListener("change", applyFilters);
  }
  function applyFilters() {
    const on = new Set([...document.querySelectorAll("#channels input:checked")].map((c) => c.value));
    const type = $("type-filter").value;
    const kept = state.cursor >= 0 ? state.shown[state.cursor] : -1; // the message under the cursor
    state.shown = [];
    MSGS.forEach((m, i) => { if (on.has(m.c) && (!type || typeOf(m) === type)) state.shown.push(i); });
    $("count").textContent = "showing " + state.shown.length + " of " + MSGS.length + " messages";
    document.body.dataset.shown = state.shown.length;
    // keep the cursor's message in sight if the filter kept it; otherwise start at the top
    state.cursor = kept >= 0 ? state.shown.indexOf(kept) : -1;
    const sc = $("scroller"), h = rowHeight();
    $("spacer").style.height = state.shown.length * h + "px";
    sc.scrollTop = state.cursor >= 0 ? state.cursor * h - sc.clientHeight / 2 : 0;
    draw();
  }
  function clearFilters() { document.querySelectorAll("#channels input").forEach((c) => (c.checked = true)); $("type-filter").value = ""; applyFilters(); }

  // --- the heading: what this capture is -------------------------------------------------
  function heading() {
    const k = DATA.kernel, facts = [];
    $("subtitle").textContent = "— " + MSGS.length + " messages" + (DATA.source ? " from " + DATA.source : "");
    if (k) facts.push(k.name + " kernel" + (k.implementation ? ", " + k.implementation + " " + (k.version || "") : "") + (k.protocol ? ", protocol " + k.protocol : "") + (k.existing ? " (attached, left running)" : ""));
    if (DATA.tap) facts.push("a kij-tap trace: a frontend's own traffic, relayed by the tap proxy");
    const count = (v) => MSGS.filter((m) => (m.v === undefined ? null : m.v) === v).length;
    facts.push("signatures: " + count(true) + " valid ✓, " + count(false) + " invalid ✗, " + count(null) + " unsigned –");
    if (hasWs) facts.push("the websocket leg runs between client and server");
    $("facts").textContent = facts.join(" · ");
    if (DATA.dropped.length) { $("dropped").hidden = false; $("dropped").textContent = "Not drawn: " + DATA.dropped.join("; "); }
  }

  // --- keys, clicks, print, large type ---------------------------------------------------
  function onKey(e) {
    if (e.target.tagName === "SELECT" || e.target.tagName === "INPUT" || e.altKey || e.ctrlKey || e.metaKey) return;
    const page = Math.max(1, Math.floor($("scroller").clientHeight / rowHeight()) - 1);
    const moves = { ArrowDown: 1, j: 1, ArrowUp: -1, k: -1, PageDown: page, PageUp: -page };
    if (e.key in moves) moveCursor((state.cursor < 0 ? -1 : state.cursor) + moves[e.key]);
    else if (e.key === "Home") moveCursor(0);
    else if (e.key === "End") moveCursor(state.shown.length - 1);
    else if (e.key === "Enter" && state.cursor >= 0) select(state.shown[state.cursor]);
    else if (e.key === "Escape") { $("detail").hidden = true; state.selected = -1; paintMarks(); }
    else return;
    e.preventDefault();
  }
  function setLarge(on) { state.large = on; document.body.classList.toggle("large", on); draw(); }
  const PRINT_MAX = 5000;
  function printAll() {
    state.printing = true;
    state.legendWasOpen = $("legend").open;
    $("legend").open = true; // on paper the legend is part of the picture
    const rows = $("rows"); rows.textContent = "";
    state.shown.slice(0, PRINT_MAX).forEach((i) => rows.append(row(i)));
    if (state.shown.length > PRINT_MAX) rows.append(el("p", null, "… and " + (state.shown.length - PRINT_MAX) + " more messages, not printed (filter first)"));
  }

  heading();
  drawLanes();
  buildFilters();
  $("large-toggle").checked = state.large;
  $("large-toggle").addEventListener("change", (e) => setLarge(e.target.checked));
  $("scroller").addEventListener("scroll", () => { if (!state.printing) draw(); }, { passive: true });
  $("rows").addEventListener("click", (e) => { const r = e.target.closest(".message"); if (r) select(+r.dataset.index); });
  $("close-detail").addEventListener("click", () => { $("detail").hidden = true; state.selected = -1; paintMarks(); });
  document.addEventListener("keydown", onKey);
  // the rows in sight depend on the scroller's height: redraw whenever it changes (a
  // window resized, or a notebook's frame drawn while hidden and shown later)
  // (its height only, and on the next frame: a redraw inside the observer's callback
  // could start a resize loop the browser reports as an error)
  let seenHeight = -1;
  new ResizeObserver(() => requestAnimationFrame(() => {
    const h = $("scroller").clientHeight;
    if (h !== seenHeight && !state.printing) { seenHeight = h; draw(); }
  })).observe($("scroller"));
  window.addEventListener("beforeprint", printAll);
  window.addEventListener("afterprint", () => { state.printing = false; $("legend").open = state.legendWasOpen; draw(); });
  document.body.dataset.total = MSGS.length;
  applyFilters();
  $("scroller").focus();
  document.body.dataset.ready = "1";
})();
