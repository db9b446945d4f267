"use strict";
(function () {
const D = JSON.parse(document.getElementById('map-data').textContent);
const N = D.n, $ = id => document.getElementById(id);
function b64(s, T) { const b = atob(s), u = new Uint8Array(b.length); for (let i = 0; i < b.length; i++) u[i] = b.charCodeAt(i); return new T(u.buffer); }
const XY = b64(D.xy, Float32Array);
const labels = D.labels.map(l => l.kind === 'cat' ? {...l, codes: b64(l.codes, Int16Array)} : {...l, values: b64(l.values, Float32Array)});
const cv = $('map'), ctx = cv.getContext('2d'), ov = $('over'), octx = ov.getContext('2d'), tip = $('tip');
const W = cv.width, H = cv.height;
const img = ctx.createImageData(W, H), buf = new Uint32Array(img.data.buffer);
// data bounds and the view: screen = centre + (data - c) * s, y up
let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
for (let i = 0; i < N; i++) { const x = XY[2 * i], y = XY[2 * i + 1]; if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y; }
if (!(x1 > x0)) { x0 -= 1; x1 += 1; } if (!(y1 > y0)) { y0 -= 1; y1 += 1; }
const view = {cx: 0, cy: 0, s: 1};
function fit(a0, a1, b0, b1) { view.cx = (a0 + a1) / 2; view.cy = (b0 + b1) / 2; view.s = 0.94 * Math.min(W / ((a1 - a0) || 1e-9), H / ((b1 - b0) || 1e-9)); }
fit(x0, x1, y0, y1);
const sx = x => W / 2 + (x - view.cx) * view.s, sy = y => H / 2 - (y - view.cy) * view.s;
const dx = a => view.cx + (a - W / 2) / view.s, dy = b => view.cy - (b - H / 2) / view.s;
// drawing order: a fixed shuffle, so that no class hides another by being drawn last
const order = new Uint32Array(N); for (let i = 0; i < N; i++) order[i] = i;
let seed = 12345; const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296;
for (let i = N - 1; i > 0; i--) { const j = Math.floor(rnd() * (i + 1)); const t = order[i]; order[i] = order[j]; order[j] = t; }
// colours (as little-endian RGBA words)
const PAL = ['#1f77b4','#d62728','#2ca02c','#ff7f0e','#9467bd','#8c564b','#e377c2','#17becf','#bcbd22','#7f7f7f','#393b79','#637939'];
const VIR = ['#440154','#482878','#3e4989','#31688e','#26828e','#1f9e89','#35b779','#6ece58','#b5de2b','#fde725'];
const rgb = h => [parseInt(h.slice(1, 3), 16), parseInt(h.slice(3, 5), 16), parseInt(h.slice(5, 7), 16)];
const word = c => (255 << 24 | c[2] << 16 | c[1] << 8 | c[0]) >>> 0;
const GREY = word([185, 185, 185]), BG = word([255, 255, 255]), DARK = word([0, 0, 0]);
const col = new Uint32Array(N);
let cur = -1;
function vir(t) { t = Math.max(0, Math.min(1, t)) * (VIR.length - 1); const k = Math.min(VIR.length - 2, Math.floor(t)), f = t - k, a = rgb(VIR[k]), b = rgb(VIR[k + 1]);
  return [0, 1, 2].map(j => Math.round(a[j] + f * (b[j] - a[j]))); }
const css = c => 'rgb(' + c.join(',') + ')';
function catColor(k, n) { return n === 2 ? rgb(['#3b4cc0', '#b40426'][k]) : rgb(PAL[k % PAL.length]); }
function swatch(c) { const i = document.createElement('i'); i.style.background = css(c); return i; }
function row(parent, c, text) { const d = document.createElement('div'); if (c) d.appendChild(swatch(c)); d.appendChild(document.createTextNode(text)); parent.appendChild(d); }
function labelText(L, i) {
  if (L.kind === 'cat') { const c = L.codes[i]; return c < 0 ? 'missing' : String(L.classes[c]); }
  const v = L.values[i]; return Number.isNaN(v) ? 'missing' : String(Math.round(v * 1000) / 1000);
}
function setColor(k) {
  cur = k; const lg = $('legend'); lg.replaceChildren();
  if (k < 0) { col.fill(word([60, 60, 60])); row(lg, null, N + ' photographs'); draw(); return; }
  const L = labels[k], head = document.createElement('b'); head.textContent = L.name; lg.appendChild(head);
  if (L.kind === 'cat') {
    const n = L.classes.length, cs = L.classes.map((_, j) => catColor(j, n)), ws = cs.map(word), cnt = new Array(n + 1).fill(0);
    for (let i = 0; i < N; i++) { const c = L.codes[i]; col[i] = c < 0 ? GREY : ws[c]; cnt[c < 0 ? n : c]++; }
    L.classes.forEach((c, j) => row(lg, cs[j], String(c) + ' (' + cnt[j] + ')'));
    if (cnt[n]) row(lg, [185, 185, 185], 'missing (' + cnt[n] + ')');
  } else {
    let miss = 0;
    for (let i = 0; i < N; i++) { const v = L.values[i]; if (Number.isNaN(v)) { col[i] = GREY; miss++; } else col[i] = word(vir((v - L.lo) / ((L.hi - L.lo) || 1))); }
    const d = document.createElement('div'), g = document.createElement('span');
    g.id = 'grad'; g.style.background = 'linear-gradient(to right,' + VIR.join(',') + ')';
    d.appendChild(document.createTextNode(String(L.lo))); d.appendChild(g); d.appendChild(document.createTextNode(String(L.hi)));
    lg.appendChild(d); if (miss) row(lg, [185, 185, 185], 'missing (' + miss + ')');
  }
  draw();
}
// selection
let sel = new Uint8Array(N), selList = [];
function setSelection(idx, why) {
  sel.fill(0); selList = Array.from(idx); for (const i of selList) sel[i] = 1;
  $('selcount').textContent = selList.length ? selList.length + ' selected' + (why ? ' (' + why + ')' : '') : 'nothing selected';
  $('csv').disabled = !selList.length;
  const ol = $('list'); ol.replaceChildren();
  for (const i of selList.slice(0, 500)) { const li = document.createElement('li'); li.textContent = D.names[i] + (cur >= 0 ? ' \u00b7 ' + labelText(labels[cur], i) : ''); ol.appendChild(li); }
  if (selList.length > 500) { const li = document.createElement('li'); li.textContent = '\u2026 and ' + (selList.length - 500) + ' more (all in the CSV)'; ol.appendChild(li); }
  draw();
}
// drawing: every point a small square written straight into the pixels
const M = window.dualMap = {n: N, drawn: 0, frames: 0, drawMs: 0, firstDrawMs: null, hovered: -1, hoverMs: null, view};
function draw() {
  const t0 = performance.now();
  buf.fill(BG);
  const z = Math.max(1, Math.min(6, Math.round(view.s * (x1 - x0) / Math.sqrt(N) / 1.5)));
  let drawn = 0;
  const put = (i, r, c) => {
    const a = Math.round(sx(XY[2 * i])) - (r >> 1), b = Math.round(sy(XY[2 * i + 1])) - (r >> 1);
    if (a + r <= 0 || b + r <= 0 || a >= W || b >= H) return false;
    const ya = Math.max(0, b), yb = Math.min(H, b + r), xa = Math.max(0, a), xb = Math.min(W, a + r);
    for (let y = ya; y < yb; y++) buf.fill(c, y * W + xa, y * W + xb);
    return true;
  };
  for (let k = 0; k < N; k++) { const i = order[k]; if (put(i, z, col[i])) drawn++; }
  for (const i of selList) { put(i, z + 4, DARK); put(i, z + 1, col[i]); }
  ctx.putImageData(img, 0, 0);
  M.drawn = drawn; M.frames++; M.drawMs = performance.now() - t0;
  if (M.firstDrawMs === null) M.firstDrawMs = performance.now();
  document.body.dataset.drawn = drawn;
}
let pending = false;
function redraw() { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; draw(); drawOver(); }); } }
// a grid over the data for finding the point under the mouse
const G = Math.max(1, Math.ceil(Math.sqrt(N / 4))), gw = (x1 - x0) / G, gh = (y1 - y0) / G;
const cellOf = i => Math.min(G - 1, Math.floor((XY[2 * i] - x0) / gw)) * G + Math.min(G - 1, Math.floor((XY[2 * i + 1] - y0) / gh));
const start = new Int32Array(G * G + 1), items = new Int32Array(N);
for (let i = 0; i < N; i++) start[cellOf(i) + 1]++;
for (let c = 0; c < G * G; c++) start[c + 1] += start[c];
{ const fillp = start.slice(0, G * G); for (let i = 0; i < N; i++) items[fillp[cellOf(i)]++] = i; }
function nearest(px, py, rpx) {
  const qx = dx(px), qy = dy(py), r = rpx / view.s;
  const ca = Math.max(0, Math.floor((qx - r - x0) / gw)), cb = Math.min(G - 1, Math.floor((qx + r - x0) / gw));
  const ra = Math.max(0, Math.floor((qy - r - y0) / gh)), rb = Math.min(G - 1, Math.floor((qy + r - y0) / gh));
  let best = -1, bd = r * r;
  for (let a = ca; a <= cb; a++) for (let b = ra; b <= rb; b++) {
    const c = a * G + b;
    for (let k = start[c]; k < start[c + 1]; k++) { const i = items[k], ex = XY[2 * i] - qx, ey = XY[2 * i + 1] - qy, d = ex * ex + ey * ey; if (d <= bd) { bd = d; best = i; } }
  }
  return best;
}
// thumbnails: tiles of atlases beside the page, or the photographs themselves by relative path
const A = D.atlas, F = D.files, cache = new Map();
if (F) F.dir = b64(F.dir, Int32Array);
function atlasUrl(kind, i) { return A.dir + '/' + kind + '_' + String(Math.floor(i / A.per)).padStart(5, '0') + '.jpg'; }
function loaded(url) { let p = cache.get(url); if (!p) { p = new Promise(res => { const im = new Image(); im.onload = () => res(true); im.onerror = () => res(false); im.src = url; }); cache.set(url, p); } return p; }
function tile(el, kind, i) {
  const url = atlasUrl(kind, i), k = i % A.per;
  el.style.backgroundImage = 'url("' + encodeURI(url) + '")';
  el.style.backgroundPosition = (-(k % A.cols) * A.tile) + 'px ' + (-Math.floor(k / A.cols) * A.tile) + 'px';
  return loaded(encodeURI(url));
}
function showTip(i, mx, my, t0) {
  tip.replaceChildren(); const waits = [];
  if (F) { const im = document.createElement('img'); im.className = 'im'; im.alt = ''; const u = F.dirs[F.dir[i]] + encodeURIComponent(D.names[i]);
    waits.push(new Promise(res => { im.onload = () => res(true); im.onerror = () => res(false); })); im.src = u; tip.appendChild(im); }
  if (A && A.thumbs) { const d = document.createElement('div'); d.className = 'im'; waits.push(tile(d, 'thumbs', i)); tip.appendChild(d); }
  if (A && A.evidence) { const d = document.createElement('div'); d.className = 'im ev'; waits.push(tile(d, 'evidence', i)); tip.appendChild(d); }
  const cap = document.createElement('div'), b = document.createElement('b');
  b.textContent = cur >= 0 ? labels[cur].name + ': ' + labelText(labels[cur], i) : ''; cap.appendChild(b);
  cap.appendChild(document.createTextNode((cur >= 0 ? ' \u00b7 ' : '') + D.names[i]));
  tip.appendChild(cap);
  tip.style.display = 'block';
  tip.style.left = Math.max(0, Math.min(mx + 14, W - tip.offsetWidth - 4)) + 'px';
  tip.style.top = Math.max(0, my + 14 + tip.offsetHeight > H ? my - tip.offsetHeight - 10 : my + 14) + 'px';
  M.hovered = i; tip.dataset.index = i;
  Promise.all(waits).then(ok => { if (M.hovered === i) { M.hoverMs = performance.now() - t0; M.hoverOk = ok.every(Boolean); tip.dataset.shown = i; } });
}
function hideTip() { tip.style.display = 'none'; M.hovered = -1; delete tip.dataset.index; delete tip.dataset.shown; }
// the overlay: the hovered point and the box being drawn
let box = null;
function drawOver() {
  octx.clearRect(0, 0, W, H);
  if (M.hovered >= 0) { const i = M.hovered; octx.beginPath(); octx.arc(sx(XY[2 * i]), sy(XY[2 * i + 1]), 7, 0, 7); octx.lineWidth = 2; octx.strokeStyle = '#000'; octx.stroke(); }
  if (box) { octx.setLineDash([5, 4]); octx.lineWidth = 1; octx.strokeStyle = '#000'; octx.strokeRect(Math.min(box[0], box[2]), Math.min(box[1], box[3]), Math.abs(box[2] - box[0]), Math.abs(box[3] - box[1])); octx.setLineDash([]); }
}
// mouse: wheel zooms about the cursor, drag pans, shift + drag selects
const wrap = $('wrap'); let drag = null;
const pos = ev => { const r = cv.getBoundingClientRect(); return [ev.clientX - r.left, ev.clientY - r.top]; };
wrap.addEventListener('wheel', ev => { ev.preventDefault(); const [a, b] = pos(ev), qx = dx(a), qy = dy(b);
  view.s *= Math.exp(-ev.deltaY * 0.0015); view.cx = qx - (a - W / 2) / view.s; view.cy = qy + (b - H / 2) / view.s; hideTip(); redraw(); }, {passive: false});
