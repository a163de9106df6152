// The page of `clipground serve`: search a library, match or align one video, watch the moment.
// Plain JavaScript, no build step and no dependency; it talks only to the JSON API beside it.
"use strict";

/* ------------------------------------------------------------------ connection */

// A server bound to a non-loopback address wants a token; the page is opened with `?token=`.
const TOKEN = new URLSearchParams(window.location.search).get("token");

/** A URL of the API, relative to the page so that the app also works behind a path prefix. */
function apiUrl(path, params = []) {
  const url = new URL(path, document.baseURI);
  for (const [key, value] of params) url.searchParams.append(key, String(value));
  return url;
}

/** A URL that the browser fetches by itself (<video>, <img>, a download): no header can be added,
 * so the token rides in the query string. */
function loadUrl(path, params = []) {
  const url = apiUrl(path, params);
  if (TOKEN) url.searchParams.set("token", TOKEN);
  return url.toString();
}

class ApiError extends Error {}

// A 401 most often means the page was opened without the token: say where the right link is.
const UNAUTHORISED_HINT = " (open the page through the link that `clipground serve` printed: it ends in ?token=…)";

/** Fetch JSON from the API: {body, headers}; a 4xx/5xx becomes an ApiError carrying the
 * server's one-line message. */
async function fetchApi(path, params = [], init = {}) {
  const headers = new Headers(init.headers || {});
  if (TOKEN) headers.set("Authorization", `Bearer ${TOKEN}`);
  let response;
  try {
    response = await fetch(apiUrl(path, params), { ...init, headers });
  } catch (err) {
    throw new ApiError(`cannot reach the server (${err.message})`);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    let message = body && body.error ? body.error.message : `${response.status} ${response.statusText}`;
    if (response.status === 401) message += UNAUTHORISED_HINT;
    throw new ApiError(message);
  }
  return { body, headers: response.headers };
}

async function fetchJson(path, params = [], init = {}) {
  return (await fetchApi(path, params, init)).body;
}

/* ------------------------------------------------------------------ formatting */

/** Seconds as m:ss.s (h:mm:ss.s from an hour on), rounded to a tenth first so that 59.96 s
 * reads 1:00.0, not 0:60.0. */
