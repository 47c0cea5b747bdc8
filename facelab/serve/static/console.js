/* facelab console: a little vanilla JavaScript over the JSON API (no framework, no CDN). */
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const $ = (sel) => document.querySelector(sel);
const SVG = "http://www.w3.org/2000/svg";
const QUEUE_POLL_MS = 10000;

function actor() { return ($("#actor").value || "").trim(); }

function say(text) { $("#status").textContent = text; }

async function api(url, options = {}) {
  const opts = Object.assign({ credentials: "same-origin" }, options);
  opts.headers = Object.assign({ "X-CSRF-Token": csrf }, options.headers || {});
  const res = await fetch(url, opts);
  const body = await res.json().catch(() => ({ error: `error: HTTP ${res.status}` }));
  if (!res.ok) { const e = new Error(body.error || `error: HTTP ${res.status}`); e.status = res.status; throw e; }
  return body;
}

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

/* An SVG showing a region of a frame: the whole frame with the face boxed, or the face alone. */
function frameSvg(url, size, box, crop, label) {
  const [w, h] = size || [640, 480];
  let view = [0, 0, w, h];
  if (crop && box) {
    const side = Math.max(box[2], box[3]) * 1.7;
    const cx = box[0] + box[2] / 2, cy = box[1] + box[3] / 2;
    view = [cx - side / 2, cy - side / 2, side, side];
  }
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", view.join(" "));
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  const img = document.createElementNS(SVG, "image");
  img.setAttribute("href", url);
  img.setAttribute("width", w);
  img.setAttribute("height", h);
  svg.appendChild(img);
  if (box && !crop) {
    const r = document.createElementNS(SVG, "rect");
    ["x", "y", "width", "height"].forEach((k, i) => r.setAttribute(k, box[i]));
    r.setAttribute("class", "facebox");
    svg.appendChild(r);
  }
  return svg;
}

/* A score's percent, cut (never rounded up) to one decimal, as facelab.search.percent.shown
   prints it: a score shown at or above a threshold of one decimal matches it. */
function pct(x) { return `${(Math.floor(x * 10 + 1e-9) / 10).toFixed(1)} %`; }

/* A proportion as a percent, as facelab.lab.report.text.pct prints it (3 significant digits). */
function ratePct(x) {
  const v = 100 * x;
  if (v === 0) return "0 %";
  return v < 0.001 ? `${v.toExponential(1)} %` : `${Number(v.toPrecision(3))} %`;
}

/* ------------------------------------------------------------------ operator */