wrap.addEventListener('mousedown', ev => { const [a, b] = pos(ev); drag = {a, b, cx: view.cx, cy: view.cy, select: ev.shiftKey}; if (drag.select) box = [a, b, a, b]; hideTip(); });
window.addEventListener('mouseup', ev => {
  if (drag && drag.select && box) {
    const xa = dx(Math.min(box[0], box[2])), xb = dx(Math.max(box[0], box[2])), ya = dy(Math.max(box[1], box[3])), yb = dy(Math.min(box[1], box[3])), out = [];
    for (let i = 0; i < N; i++) { const x = XY[2 * i], y = XY[2 * i + 1]; if (x >= xa && x <= xb && y >= ya && y <= yb) out.push(i); }
    box = null; setSelection(out, 'box');
  }
  drag = null; drawOver();
});
wrap.addEventListener('mousemove', ev => {
  const t0 = ev.timeStamp || performance.now(), [a, b] = pos(ev);
  if (drag) {
    if (drag.select) box[2] = a, box[3] = b; else { view.cx = drag.cx - (a - drag.a) / view.s; view.cy = drag.cy + (b - drag.b) / view.s; }
    redraw(); return;
  }
  const i = nearest(a, b, 10);
  if (i < 0) { if (M.hovered >= 0) { hideTip(); drawOver(); } return; }
  if (i !== M.hovered) { showTip(i, a, b, t0); drawOver(); }
});
wrap.addEventListener('mouseleave', () => { hideTip(); drawOver(); });
// controls
const sc = $('color');
{ const o = document.createElement('option'); o.value = '-1'; o.textContent = '(none)'; sc.appendChild(o); }
labels.forEach((L, k) => { const o = document.createElement('option'); o.value = String(k); o.textContent = L.name; sc.appendChild(o); });
sc.value = String(D.color); sc.addEventListener('change', () => { setColor(+sc.value); setSelection(selList, selList.length ? 'kept' : ''); });
let st = null;
$('search').addEventListener('input', () => { clearTimeout(st); st = setTimeout(() => {
  const q = $('search').value.trim().toLowerCase(); if (!q) { setSelection([], ''); return; }
  const out = []; for (let i = 0; i < N; i++) if (D.names[i].toLowerCase().includes(q)) out.push(i);
  setSelection(out, 'search'); }, 120); });
