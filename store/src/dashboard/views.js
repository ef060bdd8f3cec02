// Vigil's dashboard, part 2 of 3: the views of the Vigil SDK's families
// (lifecycle, sweep, health, liveness, process and workers, gen-AI, HTTP),
// recognised by the names the SDK gives their instruments whatever the
// namespace: `<ns>.<entity>.lifecycle.transitions`, `<ns>.sweep.runs`, ...
'use strict';

// === Vigil SDK families, recognised by the names the SDK gives them ===

const FAMILY = [
  ['lifecycle', /^(.+)\.lifecycle\.(transitions|count)$/],
  ['sweep', /^(?:(.+)\.)?sweep\.(runs|items|last_success|backlog|capped)$/],
  ['health', /^(.+)\.health\.(checks|consecutive_failures|status)$/],
  ['liveness', /^(.+)\.liveness\.(count|fallbacks)$/],
  ['process', /^(?:(.+)\.)?(process\.cpu\.time|process\.memory\.usage|worker\.idle)$/],
  ['genai', /^(?:(.+)\.)?gen_ai\.client\.(token\.usage|cache\.token\.usage|cost\.usd)$/],
  ['http', /^(?:(.+)\.)?http\.server\.(request\.duration)$/],
];

function classify(metrics) {
  const out = {};
  for (const m of metrics) {
    for (const [family, rx] of FAMILY) {
      const hit = rx.exec(m.name);
      if (!hit) continue;
      const byPrefix = (out[family] = out[family] || new Map());
      // Gen-AI and HTTP names are the semantic conventions' own; a namespace
      // prefixes only some of them (cost, cache tokens): one view for all.
      const prefix = family === 'genai' || family === 'http' ? '' : hit[1] || '';
      if (!byPrefix.has(prefix)) byPrefix.set(prefix, {});
      byPrefix.get(prefix)[hit[2]] = m;
      break;
    }
  }
  return out;
}
const series = (m) => (m ? m.series : []);
// `ns.worker` -> `worker`: the service card already says whose it is.
const entity = (prefix) => prefix.split('.').pop();

function lifecycleView(svc, prefix, f) {
  const states = group(series(f.count), (s) => attr(s, 'state'));
  const stateRows = [...states].map(([st, list]) =>
    data(row([st, num(fmt(list.reduce((a, s) => a + value(s.value), 0)))]), { state: st }));
  const ops = group(series(f.transitions), (s) => attr(s, 'operation'));
  const opRows = [...ops].map(([op, list]) => {
    const by = (o) => list.filter((s) => attr(s, 'outcome') === o).reduce((a, s) => a + value(s.value), 0);
    const ok = by('success');
    const failed = by('failure');
    const ratio = ok + failed > 0 ? (100 * failed) / (ok + failed) : NaN;
    return { op, ok, failed, cancelled: by('cancelled'), ratio };
  }).sort((a, b) => (b.ratio || 0) - (a.ratio || 0) || a.op.localeCompare(b.op))
    .map((r) => data(row([r.op, num(fmt(r.ok)), num(fmt(r.failed)), num(fmt(r.cancelled)), num(pct(r.ratio))],
      r.ratio >= 10 ? 'bad' : r.failed > 0 ? 'warn' : null), { operation: r.op, failureRatio: Number.isFinite(r.ratio) ? r.ratio.toFixed(1) : '' }));
  return el('div', 'view lifecycle', el('h4', null, entity(prefix), ' lifecycle'),
    stateRows.length ? table(['state', 'count'], stateRows, 'compact') : null,
    opRows.length ? table(['operation', 'ok', 'failed', 'cancelled', 'failure %'], opRows) : null);
}

function sweepView(svc, prefix, f, now) {
  const sweepers = new Set([...series(f.runs), ...series(f.last_success)].map((s) => attr(s, 'sweeper')));
  const rows = [...sweepers].sort().map((name) => {
    const of = (m) => series(m).filter((s) => attr(s, 'sweeper') === name);
    const runs = (r) => of(f.runs).filter((s) => attr(s, 'result') === r).reduce((a, s) => a + value(s.value), 0);
    const items = of(f.items).map((s) => attrText(attrs(s, ['sweeper'])).replace(/^[^=]*=/, '') + ' ' + fmt(value(s.value)));
    const last = of(f.last_success)[0];
    const backlog = of(f.backlog)[0];
    const bad = runs('error') + runs('panic') > 0;
    return data(row([el('td', 'name', name), num(fmt(runs('ok'))), num(fmt(runs('error'))), num(fmt(runs('panic'))),
      items.join(' · ') || '–', last ? ago((now - value(last.value) * 1000) / 1000) : 'never',
      num(backlog ? fmt(value(backlog.value)) : '–')], bad ? 'warn' : null), { sweeper: name });
  });
  return el('div', 'view sweep', el('h4', null, 'sweeps'),
    table(['sweeper', 'ok', 'error', 'panic', 'items', 'last success', 'backlog'], rows));
}