function operator() {
  let alerts = [], clock = null, start = null, timer = null, current = null, noFrames = null;
  const speed = () => Number($("#speed").value);

  function when(t) { return new Date(start.getTime() + t * 1000); }
  function fmt(d) { return d.toISOString().slice(0, 16).replace("T", " "); }

  function render() {
    const list = $("#queue");
    /* the list is rebuilt: a keyboard user's focus stays on the same alert */
    const focused = list.contains(document.activeElement) ? document.activeElement.dataset.id : null;
    list.replaceChildren();
    const shown = alerts.filter((a) => clock === null || a.t <= clock);
    for (const a of shown) {
      const li = el("li");
      const b = el("button", { type: "button", "data-id": a.id, class: `alert ${a.status}` });
      b.append(el("span", { class: "cam" }, a.camera), el("span", {}, a.time.replace("T", " ")),
               el("strong", {}, pct(a.percent)), el("span", { class: "status" }, a.status));
      if (current && current.id === a.id) b.setAttribute("aria-current", "true");
      b.addEventListener("click", () => show(a));
      li.appendChild(b);
      list.appendChild(li);
      if (focused === String(a.id)) b.focus();
    }
    $("#queue-count").textContent = `(${shown.filter((a) => a.status === "pending").length} pending of ${shown.length})`;
    $("#clock").textContent = clock === null ? "all" : fmt(when(clock));
  }

  function show(a) {
    current = a;
    $("#detail").hidden = false;
    $("#d-id").textContent = a.display_id;
    $("#detail").dataset.id = a.id;
    $("#d-camera").textContent = a.camera;
    $("#d-time").textContent = a.time.replace("T", " ");
    $("#d-time").setAttribute("datetime", a.time);
    $("#d-percent").textContent = pct(a.percent);
    $("#d-rank").textContent = a.rank;
    $("#d-status").textContent = a.status;
    $("#d-label").textContent = a.watch_label;
    const none = noFrames ? "no frame (embedding-mode run)" : "no frame kept";
    $("#d-frame").replaceChildren(a.frame_url ? frameSvg(a.frame_url, a.frame_size, a.box, false, `frame of ${a.camera}`) : el("p", { class: "noframe" }, none));
    $("#d-face").replaceChildren(a.frame_url ? frameSvg(a.frame_url, a.frame_size, a.box, true, "camera face") : el("p", { class: "noframe" }, none));
    /* no broken image: the photo is shown only where there is one */
    if (a.photo_url) { $("#d-photo").src = a.photo_url; } else { $("#d-photo").removeAttribute("src"); }
    $("#d-photo").hidden = !a.photo_url;
    $("#d-nophoto").hidden = !!a.photo_url;
    $("#d-nophoto").textContent = noFrames ? "no watchlist photo (embedding-mode run)" : "no watchlist photo kept";
    render();
  }

  async function load() {
    const q = await api("/api/queue");
    alerts = q.alerts;
    noFrames = q.no_frames;
    start = new Date(`${q.start}T00:00:00Z`);
    render();
    if (alerts.length && !current) show(alerts[0]);
  }

  function tick() {
    clock += speed() / 4;
    const last = alerts.length ? alerts[alerts.length - 1].t : 0;
    if (clock >= last) { stop(); }
    render();
  }
  function stop() { clearInterval(timer); timer = null; $("#play").setAttribute("aria-pressed", "false"); $("#play").textContent = "Play replay"; }
  $("#play").addEventListener("click", () => {
    if (timer) { stop(); return; }
    if (clock === null || (alerts.length && clock >= alerts[alerts.length - 1].t)) clock = alerts.length ? Math.floor(alerts[0].t / 86400) * 86400 : 0;
    timer = setInterval(tick, 250);
    $("#play").setAttribute("aria-pressed", "true");
    $("#play").textContent = "Pause replay";
  });
  $("#show-all").addEventListener("click", () => { stop(); clock = null; render(); });

  $("#review").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!current) return;
    const decision = ev.submitter ? ev.submitter.value : "confirmed";
    const reason = $("#reason").value;
    try {
      const a = await api(`/api/alerts/${current.id}/review`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ decision, reason, actor: actor(), expect: current.status }),
      });
      Object.assign(current, a);
      say(`alert ${a.display_id}: ${a.status} by ${a.reviewed_by}`);
      $("#reason").value = "";
      show(current);
    } catch (e) {
      say(e.message);
      if (e.status === 409) await load();
    }
  });
  /* Several reviewers at once (a class on a LAN): the queue is fetched again every
     QUEUE_POLL_MS while the page is visible, so each sees the others' decisions. */
  async function refresh() {
    if (document.hidden || !start) return;
    try {
      const q = await api("/api/queue");
      alerts = q.alerts;
      const now = current && alerts.find((a) => a.id === current.id);
      if (now && now.status !== current.status) say(`alert ${now.display_id}: now ${now.status} by ${now.reviewed_by}`);
      if (now) { current = now; $("#d-status").textContent = now.status; }
      render();
    } catch (e) { say(e.message); }
  }
  setInterval(refresh, QUEUE_POLL_MS);
  load().catch((e) => say(e.message));
}

/* ------------------------------------------------------------------ threshold */