function clock(seconds) {
  const tenths = Math.round(Math.max(0, seconds) * 10);
  const hours = Math.floor(tenths / 36000);
  const minutes = Math.floor((tenths % 36000) / 600);
  const rest = ((tenths % 600) / 10).toFixed(1).padStart(4, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

function timeRange(startS, endS) {
  return `${clock(startS)} – ${clock(endS)}`;
}

function baseName(path) {
  return String(path).split(/[\\/]/).pop();
}

/** Sentences of a query box: one a line, blank lines dropped. */
function sentencesOf(text) {
  return text.split(/\r?\n/).map((line) => line.trim()).filter(Boolean);
}

/** Colours of a span's sentences (Okabe–Ito, readable by colour-blind people; yellow left out
 * because it vanishes on white). */
const PALETTE = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#56b4e9", "#e69f00", "#4b4b4b"];
const sentenceColour = (i) => PALETTE[i % PALETTE.length];
const ACCENT = "#1d4ed8"; // the moment and its curve, as in the stylesheet

/** Text on a coloured bar: whichever of dark ink and white contrasts more with it (WCAG). */
function inkOn(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
  const linear = (c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
  const luminance = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  const onWhite = 1.05 / (luminance + 0.05);
  const onInk = (luminance + 0.05) / 0.064; // the ink, #1b1f27, has a luminance of 0.014
  return onInk > onWhite ? "#1b1f27" : "#ffffff";
}

/** A DOM element with attributes and children, so rendering code reads like the markup. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "style") Object.assign(el.style, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined));
  return el;
}

const $ = (id) => document.getElementById(id);

/* ------------------------------------------------------------------ messages */

function showError(err) {
  $("error-text").textContent = err instanceof Error ? err.message : String(err);
  $("error").hidden = false;
}

function clearError() {
  $("error").hidden = true;
}

function setStatus(id, text) {
  $(id).textContent = text;
}

/** Run a request for a form: button disabled and status shown meanwhile, errors in the banner. */
async function busy(form, statusId, label, task) {
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  clearError();
  setStatus(statusId, label);
  try {
    await task();
  } catch (err) {
    setStatus(statusId, "");
    showError(err);
  } finally {
    button.disabled = false;
  }
}

/* ------------------------------------------------------------------ the library */

const library = {
  videos: [], // as /api/videos lists them
  jobs: new Map(), // video id -> its embedding job
  selectedId: null, // the video of the "One video" view
};

function videoById(id) {
  return library.videos.find((v) => v.id === id) || null;
}

function videoByPath(path) {
  return library.videos.find((v) => v.path === path) || null;
}

async function loadVideos() {
  library.videos = await fetchJson("api/videos");
  renderVideoList();
  renderLibrarySummary();
}

function renderLibrarySummary() {
  const total = library.videos.length;
  const embedded = library.videos.filter((v) => v.embedded).length;
  const noun = total === 1 ? "video" : "videos";
  $("library-summary").textContent =
    embedded === total ? `${total} ${noun}` : `${total} ${noun} · ${embedded} embedded`;
}

/** The badge of a video in the picker: embedded, or its job's state. */
function badgeFor(video) {
  const job = library.jobs.get(video.id);
  if (video.embedded || (job && job.state === "done")) return ["embedded", "embedded"];
  if (!job) return ["not embedded", "pending"];
  if (job.state === "embedding") return [`embedding ${percent(job)}`, "pending"];
  if (job.state === "failed") return ["failed", "failed"];
  return ["queued", "pending"];
}

function renderVideoList() {
  const filter = $("video-filter").value.trim().toLowerCase();
  const shown = library.videos.filter((v) => v.path.toLowerCase().includes(filter));
  if (!library.selectedId && library.videos.length) library.selectedId = library.videos[0].id;
  $("video-list").replaceChildren(...shown.map(videoItem));
  if (!shown.length) $("video-list").append(h("p", { class: "muted" }, "No video matches."));
}

/** Another video: the answers shown are about the previous one, so they go. */
function selectVideo(id) {
  library.selectedId = id;
  for (const result of ["match-result", "align-result"]) $(result).replaceChildren();
  for (const status of ["match-status", "align-status"]) setStatus(status, "");
}

function videoItem(video) {
  const [label, kind] = badgeFor(video);
  const input = h("input", {
    type: "radio", name: "video", value: video.id, checked: video.id === library.selectedId,
    onchange: () => selectVideo(video.id),
  });
  return h("label", { class: "video-item", title: video.path },
    input,
    h("span", { class: "video-name" }, baseName(video.path)),
    h("span", { class: "video-duration muted" }, video.duration_s != null ? clock(video.duration_s) : ""),
    h("span", { class: `badge badge-${kind}` }, label));
}

/* ------------------------------------------------------------------ background embedding */

const POLL_MS = 1000;
const POLL_RETRY_MS = 5000;

function percent(job) {
  if (!job.frames_total) return "";
  return `${Math.floor((100 * job.frames_done) / job.frames_total)}%`;
}

const isActive = (job) => job.state === "queued" || job.state === "embedding";

/** Poll /api/jobs every second while a video is queued or embedding; stop when none is, so an
 * idle page makes no requests. A video that finished refreshes the list (its badge, duration). */
async function pollJobs() {
  let jobs;
  try {
    jobs = await fetchJson("api/jobs");
  } catch (err) {
    showError(err);
    window.setTimeout(pollJobs, POLL_RETRY_MS); // the server may be restarting
    return;
  }
  const finished = jobs.some((job) => job.state === "done" && !(videoById(job.video) || {}).embedded);
  library.jobs = new Map(jobs.map((job) => [job.video, job]));
  renderJobs(jobs);
  if (finished) await loadVideos().catch(showError);
  else renderVideoList();
  if (jobs.some(isActive)) window.setTimeout(pollJobs, POLL_MS);
}

function renderJobs(jobs) {
  const shown = jobs.filter((job) => isActive(job) || job.state === "failed");
  $("jobs").hidden = shown.length === 0;
  $("jobs-title").textContent = jobs.some(isActive)
    ? `Embedding videos (${jobs.filter((j) => j.state === "done").length} of ${jobs.length} done)`
    : "Some videos could not be embedded";
  $("jobs-list").replaceChildren(...shown.map(jobItem));
}

function jobItem(job) {
  const video = videoById(job.video);
  const name = video ? baseName(video.path) : job.video;
  const progress = h("progress", { max: job.frames_total || 1, value: job.frames_done || 0,
                                   "aria-label": `${name} embedding progress` });
  if (!job.frames_total && job.state === "embedding") progress.removeAttribute("value"); // indeterminate
  let detail = "queued";
  if (job.state === "embedding") detail = job.frames_total ? `${job.frames_done} / ${job.frames_total} frames` : `${job.frames_done} frames`;
  if (job.state === "failed") detail = job.error || "failed";
  return h("li", { class: `job job-${job.state}` },
    h("span", { class: "job-name", title: video ? video.path : "" }, name),
    job.state === "failed" ? null : progress,
    h("span", { class: "job-detail muted" }, detail));
}

/* ------------------------------------------------------------------ tabs */

/** Tabs as the WAI-ARIA pattern has them: one tab in the tab order, arrow keys move along. */
function setupTabs(tabs, onSelect) {
  const select = (tab) => {
    for (const other of tabs) {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.tabIndex = selected ? 0 : -1;
      $(other.getAttribute("aria-controls")).hidden = !selected;
    }
    if (onSelect) onSelect(tab);
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(i + step + tabs.length) % tabs.length];
      next.focus();
      select(next);
    });
  });
}

