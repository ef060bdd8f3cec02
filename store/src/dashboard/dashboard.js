// Vigil's dashboard, part 3 of 3: polls api/v1/snapshot and api/v1/self
// every 2 s (relative URLs, same origin only) and redraws the page: the
// services overview, a card per service with its SDK views and all its
// metrics, and the collector's own figures. Times are shown relative to the
// snapshot's generated_at (the collector's clock, not the browser's).
'use strict';

(function () {
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
      rows.length ? table(['service', el('th', 'instance', 'instance'), 'last update', 'metrics'], rows)
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
    // replaceChildren would write a null as the text "null": only real nodes go in.
    const queueTable = queues.length ? [table(['exporter queue', 'fill', '', 'size / capacity'], queues)] : [];
    node.replaceChildren(el('h2', null, 'Collector'), el('div', 'tiles', ...tiles), ...queueTable);
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
    try {
      if (!document.hidden) {
        const [snap, self] = await Promise.all([getJson('api/v1/snapshot'), getJson('api/v1/self')]);
        if (snap.doc) state.snapshot = snap.doc;
        state.snapshotProblem = snap.problem || null;
        state.self = self.doc && Array.isArray(self.doc.services) ? self.doc : null;
        state.selfProblem = self.problem || (self.doc ? 'unexpected document' : null);
        render();
        document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
      }
    } catch (e) {
      // A document this page cannot draw must not stop the polling.
      const status = document.getElementById('status');
      status.dataset.state = 'error';
      status.textContent = 'cannot draw this snapshot: ' + String(e && e.message ? e.message : e);
    } finally {
      pruneRates();
      setTimeout(poll, POLL_MS);
    }
  }

  document.getElementById('filter').addEventListener('input', (e) => {
    state.filter = e.target.value.trim().toLowerCase();
    render();
  });
  poll();
})();