/* A small line chart in an SVG of viewBox 320x200: points (x, y) in data units, one marked. */
function chart(svg, xs, ys, xmax, ymax, mark, xlabel, ylabel) {
  const L = 40, R = 310, T = 10, B = 170;
  const px = (x) => L + (R - L) * (x / (xmax || 1));
  const py = (y) => B - (B - T) * (y / (ymax || 1));
  const node = (tag, attrs, text) => {
    const n = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    return n;
  };
  svg.replaceChildren(
    node("line", { x1: L, y1: B, x2: R, y2: B, class: "axis" }),
    node("line", { x1: L, y1: T, x2: L, y2: B, class: "axis" }),
    node("text", { x: (L + R) / 2, y: 195, "text-anchor": "middle" }, xlabel),
    node("text", { x: 12, y: (T + B) / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${(T + B) / 2})` }, ylabel),
    node("text", { x: L - 4, y: T + 8, "text-anchor": "end" }, String(ymax)),
    node("text", { x: R, y: B + 14, "text-anchor": "end" }, String(xmax)),
  );
  const pts = xs.map((x, i) => [x, ys[i]]).filter(([x, y]) => x !== null && y !== null);
  svg.appendChild(node("polyline", { points: pts.map(([x, y]) => `${px(x)},${py(y)}`).join(" "), class: "curve" }));
  if (mark && mark[0] !== null && mark[1] !== null) {
    if (mark[2] === "line") svg.appendChild(node("line", { x1: px(mark[0]), y1: T, x2: px(mark[0]), y2: B, class: "marker" }));
    else svg.appendChild(node("circle", { cx: px(mark[0]), cy: py(mark[1]), r: 5, class: "marker" }));
  }
}

/* FPIR (0-1, up) against watchlist size (log scale, right), as the report's figure: the
   report's thresholds thin, the extrapolation from the 1:1 FMR dashed, the slider's threshold
   thick with dots, and this run's watchlist size a dotted line with the slider's point marked. */
function watchlistChart(svg, d) {
  const L = 40, R = 310, T = 10, B = 170;
  const xmax = Math.max(d.watchlist_size, ...(d.extrapolated ? d.extrapolated.sizes : [1]), 2);
  const px = (n) => L + (R - L) * (Math.log10(n) / Math.log10(xmax));
  const py = (y) => B - (B - T) * y;
  const node = (tag, attrs, text) => {
    const n = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    return n;
  };
  const line = (xs, ys, cls) => {
    const pts = xs.map((x, i) => [x, ys[i]]).filter(([, y]) => y !== null);
    return node("polyline", { points: pts.map(([x, y]) => `${px(x)},${py(y)}`).join(" "), class: cls });
  };
  svg.replaceChildren(
    node("line", { x1: L, y1: B, x2: R, y2: B, class: "axis" }),
    node("line", { x1: L, y1: T, x2: L, y2: B, class: "axis" }),
    node("text", { x: (L + R) / 2, y: 195, "text-anchor": "middle" }, "watchlist size (log)"),
    node("text", { x: 12, y: (T + B) / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${(T + B) / 2})` }, "FPIR"),
    node("text", { x: L - 4, y: T + 8, "text-anchor": "end" }, "1"),
    node("text", { x: L, y: B + 14, "text-anchor": "middle" }, "1"),
    node("text", { x: R, y: B + 14, "text-anchor": "end" }, String(xmax)),
  );
  if (!d.sizes.length) return;
  const wx = px(d.watchlist_size);
  svg.appendChild(node("line", { x1: wx, y1: T, x2: wx, y2: B, class: "runsize" }));
  svg.appendChild(node("text", { x: wx, y: T + 8, "text-anchor": wx > R - 40 ? "end" : "middle", class: "runsize" }, `this run: ${d.watchlist_size}`));
  for (const r of d.reference) svg.appendChild(line(d.sizes, r.fpir, "curve reference"));
  if (d.extrapolated) svg.appendChild(line(d.extrapolated.sizes, d.extrapolated.fpir, "curve extrapolated"));
  svg.appendChild(line(d.sizes, d.fpir, "curve current"));
  d.sizes.forEach((n, i) => {
    if (d.fpir[i] !== null) svg.appendChild(node("circle", { cx: px(n), cy: py(d.fpir[i]), r: 2.5, class: "point" }));
  });
  const last = d.fpir[d.fpir.length - 1];
  if (last !== null) svg.appendChild(node("circle", { cx: wx, cy: py(last), r: 5, class: "marker" }));
  svg.setAttribute("aria-label", `FPIR against watchlist size at ${d.percent} %: ` +
    d.sizes.map((n, i) => `${n} entries ${d.fpir[i] === null ? "undefined" : ratePct(d.fpir[i])}`).join(", "));
}

/* A small rate: "0.017 % (1 in 5,882)" for a rare event, "89 %" for a common one. */
function smallRate(x) {
  if (x === null || x === undefined) return "–";
  if (x === 0) return "0 %";
  const shown = ratePct(x);
  return x < 0.01 ? `${shown} (1 in ${Math.round(1 / x).toLocaleString("en")})` : shown;
}