/* ------------------------------------------------------------------ search a library */

/** The options of a form that the API takes as query parameters; empty fields are left to the
 * server's defaults. */
function formParams(form, names) {
  const data = new FormData(form);
  return names.filter((name) => data.get(name)).map((name) => [name, data.get(name)]);
}

function queryParams(sentences) {
  return sentences.map((s) => ["text", s]);
}

async function runSearch(event) {
  event.preventDefault();
  const form = event.target;
  const sentences = sentencesOf($("search-text").value);
  if (!sentences.length) return;
  await busy(form, "search-status", "Searching…", async () => {
    const params = [...queryParams(sentences), ...formParams(form, ["top_k", "objective", "min_len", "max_len"])];
    const { body: hits, headers } = await fetchApi("api/search", params);
    if (hits.some((hit) => !videoByPath(hit.video))) await loadVideos(); // a video new since load
    renderResults(hits, sentences);
    renderWarnings(JSON.parse(headers.get("X-Clipground-Warnings") || "[]"));
  });
}

/** Videos the search left out (too short for the options, failed to embed): the CLI warns on
 * stderr, the server in a header; the page lists them under the results' count. */
function renderWarnings(warnings) {
  const noun = warnings.length === 1 ? "video was" : "videos were";
  $("search-warnings").hidden = !warnings.length;
  $("search-warnings").replaceChildren(
    h("summary", {}, `${warnings.length} ${noun} left out`),
    h("ul", {}, warnings.map((w) => h("li", {}, w))));
}

function renderResults(hits, sentences) {
  const pending = [...library.jobs.values()].filter(isActive).length;
  const found = hits.length === 1 ? "1 moment" : hits.length ? `${hits.length} moments` : "No moment found";
  const waiting = pending === 1 ? "1 video still embedding" : `${pending} videos still embedding`;
  setStatus("search-status", pending ? `${found} (${waiting})` : found);
  $("results").replaceChildren(...hits.map((hit) => resultCard(hit, hits, sentences)));
}

const THUMBS_PER_CARD = 4;

/** Thumbnails spread over the moment: the middle of each quarter, so that none sits on a cut. */
function thumbTimes(startS, endS) {
  const step = (endS - startS) / THUMBS_PER_CARD;
  return Array.from({ length: THUMBS_PER_CARD }, (_, i) => startS + (i + 0.5) * step);
}

function resultCard(hit, hits, sentences) {
  const video = videoByPath(hit.video);
  const name = baseName(hit.video);
  const strip = video
    ? thumbTimes(hit.start_s, hit.end_s).map((t) =>
        h("img", { src: loadUrl("api/frame", [["video", video.id], ["t", t.toFixed(2)], ["width", 160]]),
                   alt: "", loading: "lazy", width: 160, height: 90 }))
    : [];
  const card = h("button", {
    type: "button", class: "card", disabled: !video,
    "aria-label": `Play ${name} from ${clock(hit.start_s)} to ${clock(hit.end_s)}, score ${hit.score.toFixed(3)}`,
    onclick: () => playHit(card, hit, hits, sentences, video),
  },
  h("span", { class: "strip" }, strip),
  h("span", { class: "card-meta" },
    h("span", { class: "rank" }, `#${hit.rank}`),
    h("span", { class: "card-name", title: hit.video }, name),
    h("span", { class: "range" }, timeRange(hit.start_s, hit.end_s)),
    h("span", { class: "score" }, `score ${hit.score.toFixed(3)}`)));
  return h("li", {}, card);
}

/** Play a search hit; the other hits in the same video are its "other candidates". */
function playHit(card, hit, hits, sentences, video) {
  markCurrent($("results"), card);
  const candidates = hits.filter((other) => other.video === hit.video)
    .map((other) => ({ start_s: other.start_s, end_s: other.end_s, label: `#${other.rank}` }));
  openMoment({ video, startS: hit.start_s, endS: hit.end_s, sentences, candidates, windows: [] });
}