function healthView(svc, prefix, f) {
  const targets = new Map();
  const target = (s) => {
    const key = attrText(attrs(s, ['result']));
    if (!targets.has(key)) targets.set(key, { key, status: null, consecutive: null, pass: 0, fail: 0 });
    return targets.get(key);
  };
  for (const s of series(f.status)) target(s).status = value(s.value);
  for (const s of series(f.consecutive_failures)) target(s).consecutive = value(s.value);
  for (const s of series(f.checks)) target(s)[attr(s, 'result') === 'pass' ? 'pass' : 'fail'] += value(s.value);
  const verdict = (t) => (t.status === 0 || (t.status === null && t.consecutive > 0) ? 'failing'
    : t.status === 1 ? 'healthy' : 'unknown');
  const order = { failing: 0, unknown: 1, healthy: 2 };
  const rows = [...targets.values()]
    .sort((a, b) => order[verdict(a)] - order[verdict(b)] || b.fail - a.fail || a.key.localeCompare(b.key))
    .map((t) => {
      const v = verdict(t);
      return data(row([el('span', 'badge ' + v, v), t.key, num(fmt(t.consecutive)), num(fmt(t.pass)), num(fmt(t.fail))],
        'check ' + v), { target: t.key, status: v });
    });
  return el('div', 'view health', el('h4', null, entity(prefix), ' health checks'),
    table(['status', 'target', 'failures in a row', 'pass', 'fail'], rows));
}

function livenessView(svc, prefix, f) {
  const rows = series(f.count).map((s) => row([attr(s, 'status'), num(fmt(value(s.value)))]));
  const fallbacks = series(f.fallbacks).reduce((a, s) => a + value(s.value), 0);
  return el('div', 'view liveness', el('h4', null, entity(prefix), ' liveness'),
    table(['status', 'count'], rows, 'compact'),
    f.fallbacks ? el('p', 'muted', 'fast-store fallbacks: ' + fmt(fallbacks)) : null);
}

const SELF = '(this process)';
function workersView(svc, prefix, f) {
  const workers = new Map();
  const worker = (s) => {
    const pairs = attrs(s, ['cpu.mode', 'zombie']);
    const name = pairs.length === 0 ? SELF : pairs.length === 1 ? pairs[0][1] : attrText(pairs);
    if (!workers.has(name)) workers.set(name, { name, cpu: 0, t: NaN, hasCpu: false, rss: NaN, idle: NaN, zombie: false });
    return workers.get(name);
  };
  for (const s of series(f['process.cpu.time'])) {
    const w = worker(s);
    w.cpu += value(s.value);
    w.hasCpu = true;
    w.t = Number.isNaN(w.t) ? time(s.last_update) : Math.max(w.t, time(s.last_update));
  }
  for (const s of series(f['process.memory.usage'])) worker(s).rss = value(s.value);
  for (const s of series(f['worker.idle'])) {
    const w = worker(s);
    w.idle = value(s.value);
    w.zombie = attr(s, 'zombie') === 'true';
  }
  // Rates first, for every worker: one the filter hides keeps its baseline.
  for (const w of workers.values()) {
    w.rate = w.hasCpu ? rate(svc.service + '\u0000cpu\u0000' + prefix + '\u0000' + w.name, w.cpu, w.t) : null;
  }
  const rows = [...workers.values()]
    .filter((w) => matches(svc.service, w.name))
    .sort((a, b) => b.zombie - a.zombie || (b.name === SELF) - (a.name === SELF) || a.name.localeCompare(b.name))
    .map((w) => {
      const r = w.rate;
      return data(row([w.name, num(r === null ? '…' : pct(100 * r)), num(bytes(w.rss)),
        num(Number.isFinite(w.idle) ? fmt(w.idle, 1) + ' s' : '–'),
        w.zombie ? el('span', 'badge failing', 'zombie') : ''], 'worker' + (w.zombie ? ' zombie' : '')),
      { worker: w.name, zombie: w.zombie, cpuPercent: r === null ? '' : (100 * r).toFixed(1) });
    });
  if (!rows.length) return null;
  return el('div', 'view workers', el('h4', null, 'processes and workers'),
    table(['worker', 'CPU', 'RSS', 'idle', ''], rows));
}

function genaiView(svc, prefix, f) {
  const models = new Map();
  const types = new Set();
  const model = (s) => {
    const k = attr(s, 'gen_ai.request.model') || '(no model)';
    if (!models.has(k)) models.set(k, { tokens: new Map(), cost: 0 });
    return models.get(k);
  };
  for (const m of [f['token.usage'], f['cache.token.usage']]) {
    for (const s of series(m)) {
      const raw = attr(s, 'gen_ai.token.type') || 'all';
      const type = m === f['cache.token.usage'] && !raw.includes('cache') ? 'cache ' + raw : raw.replace('_', ' ');
      types.add(type);
      const t = model(s).tokens;
      t.set(type, (t.get(type) || 0) + value(s.sum));
    }
  }
  for (const s of series(f['cost.usd'])) model(s).cost += value(s.value);
  const cols = [...types].sort();
  const rows = [...models].map(([name, m]) => row([name, ...cols.map((c) => num(fmt(m.tokens.get(c) || 0))),
    num('$' + fmt(m.cost, 4))]));
  return el('div', 'view genai', el('h4', null, 'gen-AI tokens and cost'),
    table(['model', ...cols.map((c) => c + ' tokens'), 'cost'], rows));
}

function httpView(svc, prefix, f) {
  const list = series(f['request.duration']);
  const rows = list.map((s) => {
    const route = attr(s, 'http.route') || '(no route)';
    const code = attr(s, 'http.response.status_code');
    const method = attr(s, 'http.request.method');
    const r = rate(svc.service + '\u0000http\u0000' + attrText(attrs(s)), value(s.count), time(s.last_update));
    const mean = value(s.count) > 0 ? (1000 * value(s.sum)) / value(s.count) : NaN;
    return row([method, route, code, num(fmt(value(s.count))), num(r === null ? '…' : fmt(r, 2)), num(fmt(mean, 1))],
      code.startsWith('5') ? 'bad' : null);
  });
  return el('div', 'view http', el('h4', null, 'HTTP requests'),
    table(['method', 'route', 'status', 'requests', 'req/s', 'mean ms'], rows));
}