function threshold() {
  let pending = null, curve = null, hasGroups = null;
  /* The selected mapping option: a facelab mapping, or a system profile read with its own
     percent rule (data-mapping) for the run's figures. */
  const choice = () => $("#mapping").selectedOptions[0];
  const mapping = () => choice().dataset.mapping || $("#mapping").value;
  const profile = () => choice().dataset.profile || null;
  async function loadCurve() {
    const reveal = $("#reveal").checked;
    curve = await api(`/api/curve?mapping=${encodeURIComponent(mapping())}${reveal ? "&reveal=1" : ""}`);
  }
  function showProfile(d) {
    $("#pr-name").textContent = `${d.profile} v${d.version}`;
    const score = d.score === null ? null : (typeof d.score === "number" ? `a score of ${d.score.toFixed(3)} or above` : (d.score === "-inf" ? "any score" : "no score"));
    $("#pr-scale").textContent = score === null
      ? `${d.title}. This profile has no operator percent (${d.scale.description}), so ${d.percent} % means nothing on its scale; see facelab profile predict ${d.profile} --fpir.`
      : `${d.title}. ${d.percent} % shown by this system means ${score} (${d.scale.unit}; ${d.scale.description}).`;
    $("#pr-caption").textContent = d.rows.length
      ? `Predicted by the profile's score model for a watchlist of ${d.watchlist_size.toLocaleString("en")} entries (this run's) at that threshold.`
      : (d.note ? `At ${d.percent} % ${d.note}.` : "No prediction at a percent for this profile.");
    $("#pr-table tbody").replaceChildren(...d.rows.map((r) => {
      const tr = el("tr");
      tr.append(el("th", { scope: "row" }, r.condition), el("td", { "data-value": r.fpir }, smallRate(r.fpir)),
                el("td", { "data-value": r.tpir }, smallRate(r.tpir)));
      return tr;
    }));
    $("#pr-table").hidden = !d.rows.length;
    $("#pr-none").textContent = d.rows.length ? "" : $("#pr-caption").textContent;
    $("#pr-none").hidden = !!d.rows.length;
    $("#pr-note").textContent = `${d.label}: these rates come from ${d.profile}'s published operating points, not from this run's searches. The run's own figures above read its SFace scores with the ${mapping()} mapping.`;
    $("#profile").dataset.percent = d.percent;
    $("#profile").dataset.profile = d.profile;
  }
  function drawCharts() {
    if (!curve) return;
    const p = Number($("#percent").value), i = curve.percent.indexOf(p);
    const amax = Math.max(1, ...curve.alerts);
    chart($("#chart-alerts"), curve.percent, curve.alerts, 100, amax, [p, 0, "line"], "threshold %", "alerts");
    if (curve.revealed) {
      chart($("#chart-det"), curve.fpir, curve.fnir, 1, 1, i >= 0 ? [curve.fpir[i], curve.fnir[i]] : null, "FPIR", "FNIR");
    }
  }
  const fmtRate = (r) => r && r.total ? `${r.count} of ${r.total} (${ratePct(r.value)})` : "–";
  /* People's own review decisions beside the reviewer model's on the same alerts (truth). */
  function showAgreement(a) {
    const m = a.review;
    $("#hm-summary").textContent = a.compared
      ? `People and the model agreed on ${a.agree} of ${a.compared} alerts people decided (both confirmed ${a.both_confirmed}, both rejected ${a.both_rejected}; only people confirmed ${a.people_only_confirmed}, only the model ${a.model_only_confirmed}). The model: ${m.seconds_per_alert} s per alert, confirming ${Math.round(100 * m.p_confirm_true)} % of alerts on the right person and ${Math.round(100 * m.p_confirm_false)} % on someone else.`
      : "No alert has been confirmed or rejected yet: decide some in the operator view.";
    const rows = [["Alerts confirmed", "confirmed"], ["Innocent people stopped (confirmed, wrong person)", "confirmed_false"],
                  ["Wanted people let go (rejected, right person)", "rejected_true"]];
    $("#hm-table tbody").replaceChildren(...rows.map(([label, k]) => {
      const tr = el("tr");
      tr.append(el("th", { scope: "row" }, label), el("td", {}, String(a.people[k])), el("td", {}, String(a.model[k])));
      return tr;
    }));
    $("#hm-table").hidden = !a.compared;
    $("#humans").dataset.decided = a.decided;
  }
  async function loadAgreement() {
    if (!$("#reveal").checked) return;
    showAgreement(await api("/api/review-agreement?reveal=1"));
  }
  /* Per-group rates and stops at the slider's threshold (runs with measured groups, truth). */
  function showGroups(g) {
    $("#gr-what").textContent = `Groups: ${g.what_groups_are}.`;
    $("#gr-table tbody").replaceChildren(...g.rows.map((r) => {
      const tr = el("tr");
      tr.append(el("th", { scope: "row" }, r.group), el("td", {}, fmtRate(r.fpir)), el("td", {}, fmtRate(r.fmr_within)),
                el("td", {}, fmtRate(r.fnir)), el("td", {}, String(r.innocent_stops)),
                el("td", {}, `${r.wanted_missed} of ${r.wanted_seen}`));
      return tr;
    }));
    const d = g.differential;
    $("#gr-diff").textContent = d.fmr_ratio === null
      ? "Highest over lowest same-group false-match rate: no ratio (no false match, or one group)."
      : `Highest over lowest same-group false-match rate: ${d.high_group} / ${d.low_group} = ${d.fmr_ratio.toFixed(2)} (95 % interval ${d.lo.toFixed(2)}–${d.hi.toFixed(2)}, ${d.significant ? "significant" : "not significant"}).`;
    $("#groups").dataset.percent = g.percent;
  }
  function hours(h) { return h < 1 ? `${(h * 60).toFixed(1)} min` : `${h.toFixed(2)} h`; }
  async function update() {
    const p = $("#percent").value;
    const reveal = $("#reveal").checked;
    $("#percent-out").textContent = `${p} %`;
    const url = `/api/threshold?percent=${p}&mapping=${encodeURIComponent(mapping())}${reveal ? "&reveal=1" : ""}`;
    try {
      const d = await api(url);
      if (String(d.percent) !== String(Number($("#percent").value))) return; /* a later move won */
      $("#f-alerts").textContent = d.alerts;
      $("#f-review").textContent = hours(d.review_hours);
      $("#f-cosine").textContent = typeof d.cosine === "number" ? d.cosine.toFixed(4) : d.cosine;
      $("#mapping-desc").textContent = `${d.mapping}: ${d.mapping_description}`;
      document.querySelectorAll(".truth").forEach((n) => { n.hidden = !d.revealed; });
      if (d.revealed) {
        $("#f-false").textContent = `${d.false_alerts} of ${d.alerts}`;
        $("#f-fpir").textContent = fmtRate(d.fpir);
        $("#f-fnir").textContent = fmtRate(d.fnir);
        $("#f-missed").textContent = `${d.wanted_missed.count} of ${d.wanted_missed.total}`;
      }
      drawCharts();
      const name = profile();
      $("#profile").hidden = !name;
      if (name) {
        const pr = await api(`/api/profile?name=${encodeURIComponent(name)}&percent=${p}`);
        if (String(pr.percent) !== String(Number($("#percent").value)) || pr.profile !== profile()) return;
        showProfile(pr);
      }
      if (d.revealed) {
        const w = await api(url.replace("/api/threshold?", "/api/fpir-watchlist?"));
        if (String(w.percent) !== String(Number($("#percent").value))) return;
        watchlistChart($("#chart-watchlist"), w);
        $("#chart-watchlist").dataset.percent = w.percent;
      }
      if (d.revealed && hasGroups !== false) {
        const g = await api(url.replace("/api/threshold?", "/api/groups?"));
        hasGroups = g.has_groups;
        if (String(g.percent) !== String(Number($("#percent").value))) return;
        if (hasGroups) showGroups(g);
      }
      $("#groups").hidden = !(d.revealed && hasGroups);
      $("#figures").dataset.percent = d.percent;
    } catch (e) { say(e.message); }
  }
  const soon = () => { clearTimeout(pending); pending = setTimeout(update, 60); };
  const reload = () => loadCurve().then(update).then(loadAgreement).catch((e) => say(e.message));
  $("#percent").addEventListener("input", soon);
  $("#mapping").addEventListener("change", reload);
  $("#reveal").addEventListener("change", reload);
  reload();
}