/** Mark which card or list entry is playing (aria-current, for screen readers and the CSS). */
function markCurrent(container, element) {
  for (const el of container.querySelectorAll("[aria-current]")) el.removeAttribute("aria-current");
  element.setAttribute("aria-current", "true");
}

/** Enter submits the query box; Shift+Enter starts another sentence of a span. */
function submitOnEnter(textarea) {
  textarea.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    textarea.form.requestSubmit();
  });
}

/* ------------------------------------------------------------------ the player */

const player = {
  moment: null, // what openMoment was given
  bounded: false, // stop (or loop) at the moment's end; false once the user seeks outside it
  curve: null, // the /api/curve answer for the moment's query
  geometry: null, // where the curve's plot lies on the canvas, for the playhead and clicks
  frame: 0, // the requestAnimationFrame handle of the playhead loop
  lastS: 0, // the playback time at the previous animation frame
};

const videoEl = () => $("video");

/** Show a moment: load its video if another is playing, seek to its start, play, draw its curve.
 *  moment: {video, startS, endS, sentences (the query), candidates [{start_s, end_s, label}],
 *           windows [{start_s, end_s, label, colour}] (a span's sentences, an alignment),
 *           colour (optional: the curve's and the shading's, e.g. an aligned sentence's)}. */
function openMoment(moment) {
  player.moment = moment;
  $("player-empty").hidden = true;
  $("player-body").hidden = false;
  $("player-title").textContent = baseName(moment.video.path);
  $("player-title").title = moment.video.path;
  $("player-range").textContent = timeRange(moment.startS, moment.endS);
  $("export").href = loadUrl("api/export", [["video", moment.video.id],
    ["start_s", moment.startS], ["end_s", moment.endS]]);
  playMoment();
  loadCurve(moment).catch(showError);
  revealPlayer();
}

/** On a narrow screen the player sits below the lists: bring it into view, or a click on a
 * card would seem to do nothing. */
function revealPlayer() {
  const box = $("player").getBoundingClientRect();
  if (box.top > window.innerHeight * 0.6 || box.bottom < 0) {
    $("player").scrollIntoView({ behavior: "smooth", block: "start" });
  }
}

function playMoment() {
  const el = videoEl();
  const src = loadUrl(`media/${encodeURIComponent(player.moment.video.id)}`);
  if (el.dataset.src !== src) {
    el.dataset.src = src;
    el.src = src;
  }
  player.bounded = true;
  whenReady(el, () => {
    el.currentTime = player.moment.startS;
    player.lastS = player.moment.startS;
    // Autoplay may be refused (no user gesture): the controls are there to press play.
    el.play().catch(() => {});
  });
}

/** Run `action` once the video knows its duration (seeking before that is ignored). */
function whenReady(el, action) {
  if (el.readyState >= HTMLMediaElement.HAVE_METADATA) action();
  else el.addEventListener("loadedmetadata", action, { once: true });
}

/** Keep playback inside the moment: at its end, stop there or loop back to its start. Checked
 * every animation frame, not on `timeupdate` (4 Hz), so it stops within a frame of the end. Only
 * playback running across the end counts: a seek past it (whose `seeking` event may come after
 * this frame) is the user looking elsewhere. */
function keepInWindow(el, previousS) {
  const m = player.moment;
  const t = el.currentTime;
  const crossed = previousS < m.endS && t >= m.endS && t - previousS < 0.5;
  if (!player.bounded || el.paused || !crossed) return;
  if ($("loop").checked) {
    el.currentTime = m.startS;
  } else {
    el.pause();
    el.currentTime = m.endS;
  }
}

/** A seek that leaves the moment frees playback from it: the user wants to look elsewhere. */
function onSeeking() {
  const m = player.moment;
  if (!m) return;
  const t = videoEl().currentTime;
  if (t < m.startS - 0.05 || t > m.endS + 0.05) player.bounded = false;
}

/** The window check and the playheads, for the time the video is at now. */
function followPlayback() {
  const el = videoEl();
  if (player.moment) keepInWindow(el, player.lastS);
  player.lastS = el.currentTime;
  drawPlayheads(el.currentTime);
}

/** While playing, follow playback in step with the screen. */
function animate() {
  followPlayback();
  player.frame = videoEl().paused ? 0 : window.requestAnimationFrame(animate);
}

function startAnimation() {
  if (!player.frame) player.frame = window.requestAnimationFrame(animate);
}

