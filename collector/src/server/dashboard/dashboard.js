// Vigil's live dashboard: polls api/v1/snapshot and api/v1/self every 2 s
// (relative URLs, same origin only) and redraws the page from them.
//
// Every string from a document is placed with textContent or a data-*
// attribute, never as markup. Rates (CPU %, points/s, requests/s) come from
// two successive readings of a cumulative counter, timed by the points' own
// last_update, so a slow poll does not distort them. Times are shown relative
// to the snapshot's generated_at (the collector's clock, not the browser's).
'use strict';

(function () {
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
    const head = el('tr', null, ...headers.map((h) => el('th', null, h)));
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

  // === All metrics of a service, collapsible ===

  function seriesValue(s) {
    if (s.value !== undefined) return fmt(value(s.value));
    if (s.count !== undefined) return 'count ' + fmt(value(s.count)) + (s.sum !== undefined ? ', sum ' + fmt(value(s.sum)) : '');
    return '–';
  }
  function metricsList(svc, si, shown, now) {
    const key = 'metrics\u0000' + svc.service;
    return details(key, [el('span', null, 'All metrics'), el('span', 'muted', ' ' + shown.length + ' of ' + svc.metrics.length)], () =>
      el('div', 'metrics', ...shown.map((m) => details(key + '\u0000' + m.name,
        [el('code', null, m.name), el('span', 'muted', ' ' + m.type + (m.unit ? ' · ' + m.unit : '') + ' · ' + m.series.length + ' series'),
          m.series.length === 1 ? el('span', 'num value', ' ' + seriesValue(m.series[0])) : null],
        () => {
          const rows = m.series.slice(0, MAX_SERIES_SHOWN).map((s) =>
            row([attrText(attrs(s)), num(seriesValue(s)), num(ago((now - time(s.last_update)) / 1000))]));
          const more = m.series.length - MAX_SERIES_SHOWN;
          return el('div', 'metric-body', m.description ? el('p', 'muted', m.description) : null,
            el('p', 'muted', 'Prometheus: ', el('code', null, m.prometheus.family)),
            table(['attributes', 'value', 'updated'], rows),
            more > 0 ? el('p', 'muted', '… and ' + more + ' more series (see api/v1/snapshot)') : null);
        }, 'metric')))
    , 'all-metrics');
  }

  function lastUpdate(svc) {
    let t = NaN;
    for (const m of svc.metrics) for (const s of m.series) {
      const u = time(s.last_update);
      if (!(u <= t)) t = u;
    }
    return t;
  }

  function serviceCard(svc, si, now) {
    const nameHit = matches(svc.service, svc.instance || '', svc.job || '');
    const shown = svc.metrics.filter((m) => nameHit || matches(m.name));
    const f = classify(svc.metrics);
    const workers = f.process ? [...f.process].map(([p, fam]) => workersView(svc, p, fam)).filter(Boolean) : [];
    if (!nameHit && !shown.length && !workers.length) return null;
    const views = [];
    const each = (family, view) => {
      for (const [prefix, fam] of f[family] || []) views.push(view(svc, prefix, fam, now));
    };
    each('health', healthView);
    views.push(...workers);
    each('lifecycle', lifecycleView);
    each('sweep', sweepView);
    each('liveness', livenessView);
    each('genai', genaiView);
    each('http', httpView);
    const card = el('section', 'panel service',
      el('h3', null, svc.service, svc.instance ? el('span', 'muted', ' · ' + svc.instance) : null,
        el('span', 'muted right', 'updated ' + ago((now - lastUpdate(svc)) / 1000))),
      svc.error ? el('p', 'error', svc.error) : null,
      views.length ? el('div', 'views', ...views) : el('p', 'muted', 'No Vigil SDK families; see all metrics below.'),
      metricsList(svc, si, shown, now));
    card.id = 'service-' + si;
    return data(card, { service: svc.service });
  }

  function overview(doc, now) {
    const rows = doc.services.map((svc, si) => {
      if (!matches(svc.service, svc.instance || '', svc.job || '', ...svc.metrics.map((m) => m.name))) return null;
      const link = el('a', null, svc.service);
      link.href = '#service-' + si;
      return data(row([el('td', 'name', link), el('td', 'small muted', svc.instance || '–'), num(ago((now - lastUpdate(svc)) / 1000)), num(fmt(svc.metrics.length))],
        svc.error ? 'bad' : null), { service: svc.service });
    }).filter(Boolean);
    return [el('h2', null, 'Services ', el('span', 'muted', String(doc.services.length))),
      rows.length ? table(['service', 'instance', 'last update', 'metrics'], rows)
        : el('p', 'muted', doc.services.length ? 'No service matches the filter.' : 'No service has sent metrics yet.')];
  }

  // === The collector's own figures (api/v1/self) ===

  const norm = (name) => name.replace(/\./g, '_').replace(/_total$/, '').replace(/_(bytes|seconds)$/, '');
  function selfSeries(doc, name) {
    const out = [];
    for (const svc of doc.services || []) for (const m of svc.metrics || []) {
      if (norm(m.name) === norm(name)) out.push(...m.series);
    }
    return out;
  }
  function selfSum(doc, name, tag) {
    let v = 0;
    let t = NaN;
    const list = selfSeries(doc, name);
    for (const s of list) {
      v += value(s.value);
      t = Number.isNaN(t) ? time(s.last_update) : Math.max(t, time(s.last_update));
    }
    if (!list.length) return { v: NaN, r: null };
    return { v, r: tag ? rate('self\u0000' + name, v, Number.isFinite(t) ? t : time(doc.generated_at)) : null };
  }
  function tile(label, main, sub, cls) {
    return el('div', 'tile' + (cls ? ' ' + cls : ''), el('div', 'tile-label', label), el('div', 'tile-value', main),
      sub ? el('div', 'tile-sub muted', sub) : null);
  }
  function collectorView() {
    const node = document.getElementById('collector');
    const doc = state.self;
    if (!doc) {
      node.replaceChildren(el('h2', null, 'Collector'), el('p', 'muted unavailable', 'collector figures unavailable',
        state.selfProblem && state.selfProblem !== 'loading' ? ' (' + state.selfProblem + ')' : ''));
      node.dataset.state = state.selfProblem === 'loading' ? 'loading' : 'unavailable';
      return;
    }
    const tiles = [];
    for (const [signal, unit] of [['metric_points', 'points'], ['spans', 'spans'], ['log_records', 'log records']]) {
      const ok = selfSum(doc, 'otelcol_receiver_accepted_' + signal, true);
      const refused = selfSum(doc, 'otelcol_receiver_refused_' + signal, true);
      if (Number.isNaN(ok.v) && Number.isNaN(refused.v)) continue;
      tiles.push(tile(unit + '/s accepted', ok.r === null ? '…' : fmt(ok.r, 1), 'total ' + fmt(ok.v)));
      tiles.push(tile(unit + '/s refused', refused.r === null ? '…' : fmt(refused.r, 1), 'total ' + fmt(refused.v),
        refused.r > 0 ? 'bad' : null));
    }
    const seriesHeld = selfSum(doc, 'vigil_store_series');
    if (!Number.isNaN(seriesHeld.v)) tiles.push(tile('series held', fmt(seriesHeld.v), null));
    const rss = selfSum(doc, 'otelcol_process_memory_rss');
    if (!Number.isNaN(rss.v)) tiles.push(tile('memory (RSS)', bytes(rss.v), null));
    const cpu = selfSum(doc, 'otelcol_process_cpu_seconds', true);
    if (!Number.isNaN(cpu.v)) tiles.push(tile('CPU', cpu.r === null ? '…' : pct(100 * cpu.r), 'total ' + fmt(cpu.v, 1) + ' s'));
    const up = selfSum(doc, 'otelcol_process_uptime');
    if (!Number.isNaN(up.v)) tiles.push(tile('uptime', ago(up.v).replace(' ago', ''), null));
    const caps = new Map(selfSeries(doc, 'otelcol_exporter_queue_capacity').map((s) => [attr(s, 'exporter'), value(s.value)]));
    const queues = selfSeries(doc, 'otelcol_exporter_queue_size').map((s) => {
      const exporter = attr(s, 'exporter');
      const cap = caps.get(exporter);
      const fill = cap > 0 ? value(s.value) / cap : NaN;
      const bar = el('meter');
      bar.min = 0;
      bar.max = 1;
      bar.high = 0.8;
      bar.optimum = 0;
      bar.value = Number.isFinite(fill) ? fill : 0;
      return data(row([exporter, bar, num(pct(100 * fill)), num(fmt(value(s.value)) + ' / ' + fmt(cap))],
        fill > 0.8 ? 'bad' : null), { exporter });
    });
    node.replaceChildren(el('h2', null, 'Collector'), el('div', 'tiles', ...tiles),
      queues.length ? table(['exporter queue', 'fill', '', 'size / capacity'], queues) : null);
    node.dataset.state = 'available';
  }

  // === Polling ===

  async function getJson(url) {
    try {
      const response = await fetch(url, { cache: 'no-store', credentials: 'same-origin', headers: { Accept: 'application/json' } });
      if (!response.ok) return { problem: 'HTTP ' + response.status };
      return { doc: await response.json() };
    } catch (e) {
      return { problem: e instanceof SyntaxError ? 'not JSON' : 'unreachable' };
    }
  }

  function render() {
    const status = document.getElementById('status');
    const doc = state.snapshot;
    collectorView();
    if (!doc || !Array.isArray(doc.services)) {
      status.dataset.state = 'error';
      status.textContent = 'snapshot unavailable' + (state.snapshotProblem ? ' (' + state.snapshotProblem + ')' : '');
      return;
    }
    const now = time(doc.generated_at);
    document.getElementById('overview').replaceChildren(...overview(doc, now));
    const cards = doc.services.map((svc, si) => serviceCard(svc, si, now)).filter(Boolean);
    document.getElementById('services').replaceChildren(...cards);
    status.dataset.state = state.snapshotProblem ? 'error' : 'ok';
    status.textContent = (state.snapshotProblem ? 'stale (' + state.snapshotProblem + ') · ' : '') +
      'updated ' + new Date(now).toLocaleTimeString();
  }

  async function poll() {
    if (!document.hidden) {
      const [snap, self] = await Promise.all([getJson('api/v1/snapshot'), getJson('api/v1/self')]);
      if (snap.doc) state.snapshot = snap.doc;
      state.snapshotProblem = snap.problem || null;
      state.self = self.doc && Array.isArray(self.doc.services) ? self.doc : null;
      state.selfProblem = self.problem || (self.doc ? 'unexpected document' : null);
      try {
        render();
      } finally {
        pruneRates();
      }
      document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
    }
    setTimeout(poll, POLL_MS);
  }

  document.getElementById('filter').addEventListener('input', (e) => {
    state.filter = e.target.value.trim().toLowerCase();
    render();
  });
  poll();
})();