$('clear').addEventListener('click', () => { $('search').value = ''; setSelection([], ''); });
$('reset').addEventListener('click', () => { fit(x0, x1, y0, y1); redraw(); });
$('zoomsel').addEventListener('click', () => { if (!selList.length) return; let a0 = Infinity, a1 = -Infinity, b0 = Infinity, b1 = -Infinity;
  for (const i of selList) { a0 = Math.min(a0, XY[2 * i]); a1 = Math.max(a1, XY[2 * i]); b0 = Math.min(b0, XY[2 * i + 1]); b1 = Math.max(b1, XY[2 * i + 1]); }
  const m = Math.max(a1 - a0, b1 - b0, (x1 - x0) / 200) * 0.1; fit(a0 - m, a1 + m, b0 - m, b1 + m); redraw(); });
function cell(v) { let s = String(v); if (/^[=+\-@\t\r]/.test(s)) s = "'" + s; return '"' + s.replace(/"/g, '""') + '"'; }
function csv() {
  const head = ['index', 'file', 'x', 'y'].concat(labels.map(L => L.name)), lines = [head.map(cell).join(',')];
  for (const i of selList) lines.push([i, cell(D.names[i]), XY[2 * i], XY[2 * i + 1]].concat(labels.map(L => cell(labelText(L, i)))).join(','));
  return lines.join('\r\n') + '\r\n';
}
M.csv = csv;
$('csv').addEventListener('click', () => { const a = document.createElement('a'); a.href = URL.createObjectURL(new Blob([csv()], {type: 'text/csv'}));
  a.download = 'selection.csv'; document.body.appendChild(a); a.click(); a.remove(); });
M.selection = () => selList.slice();
M.toClient = i => { const r = cv.getBoundingClientRect(); return [r.left + sx(XY[2 * i]), r.top + sy(XY[2 * i + 1])]; };
M.toData = (cx, cy) => { const r = cv.getBoundingClientRect(); return [dx(cx - r.left), dy(cy - r.top)]; };
$('status').textContent = N + ' photographs';
setColor(D.color);
document.body.dataset.points = N;
})();