function setupPlayer() {
  const el = videoEl();
  el.addEventListener("play", startAnimation);
  el.addEventListener("seeking", onSeeking);
  // Also on `timeupdate`: a paused seek must move the playheads, and a hidden tab gets no
  // animation frames but must still stop at the moment's end.
  el.addEventListener("timeupdate", () => { followPlayback(); updateSliderValue(el.currentTime); });
  el.addEventListener("error", () => showError("the browser cannot play this video"));
  // A video the browser cannot play is transcoded on its first request: say why nothing moves.
  for (const name of ["loadstart", "waiting"]) {
    el.addEventListener(name, () => { $("player-status").textContent = "Loading the video…"; });
  }
  for (const name of ["canplay", "playing", "error", "emptied"]) {
    el.addEventListener(name, () => { $("player-status").textContent = ""; });
  }
  $("replay").addEventListener("click", () => player.moment && playMoment());
  setupCurveInput($("curve"));
  new ResizeObserver(() => drawCurve()).observe($("curve"));
}

/* ------------------------------------------------------------------ the similarity curve */

const curveCache = new Map(); // "id\nsentence\n..." -> /api/curve answer

async function loadCurve(moment) {
  const key = [moment.video.id, ...moment.sentences].join("\n");
  if (!curveCache.has(key)) {
    curveCache.set(key, await fetchJson("api/curve",
      [["video", moment.video.id], ...queryParams(moment.sentences)]));
  }
  if (player.moment !== moment) return; // another moment was opened meanwhile
  player.curve = curveCache.get(key);
  drawCurve();
  describeCurve(moment);
}

const PLOT_HEIGHT = 120; // the curve itself; lanes and the time axis add to it
const LANE_HEIGHT = 13; // one row of candidate brackets
const PAD = { left: 44, right: 12, top: 24, axis: 20 }; // top: the sentence windows' bar

/** The duration the curve spans: the server's, else the video element's. */
function curveDuration() {
  if (player.curve && player.curve.duration_s) return player.curve.duration_s;
  return Number.isFinite(videoEl().duration) ? videoEl().duration : 0;
}

/** Draw the curve, the moment shaded, candidates and sentence windows marked; resolution-aware. */
function drawCurve() {
  const canvas = $("curve");
  const curve = player.curve;
  const width = canvas.clientWidth;
  if (!curve || !width || !player.moment) return;
  const g = geometry(width, curveDuration(), curveRows(curve, player.moment), candidateLanes(player.moment.candidates));
  const ratio = window.devicePixelRatio || 1;
  canvas.style.height = `${g.height}px`;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(g.height * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, g.height);
  player.geometry = g;
  positionPlayhead(g);
  drawGrid(ctx, g);
  drawMoment(ctx, g, player.moment);
  drawWindows(ctx, g, player.moment.windows);
  drawCandidates(ctx, g, player.moment);
  drawRows(ctx, g, curve);
  canvas.setAttribute("aria-valuemax", g.duration.toFixed(1));
  // The plot's extent in CSS pixels, for the browser test to click at a known time.
  Object.assign(canvas.dataset, { plotLeft: g.left, plotRight: g.right, duration: g.duration,
                                  query: player.moment.sentences.join("\n") });
  drawPlayheads(videoEl().currentTime);
}

/** The rows to draw: each sentence's own curve for a span (coloured as its window), else the
 * query's one curve (in the moment's colour where it has one, e.g. an aligned sentence's). */
function curveRows(curve, moment) {
  if (curve.sentences && curve.sentences.length > 1) {
    return curve.sentences.map((values, i) => ({ values, colour: sentenceColour(i) }));
  }
  return [{ values: curve.similarity, colour: moment.colour || ACCENT }];
}

/** Where everything goes on the canvas: the plot's box, the value range and the time scale. */
function geometry(width, duration, rows, lanes) {
  const values = rows.flatMap((row) => row.values);
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (!(hi > lo)) { lo -= 0.05; hi += 0.05; }
  const margin = (hi - lo) * 0.08;
  const bottom = PAD.top + PLOT_HEIGHT;
  return {
    rows, lanes, duration: duration || 1, lo: lo - margin, hi: hi + margin,
    left: PAD.left, right: width - PAD.right, top: PAD.top, bottom,
    height: bottom + lanes.count * LANE_HEIGHT + PAD.axis + 6,
    x(t) { return this.left + (t / this.duration) * (this.right - this.left); },
    y(v) { return this.bottom - ((v - this.lo) / (this.hi - this.lo)) * (this.bottom - this.top); },
  };
}

/** The playhead spans the plot only, not the lanes and axis around it. */
function positionPlayhead(g) {
  const head = $("curve-playhead");
  head.style.top = `${g.top}px`;
  head.style.height = `${g.bottom - g.top}px`;
}

/** A round tick step giving at most about `count` ticks over `span`. */
function tickStep(span, count) {
  const steps = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
  return steps.find((s) => span / s <= count) || steps[steps.length - 1];
}