/* ------------------------------------------------------------------ search */

/* Hits grouped by camera (cameras in the order they first saw the person), each camera's hits
   in time order, each with its frame and the face boxed as in the operator view. */
function showHits(r) {
  $("#s-noframes").textContent = r.no_frames || "";
  $("#s-noframes").hidden = !r.no_frames;
  const cams = new Map();
  for (const h of [...r.hits].sort((a, b) => a.t - b.t)) {
    if (!cams.has(h.camera)) cams.set(h.camera, []);
    cams.get(h.camera).push(h);
  }
  const groups = [];
  for (const [camera, hs] of cams) {
    const sec = el("section", { class: "camera", "aria-label": `camera ${camera}` });
    sec.append(el("h2", {}, `${camera} · ${hs[0].station} · ${hs.length} ${hs.length === 1 ? "hit" : "hits"}`));
    const ol = el("ol", { class: "hits" });
    for (const h of hs) {
      const li = el("li", { class: "hit", "data-sighting": h.sighting });
      const when = h.time.replace("T", " ");
      const fig = el("figure");
      if (h.frame_url) fig.append(frameSvg(h.frame_url, h.frame_size, h.box, false, `frame of ${h.camera} at ${when}, the face boxed`));
      else fig.append(el("p", { class: "noframe" }, r.no_frames ? "no frame (embedding-mode run)" : "no frame kept for this sighting"));
      const cap = el("figcaption");
      cap.append(el("time", { datetime: h.time }, when), " · ", el("strong", {}, pct(h.percent)), ` · rank ${h.rank}`);
      fig.append(cap);
      li.append(fig);
      ol.append(li);
    }
    sec.append(ol);
    groups.push(sec);
  }
  $("#hits").replaceChildren(...groups);
}

