// Vigil's dashboard, part 1 of 3: state, DOM helpers, number formats and
// rates between polls. views.js draws the SDK families with these;
// dashboard.js polls and lays out the page. Three classic scripts share one
// global scope (loaded in order, deferred), so no bundler is needed.
//
// Every string from a document is placed with textContent or a data-*
// attribute, never as markup. Rates (CPU %, points/s, requests/s) come from
// two successive readings of a cumulative counter, timed by the points' own
// last_update, so a slow poll does not distort them.
'use strict';

const POLL_MS = 2000;
const MAX_SERIES_SHOWN = 50;
const state = {
  filter: '',
  open: new Set(), // keys of the <details> the user opened
  prev: new Map(), // counter key -> {v, t} of the last poll
  rates: new Map(), // counter key -> last computed rate
  seen: new Set(), // counter keys read during this poll
  snapshot: null,
  self: null,
  selfProblem: 'loading',
};

// === DOM helpers ===

function el(tag, cls, ...children) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}
function data(node, values) {
  for (const [k, v] of Object.entries(values)) node.dataset[k] = String(v);
  return node;
}
function table(headers, rows, cls) {
  const head = el('tr', null, ...headers.map((h) => (h instanceof Node ? h : el('th', null, h))));
  return el('div', 'table-wrap', el('table', cls, el('thead', null, head), el('tbody', null, ...rows)));
}
function row(cells, cls) {
  return el('tr', cls, ...cells.map((c) => (c instanceof Node && c.tagName === 'TD' ? c : el('td', null, c))));
}
function num(cell) {
  return el('td', 'num', cell);
}
function details(key, summary, build, cls) {
  const d = el('details', cls, el('summary', null, ...summary));
  d.dataset.key = key;
  if (state.open.has(key)) {
    d.open = true;
    d.append(build());
  }
  d.addEventListener('toggle', () => {
    if (d.open) {
      state.open.add(key);
      if (d.childElementCount === 1) d.append(build());
    } else {
      state.open.delete(key);
    }
  });
  return d;
}

// === Values ===

function value(v) {
  if (typeof v === 'number') return v;
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  return typeof v === 'string' ? Number(v) : NaN;
}
function time(rfc3339) {
  // Nanosecond fractions: keep milliseconds, which Date.parse reads everywhere.
  const t = Date.parse(String(rfc3339 || '').replace(/(\.\d{3})\d+/, '$1'));
  return Number.isFinite(t) ? t : NaN;
}
function text(v) {
  return typeof v === 'string' ? v : JSON.stringify(v);
}
function attrs(series, omit) {
  return Object.keys(series.attributes || {})
    .filter((k) => !(omit || []).includes(k))
    .sort()
    .map((k) => [k, text(series.attributes[k])]);
}
function attrText(pairs) {
  return pairs.length ? pairs.map(([k, v]) => k + '=' + v).join(', ') : '(no attributes)';
}
function attr(series, key) {
  const v = (series.attributes || {})[key];
  return v === undefined ? '' : text(v);
}
function fmt(n, digits) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  const d = digits === undefined ? (Number.isInteger(n) ? 0 : 2) : digits;
  return n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}
function bytes(n) {
  if (!Number.isFinite(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return fmt(n, i === 0 ? 0 : 1) + ' ' + units[i];
}
function ago(seconds) {
  if (!Number.isFinite(seconds)) return '–';
  const s = Math.max(0, seconds);
  if (s < 90) return Math.round(s) + ' s ago';
  if (s < 5400) return Math.round(s / 60) + ' min ago';
  if (s < 172800) return Math.round(s / 3600) + ' h ago';
  return Math.round(s / 86400) + ' d ago';
}
function pct(n) {
  return Number.isFinite(n) ? fmt(n, 1) + ' %' : '–';
}

// Per-second rate of a cumulative reading between this poll and the last.
function rate(key, v, t) {
  state.seen.add(key);
  const prev = state.prev.get(key);
  state.prev.set(key, { v, t });
  if (!prev || !Number.isFinite(v) || !Number.isFinite(t)) return null;
  if (t === prev.t) return state.rates.has(key) ? state.rates.get(key) : null;
  if (t < prev.t || v < prev.v) {
    state.rates.delete(key); // a restart or a reset: no rate until the next reading
    return null;
  }
  const r = (v - prev.v) / ((t - prev.t) / 1000);
  state.rates.set(key, r);
  return r;
}
function pruneRates() {
  for (const key of state.prev.keys()) {
    if (!state.seen.has(key)) {
      state.prev.delete(key);
      state.rates.delete(key);
    }
  }
  state.seen.clear();
}

function matches(...texts) {
  return !state.filter || texts.some((t) => String(t).toLowerCase().includes(state.filter));
}
function group(list, keyOf) {
  const out = new Map();
  for (const item of list) {
    const k = keyOf(item);
    if (!out.has(k)) out.set(k, []);
    out.get(k).push(item);
  }
  return out;
}