/** A round step (1, 2 or 5 times a power of ten) giving about `count` intervals over `span`. */
function niceStep(span, count) {
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
}

function drawGrid(ctx, g) {
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#5b6270";
  ctx.strokeStyle = "#e3e6eb";
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  const step = niceStep(g.hi - g.lo, 4);
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  for (let v = Math.ceil(g.lo / step) * step; v <= g.hi; v += step) {
    const y = Math.round(g.y(v)) + 0.5;
    ctx.beginPath(); ctx.moveTo(g.left, y); ctx.lineTo(g.right, y); ctx.stroke();
    ctx.fillText(v.toFixed(decimals), g.left - 6, y);
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "alphabetic";
  const tick = tickStep(g.duration, Math.max(2, Math.floor((g.right - g.left) / 70)));
  for (let t = 0; t <= g.duration + 1e-9; t += tick) {
    ctx.fillText(clock(t).replace(/\.0$/, ""), g.x(t), g.height - 4);
  }
}

function drawMoment(ctx, g, m) {
  const x0 = g.x(m.startS);
  const x1 = g.x(m.endS);
  const colour = m.colour || ACCENT;
  ctx.globalAlpha = 0.13;
  ctx.fillStyle = colour;
  ctx.fillRect(x0, g.top, Math.max(1, x1 - x0), g.bottom - g.top);
  ctx.globalAlpha = 0.55;
  ctx.strokeStyle = colour;
  ctx.lineWidth = 1;
  for (const x of [x0, x1]) {
    ctx.beginPath(); ctx.moveTo(Math.round(x) + 0.5, g.top); ctx.lineTo(Math.round(x) + 0.5, g.bottom); ctx.stroke();
  }
  ctx.globalAlpha = 1;
}

/** A span's sentence windows (or an alignment's segments): coloured bars above the plot. */
function drawWindows(ctx, g, windows) {
  ctx.font = "600 10px system-ui, sans-serif";
  ctx.textBaseline = "middle";
  ctx.textAlign = "left";
  for (const w of windows) {
    const x0 = g.x(w.start_s);
    const x1 = Math.max(x0 + 2, g.x(w.end_s));
    ctx.fillStyle = w.colour;
    ctx.fillRect(x0, 4, x1 - x0, 14);
    if (x1 - x0 > 16) {
      ctx.fillStyle = inkOn(w.colour);
      ctx.fillText(w.label, x0 + 4, 11.5);
    }
  }
}

/** Lanes for candidate brackets: overlapping windows (NMS keeps some overlap) go one below the
 * other, so that each bracket can be read. Returns each candidate's lane and the lane count. */
function candidateLanes(candidates) {
  const ends = []; // per lane: where its last bracket ends
  const lanes = candidates
    .map((c, i) => ({ c, i }))
    .sort((a, b) => a.c.start_s - b.c.start_s)
    .map(({ c, i }) => {
      let lane = ends.findIndex((end) => end <= c.start_s);
      if (lane < 0) { lane = ends.length; ends.push(0); }
      ends[lane] = c.end_s;
      return [i, lane];
    });
  const byIndex = new Map(lanes);
  return { lane: (i) => byIndex.get(i), count: ends.length };
}

/** Other candidate windows: brackets under the plot, the one playing in the accent colour. */
function drawCandidates(ctx, g, m) {
  ctx.font = "10px system-ui, sans-serif";
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  m.candidates.forEach((c, i) => {
    const current = Math.abs(c.start_s - m.startS) < 1e-6 && Math.abs(c.end_s - m.endS) < 1e-6;
    const x0 = g.x(c.start_s);
    const x1 = g.x(c.end_s);
    const y = g.bottom + 6 + g.lanes.lane(i) * LANE_HEIGHT;
    ctx.strokeStyle = ctx.fillStyle = current ? ACCENT : "#8a919e";
    ctx.lineWidth = current ? 2 : 1.25;
    ctx.beginPath(); ctx.moveTo(x0, y - 4); ctx.lineTo(x0, y); ctx.lineTo(x1, y); ctx.lineTo(x1, y - 4); ctx.stroke();
    const label = ctx.measureText(c.label).width + 6;
    ctx.clearRect((x0 + x1 - label) / 2, y - 6, label, 12); // the label sits on the line
    ctx.fillText(c.label, (x0 + x1) / 2, y);
  });
}

function drawRows(ctx, g, curve) {
  ctx.lineJoin = "round";
  ctx.lineWidth = 2;
  for (const row of g.rows) {
    ctx.strokeStyle = row.colour;
    ctx.beginPath();
    row.values.forEach((v, i) => {
      const x = g.x(curve.times_s[i]);
      if (i === 0) ctx.moveTo(x, g.y(v)); else ctx.lineTo(x, g.y(v));
    });
    ctx.stroke();
  }
}

function describeCurve(m) {
  const parts = ["Line: similarity of each sampled frame to the query.", "Shaded: this moment."];
  if (m.windows.length) parts.push("Bars above: each sentence's window.");
  if (m.candidates.length > 1) parts.push("Brackets below: the other candidates.");
  parts.push("Click the curve to seek.");
  $("curve-legend").textContent = parts.join(" ");
  $("curve").setAttribute("aria-label", `Similarity over time for “${m.sentences.join(" / ")}”; click or use the arrow keys to seek`);
}

/** Playheads follow playback: a line over the curve and one over an alignment's timeline. */
function drawPlayheads(t) {
  const g = player.geometry;
  const head = $("curve-playhead");
  head.hidden = !g;
  if (g) head.style.transform = `translateX(${g.x(Math.min(t, g.duration))}px)`;
  const track = document.querySelector(".timeline-track");
  const line = document.querySelector(".timeline-playhead");
  if (track && line && track.dataset.video === (player.moment && player.moment.video.id)) {
    line.style.left = `${(100 * t) / Number(track.dataset.duration)}%`;
  }
}

function updateSliderValue(t) {
  const canvas = $("curve");
  canvas.setAttribute("aria-valuenow", t.toFixed(1));
  canvas.setAttribute("aria-valuetext", clock(t));
}

/** The curve seeks: a click at a time, or arrow keys (1 s; 5 s with Shift). */
function setupCurveInput(canvas) {
  canvas.addEventListener("click", (event) => {
    const g = player.geometry;
    if (!g) return;
    const x = event.clientX - canvas.getBoundingClientRect().left;
    seek(((x - g.left) / (g.right - g.left)) * g.duration);
  });
  canvas.addEventListener("keydown", (event) => {
    const step = { ArrowLeft: -1, ArrowRight: 1 }[event.key];
    if (!step || !player.geometry) return;
    event.preventDefault();
    seek(videoEl().currentTime + step * (event.shiftKey ? 5 : 1));
  });
}

function seek(t) {
  const el = videoEl();
  const target = Math.min(Math.max(0, t), curveDuration());
  const m = player.moment;
  player.bounded = player.bounded && target >= m.startS && target <= m.endS;
  el.currentTime = target;
  player.lastS = target;
  drawPlayheads(el.currentTime);
}

/* ------------------------------------------------------------------ one video: match */

function selectedVideo() {
  const video = videoById(library.selectedId);
  if (!video) throw new ApiError("pick a video first");
  return video;
}

async function runMatch(event) {
  event.preventDefault();
  const form = event.target;
  const sentences = sentencesOf($("match-text").value);
  if (!sentences.length) return;
  await busy(form, "match-status", "Finding the moment…", async () => {
    const video = selectedVideo();
    const params = [["video", video.id], ...queryParams(sentences),
      ...formParams(form, ["top_k", "objective", "min_len", "max_len"])];
    const record = await fetchJson("api/match", params);
    renderMatch(record, video, sentences);
  });
}

/** The match view: the answer, its candidates and (for a span) each sentence's window. */
function renderMatch(record, video, sentences) {
  setStatus("match-status", `Best: ${timeRange(record.start_s, record.end_s)} · score ${record.score.toFixed(3)}`);
  const windows = (record.sentences || []).map((s, i) => ({
    start_s: s.start_s, end_s: s.end_s, label: String(i + 1), colour: sentenceColour(i), text: s.text }));
  const candidates = (record.candidates || []).map((c, i) => ({ ...c, label: `#${i + 1}` }));
  const open = (startS, endS) => openMoment({ video, startS, endS, sentences, candidates, windows });
  const list = h("ol", { class: "candidates", "aria-label": "Candidate windows, best first" },
    candidates.map((c) => h("li", {}, momentButton(`${c.label}`, timeRange(c.start_s, c.end_s),
      `score ${c.score.toFixed(3)}`, (button) => { markCurrent($("match-result"), button); open(c.start_s, c.end_s); }))));
  const parts = [h("h3", {}, "Candidates"), list];
  if (windows.length) parts.push(h("h3", {}, "Sentences"), sentenceList(windows, open));
  $("match-result").replaceChildren(...parts);
  const first = list.querySelector("button");
  if (first) first.click(); // the answer plays at once, as a search card would on a click
}

/** A button of a list of moments: a label, a time range, a note. */
function momentButton(label, range, note, onPlay, colour = null) {
  const button = h("button", { type: "button", class: "moment" },
    colour ? h("span", { class: "swatch", style: { background: colour } }) : null,
    h("span", { class: "moment-label" }, label),
    h("span", { class: "range" }, range),
    h("span", { class: "muted moment-note" }, note));
  button.addEventListener("click", () => onPlay(button));
  return button;
}

function sentenceList(windows, open) {
  return h("ol", { class: "sentences" }, windows.map((w) => h("li", {},
    momentButton(w.text, timeRange(w.start_s, w.end_s), "", (button) => {
      markCurrent(button.closest("ol"), button);
      open(w.start_s, w.end_s);
    }, w.colour))));
}

/* ------------------------------------------------------------------ one video: align */

async function runAlign(event) {
  event.preventDefault();
  const form = event.target;
  const transcript = $("align-text").value;
  if (!transcript.trim()) return;
  await busy(form, "align-status", "Aligning…", async () => {
    const video = selectedVideo();
    const records = await fetchJson("api/align", [], {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ video: video.id, transcript, name: transcriptName(transcript) }),
    });
    renderAlign(records, video);
  });
}