function search() {
  api("/api/people").then((d) => {
    for (const p of d.people) {
      const name = p.label ? `${p.label} (person ${p.person}, watchlisted)` : `person ${p.person}`;
      $("#person").appendChild(el("option", { value: p.person }, `${name}, ${p.fr_passes} FR passes`));
    }
  }).catch((e) => say(e.message));
  $("#search").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = new FormData($("#search"));
    form.set("actor", actor());
    if (!$("#photo").files.length) form.delete("photo"); else form.delete("person");
    $("#s-error").hidden = true;
    $("#hits").replaceChildren();
    $("#s-summary").textContent = "searching…";
    try {
      const r = await api("/api/search", { method: "POST", body: form });
      $("#s-summary").textContent = `${r.window}. ${r.summary}`;
      showHits(r);
    } catch (e) {
      $("#s-summary").textContent = "";
      $("#s-error").textContent = e.message;
      $("#s-error").hidden = false;
    }
  });
}

/* ------------------------------------------------------------------ retention */

function retentionView() {
  async function load() {
    const d = await api("/api/retention");
    $("#r-window").textContent = d.window || "empty";
    $("#r-policy").textContent = Object.entries(d.policy).map(([k, v]) => `${k} ${v}`).join(", ") || "none";
  }
  $("#purge").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("#r-error").hidden = true;
    try {
      const r = await api("/api/retention/purge", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ reason: $("#p-reason").value, actor: actor() }),
      });
      $("#p-report").textContent = r.lines.join("\n");
      $("#p-report").hidden = false;
      await load();
    } catch (e) { $("#r-error").textContent = e.message; $("#r-error").hidden = false; }
  });
  $("#verify").addEventListener("click", async () => {
    $("#v-result").textContent = "verifying…";
    try {
      const v = await api("/api/retention/verify");
      $("#v-result").textContent = v.ok ? "retention verify OK" : "retention verify FAILED";
      $("#v-checks").replaceChildren(...v.checks.map((c) => el("li", { class: c.ok ? "ok" : "fail" }, `${c.ok ? "ok" : "FAIL"} ${c.name}: ${c.detail}`)));
    } catch (e) { $("#v-result").textContent = e.message; }
  });
  load().catch((e) => say(e.message));
}

const VIEWS = { operator, threshold, search, retention: retentionView };
document.addEventListener("DOMContentLoaded", () => {
  const saved = localStorage.getItem("facelab-actor");
  if (saved) $("#actor").value = saved;
  $("#actor").addEventListener("change", () => localStorage.setItem("facelab-actor", actor()));
  VIEWS[document.body.dataset.view]();
});