/** The align view: a timeline with each sentence's segment, and the sentences as a list; a
 * click on either plays that segment with its sentence's curve. */
function renderAlign(records, video) {
  const summary = (records.find((r) => r.summary) || {}).summary || {};
  const spans = records.filter((r) => !r.summary);
  const duration = summary.duration_s || video.duration_s || Math.max(...spans.map((s) => s.end_s));
  setStatus("align-status", `${spans.length} sentences aligned over ${clock(duration)}`);
  const windows = spans.map((s, i) => ({
    start_s: s.start_s, end_s: s.end_s, label: String(s.index + 1), colour: sentenceColour(i), text: s.text }));
  const open = (w) => openMoment({
    video, startS: w.start_s, endS: w.end_s, sentences: [w.text], candidates: [], windows, colour: w.colour });
  $("align-result").replaceChildren(
    timeline(windows, duration, video, open),
    h("ol", { class: "sentences" }, windows.map((w) => h("li", {},
      momentButton(`${w.label}. ${w.text}`, timeRange(w.start_s, w.end_s), "", (button) => {
        markCurrent($("align-result"), button);
        open(w);
      }, w.colour)))));
}

function timeline(windows, duration, video, open) {
  const track = h("div", { class: "timeline-track", "data-video": video.id, "data-duration": duration },
    windows.map((w) => h("button", {
      type: "button", class: "segment", title: `${w.label}. ${w.text} (${timeRange(w.start_s, w.end_s)})`,
      "aria-label": `Play sentence ${w.label}: ${w.text}, ${timeRange(w.start_s, w.end_s)}`,
      style: { left: `${(100 * w.start_s) / duration}%`, width: `${(100 * (w.end_s - w.start_s)) / duration}%`,
               background: w.colour, color: inkOn(w.colour) },
      onclick: (event) => { markCurrent(track, event.currentTarget); open(w); },
    }, w.label)),
    h("div", { class: "timeline-playhead", "aria-hidden": "true" }));
  return h("div", { class: "timeline" },
    track,
    h("div", { class: "timeline-axis muted" }, h("span", {}, "0:00"), h("span", {}, clock(duration))));
}

let uploaded = null; // {name, text} of the transcript file last opened

/** An uploaded transcript goes into the box, where it can be checked before aligning. */
async function readTranscriptFile(event) {
  const file = event.target.files[0];
  if (!file) return;
  uploaded = { name: file.name, text: await file.text() };
  $("align-text").value = uploaded.text;
}

/** How the server's errors name the transcript: the file's name while the box holds it as read. */
function transcriptName(text) {
  return uploaded && uploaded.text === text ? uploaded.name : "(pasted text)";
}

/* ------------------------------------------------------------------ start */

async function start() {
  $("error-close").addEventListener("click", clearError);
  setupTabs([$("tab-search"), $("tab-video")]);
  setupTabs([$("tab-match"), $("tab-align")]);
  setupPlayer();
  $("search-form").addEventListener("submit", runSearch);
  $("match-form").addEventListener("submit", runMatch);
  $("align-form").addEventListener("submit", runAlign);
  $("align-file").addEventListener("change", (event) => readTranscriptFile(event).catch(showError));
  $("video-filter").addEventListener("input", renderVideoList);
  submitOnEnter($("search-text"));
  submitOnEnter($("match-text"));
  try {
    await loadVideos();
  } catch (err) {
    showError(err);
  }
  pollJobs();
  document.body.dataset.ready = "true"; // for the browser test: the library is listed
}

document.addEventListener("DOMContentLoaded", start);
