// The commissioners' dashboard: reads /api/reports/summary with the report token and draws every
// chart as inline SVG. No library and no network beyond this service (CSP script-src 'self').
const SVG = 'http://www.w3.org/2000/svg';
const $ = (id) => document.getElementById(id);
const HIDDEN = 'suppressed';

const el = (tag, attrs = {}, text) => {
  const node = tag.startsWith('svg:')
    ? document.createElementNS(SVG, tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = String(text);
  return node;
};
const show = (value, unit = '') => (value === null || value === undefined ? HIDDEN : `${value}${unit}`);
/** A median, or why it is not shown: over a few values it is one person's own. */
const showMedian = (value, unit, atLeast, of) =>
  value === null || value === undefined
    ? `${HIDDEN} (shown over at least ${atLeast} ${of})`
    : `${value}${unit}`;

function token() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) {
    sessionStorage.setItem('reports-token', fromHash);
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem('reports-token');
}

function query() {
  const q = new URLSearchParams({ from: $('from').value, to: $('to').value });
  const districts = $('districts').value.trim();
  if (districts) q.set('districts', districts.toUpperCase().replace(/\s+/g, ''));
  return q;
}

async function get(path) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${token()}` } });
  if (res.status === 401) {
    sessionStorage.removeItem('reports-token');
    throw new Error('That token is not accepted: sign in again.');
  }
  if (!res.ok) throw new Error((await res.json().catch(() => ({}))).message ?? `HTTP ${res.status}`);
  return res;
}

/** Cells keyed by device kind, keyed by the kinds in words (`deviceKinds`) for people to read. */
const inWords = (cells, words) =>
  Object.fromEntries(Object.entries(cells).map(([kind, n]) => [words[kind] ?? kind, n]));

/** Horizontal bars, one per cell; a suppressed cell is a grey stub labelled as such. */
function bars(cells, options = {}) {
  const entries = Object.entries(cells);
  const max = Math.max(1, ...entries.map(([, v]) => v ?? 0), options.max ?? 0);
  const row = 22;
  const svg = el('svg:svg', { viewBox: `0 0 400 ${entries.length * row + 6}`, role: 'img' });
  entries.forEach(([name, value], i) => {
    const y = i * row + 3;
    svg.append(el('svg:text', { x: 0, y: y + 14 }, name));
    const width = value === null ? 6 : Math.max(1, (value / max) * 200);
    svg.append(
      el('svg:rect', { x: 150, y, width, height: 16, class: value === null ? 'bar hidden' : 'bar' }),
    );
    svg.append(el('svg:text', { x: 156 + width, y: y + 14 }, show(value, options.unit)));
  });
  if (options.target !== undefined) {
    const x = 150 + (options.target / max) * 200;
    svg.append(el('svg:line', { x1: x, x2: x, y1: 0, y2: entries.length * row + 6, class: 'target' }));
  }
  return svg;
}

/** A line over months with an optional dashed target line; gaps where a value is suppressed. */
function line(months, values, options = {}) {
  const w = 400;
  const h = 160;
  const pad = 30;
  const top = Math.max(1, ...values.map((v) => v ?? 0), options.target ?? 0) * 1.05;
  const bottom = options.floor ?? 0;
  const x = (i) =>
    pad + (months.length === 1 ? (w - 2 * pad) / 2 : (i * (w - 2 * pad)) / (months.length - 1));
  const y = (v) => h - pad - ((v - bottom) / (top - bottom)) * (h - 2 * pad);
  const svg = el('svg:svg', { viewBox: `0 0 ${w} ${h}`, role: 'img' });
  let d = '';
  values.forEach((v, i) => {
    if (v === null) return;
    d += `${d && values[i - 1] !== null ? 'L' : 'M'}${x(i)},${y(v)}`;
    svg.append(el('svg:circle', { cx: x(i), cy: y(v), r: 3, class: 'bar' }));
    svg.append(el('svg:text', { x: x(i) - 10, y: y(v) - 6 }, v));
  });
  svg.prepend(el('svg:path', { d, class: 'line' }));
  if (options.target !== undefined)
    svg.append(
      el('svg:line', { x1: pad, x2: w - pad, y1: y(options.target), y2: y(options.target), class: 'target' }),
    );
  months.forEach((m, i) => {
    svg.append(el('svg:text', { x: x(i) - 18, y: h - 8 }, m));
  });
  svg.append(el('svg:text', { x: 0, y: 12 }, options.title ?? ''));
  return svg;
}

function target(name, t) {
  return el(
    'p',
    {},
    `${name}: ${show(t.percent, ' %')} of ${show(t.of)} (target ${t.target} %${
      t.achieved === null ? '' : t.achieved ? ', met' : ', not met'
    })`,
  );
}

function districtGrid(demand) {
  const grid = el('div', { class: 'grid' });
  const max = Math.max(1, ...demand.districts.map((d) => demand.alerts.cells[d] ?? 0));
  for (const d of demand.districts) {
    const alerts = demand.alerts.cells[d];
    const shade = alerts === null ? 0.25 : 0.3 + 0.7 * (alerts / max);
    const tile = el('div', { class: 'district', 'data-district': d });
    tile.style.background = `rgba(26, 115, 232, ${shade.toFixed(2)})`;
    tile.append(
      el('strong', {}, d),
      el('span', {}, `${show(alerts)} alerts · ${show(demand.residents.cells[d])} residents`),
    );
    grid.append(tile);
  }
  return grid;
}

/** Downloads `path` as `name`, or says in `status` why it could not (a commissioner's token). */
async function download(path, name, status) {
  try {
    const blob = await (await get(path)).blob();
    const link = el('a', { href: URL.createObjectURL(blob), download: name });
    link.click();
    URL.revokeObjectURL(link.href);
    if (status) status.textContent = '';
  } catch (err) {
    if (!status) throw err;
    status.textContent = err.message;
  }
}

function csvLink(chart) {
  const a = el('a', { href: '#', class: 'csv' }, `Download ${chart}.csv`);
  a.addEventListener('click', async (event) => {
    event.preventDefault();
    await download(`/api/reports/csv/${chart}?${query()}`, `${chart}.csv`);
  });
  return a;
}

function tile(name, value) {
  const t = el('div', { class: 'tile' });
  t.append(el('div', { class: 'value' }, value), el('div', { class: 'name' }, name));
  return t;
}

function render(s) {
  // The period counted: whole calendar months, which may be wider than the dates picked.
  $('period-title').textContent =
    `${s.period.from.slice(0, 10)} to ${s.period.to.slice(0, 10)} (whole months, counts rounded to ${s.roundedTo})${
      s.districts ? ` · ${s.districts.join(', ')}` : ' · all districts'
    }`;
  $('tiles').replaceChildren(
    tile('active residents', show(s.residents.active)),
    tile('devices', show(s.residents.devices)),
    tile('alerts per 1,000 residents', show(s.alerts.per1000)),
    tile('alarm calls answered in 60 s', show(s.answer.within60s.percent, ' %')),
    tile('responders on site in 45 min', show(s.attendance.within45m.percent, ' %')),
    tile('falls per 1,000 residents', show(s.falls.per1000)),
  );
  const body = {
    trend: [
      line(s.trend.months, s.trend.within60sPercent, {
        target: 97.5,
        floor: 0,
        title: '% of alarm calls answered in 60 s (target 97.5 %)',
      }),
      line(s.trend.months, s.trend.alertsPer1000, { title: 'alerts per 1,000 active residents' }),
    ],
    answer: [
      bars(
        { 'within 60 s': s.answer.within60s.percent, 'within 180 s': s.answer.within180s.percent },
        { max: 100, unit: ' %' },
      ),
      target('Within 60 s', s.answer.within60s),
      target('Within 180 s', s.answer.within180s),
      el(
        'p',
        {},
        `Median answer: ${showMedian(s.answer.medianSeconds, ' s', s.medianAtLeast, 'answered calls')}`,
      ),
    ],
    attendance: [
      bars(
        { 'within 45 min': s.attendance.within45m.percent, 'within 60 min': s.attendance.within60m.percent },
        { max: 100, unit: ' %', target: 90 },
      ),
      target('Within 45 min', s.attendance.within45m),
      target('Within 60 min', s.attendance.within60m),
      el(
        'p',
        {},
        `Median time to on site: ${showMedian(s.attendance.medianMinutes, ' min', s.medianAtLeast, 'visits')}`,
      ),
    ],
    'alerts-by-type': [bars(s.alerts.byType.cells)],
    outcomes: [bars(s.outcomes.cells)],
    falls: [bars(s.falls.byAmbulance.cells), el('p', {}, `Falls: ${show(s.falls.byAmbulance.total)}`)],
    'time-on-floor': [
      bars(s.falls.timeOnFloor.cells),
      el(
        'p',
        {},
        `Median time on the floor: ${showMedian(s.falls.medianMinutesOnFloor, ' min', s.medianAtLeast, 'falls with a time on the floor')}`,
      ),
    ],
    faults: [
      bars(s.faults.byType.cells),
      el(
        'p',
        {},
        `Supervision losses: ${show(s.faults.supervisionLosses)} · late deliveries: ${show(s.faults.lateDeliveries)}`,
      ),
      el(
        'p',
        { 'data-figure': 'supervision-by-kind' },
        `Devices gone silent, by kind: ${
          Object.entries(inWords(s.faults.supervisionLossesByKind.cells, s.deviceKinds))
            .map(([kind, n]) => `${kind} ${show(n)}`)
            .join(' · ') || 'none'
        }`,
      ),
    ],
    technology: [bars(inWords(s.residents.technology.cells, s.deviceKinds))],
    demand: [districtGrid(s.demand)],
    clusters: [el('ol', {})],
  };
  for (const c of s.demand.clusters)
    body.clusters[0].append(el('li', {}, `${c.districts.join(', ')} — ${show(c.alerts)} alerts: ${c.why}`));
  renderModelled(s.modelled);
  for (const section of document.querySelectorAll('section.chart[data-chart]')) {
    const chart = section.dataset.chart;
    section.querySelector('.body').replaceChildren(...(body[chart] ?? []), csvLink(chart));
  }
  $('notes')
    .querySelector('ul')
    .replaceChildren(
      ...s.notes.map((n) => el('li', {}, `${n.what}: ${show(n.count)} — ${n.why}`)),
      el('li', {}, `Suppression and rounding: ${s.suppression}.`),
    );
  $('report').hidden = false;
}

function renderModelled(m) {
  $('modelled').hidden = m === null;
  if (m === null) return;
  $('modelled')
    .querySelector('.body')
    .replaceChildren(
      el('p', {}, `Bed days: ${show(m.bedDays)} · cost: ${show(m.cost)}`),
      el('p', {}, `Method: ${m.method}.`),
      el(
        'p',
        {},
        `Inputs: ${show(m.inputs.longLies)} long lies (over ${m.inputs.longLieMinutes} min on the floor), measured.`,
      ),
      el(
        'p',
        {},
        `Assumptions (configured, not measured): ${m.assumptions.extraBedDaysPerLongLie} extra bed days per long lie; ${m.assumptions.costPerBedDay} per bed day.`,
      ),
      el('p', { class: 'muted' }, m.caveat),
      csvLink('modelled'),
    );
}

/**
 * Intervals on one axis with zero marked: each row a 95 % interval and its mean, so an interval
 * that crosses zero is seen to.
 */
function intervals(rows) {
  const shown = rows.filter(([, m]) => m);
  const reach = Math.max(1, ...shown.flatMap(([, m]) => [Math.abs(m.low), Math.abs(m.high)]));
  const row = 22;
  const x = (v) => 250 + (v / reach) * 140;
  const svg = el('svg:svg', { viewBox: `0 0 400 ${rows.length * row + 6}`, role: 'img', class: 'intervals' });
  svg.append(el('svg:line', { x1: x(0), x2: x(0), y1: 0, y2: rows.length * row + 6, class: 'target zero' }));
  svg.append(el('svg:text', { x: x(0) + 3, y: rows.length * row + 4 }, '0'));
  rows.forEach(([name, m], i) => {
    const y = i * row + 14;
    svg.append(el('svg:text', { x: 0, y: y + 4 }, name));
    if (!m) {
      svg.append(el('svg:text', { x: 110, y: y + 4 }, HIDDEN));
      return;
    }
    svg.append(el('svg:line', { x1: x(m.low), x2: x(m.high), y1: y, y2: y, class: 'line interval' }));
    svg.append(el('svg:circle', { cx: x(m.mean), cy: y, r: 4, class: 'bar' }));
  });
  return svg;
}

const interval = (m) => (m ? `${m.mean} (95 % interval ${m.low} to ${m.high})` : HIDDEN);

/**
 * A before/after figure (bed days, care hours) into its section: the installed residents, the
 * comparison group of residents referred and still waiting with the difference in differences
 * (or why there is none), the caveat, and the CSV.
 */
function renderBeforeAfter(id, b, what, before, after) {
  const rows = b.windows.flatMap((w) => {
    const installed = el(
      'p',
      { class: 'installed' },
      `${w.months} months: ${show(w.residents)} residents installed · ${what} before ${show(w[before])}, after ${show(
        w[after],
      )} · change per resident ${interval(w.meanChange)}`,
    );
    const c = w.comparison;
    const means = {
      'installed, before': w.meanBefore,
      'installed, after': w.meanAfter,
      ...(c ? { 'waiting, before': c.meanBefore, 'waiting, after': c.meanAfter } : {}),
    };
    const chart = bars(means);
    chart.setAttribute('aria-label', `${what} per resident, ${w.months} months`);
    // With a comparison, both changes are from the residents' referral, as the difference is.
    const changes = intervals(
      c
        ? [
            ['installed change', c.installedMeanChange],
            ['waiting change', c.meanChange],
            ['difference', c.difference],
          ]
        : [['installed change', w.meanChange]],
    );
    changes.setAttribute('aria-label', `change per resident and its 95 % interval, ${w.months} months`);
    const charts = el('div', { class: 'before-after' });
    charts.append(chart, changes);
    if (!c) return [installed, charts];
    return [
      installed,
      el(
        'p',
        { class: 'comparison' },
        `Comparison: ${show(c.residents)} residents referred and not yet installed, over the same ${w.months} months around their referral · ${what} before ${show(c.before)}, after ${show(c.after)} · change per resident ${interval(c.meanChange)}`,
      ),
      el(
        'p',
        { class: 'comparison' },
        `Installed residents over the same ${w.months} months around their referral: ${show(c.installedResidents)} · change per resident ${interval(c.installedMeanChange)}${
          c.installedWithoutReferral === 0
            ? ''
            : ` · left out, no referral date recorded: ${show(c.installedWithoutReferral)}`
        }`,
      ),
      el(
        'p',
        { class: 'difference' },
        `Difference in differences (installed − waiting, from the referral) per resident: ${interval(c.difference)}`,
      ),
      charts,
    ];
  });
  const first = b.windows[0];
  const why = first?.comparisonWhy;
  // What is rounded and why, in words: the figures are safe to set beside last month's.
  const rounding = first
    ? `Residents whose window ended by ${first.asOf} (the figure changes once a month). Residents are rounded to ${first.roundedTo.residents} and ${what} to ${first.roundedTo.total}, with fewer than 5 residents suppressed; means and changes are worked from the rounded figures, and each interval is widened to hold what the rounding can move. So one month's figure less the last tells one newcomer's ${what} only to within about ${first.roundedTo.total}: a small one is hidden, a large one narrowed, not hidden.`
    : '';
  $(id)
    .querySelector('.body')
    .replaceChildren(
      ...rows,
      el('p', { class: 'muted rounding' }, rounding),
      el('p', { class: 'muted' }, first?.comparison ? first.comparison.method : ''),
      el(
        'p',
        { class: 'muted caveat' },
        first ? `${first.caveat}${why ? ` ${why.charAt(0).toUpperCase()}${why.slice(1)}.` : ''}` : '',
      ),
      csvLink(id),
    );
}

/** Care hours need the registry: without it the section says why, and the rest still loads. */
async function loadCareHours(path) {
  const body = $('care-hours').querySelector('.body');
  try {
    const hours = await (await get(path)).json();
    if (hours.available)
      renderBeforeAfter('care-hours', hours, 'care hours', 'careHoursBefore', 'careHoursAfter');
    else body.replaceChildren(el('p', { class: 'muted' }, `Not available: ${hours.why}`));
  } catch (err) {
    body.replaceChildren(el('p', { class: 'muted' }, `Not available: ${err.message}`));
  }
}

async function load() {
  $('status').textContent = 'Loading…';
  try {
    render(await (await get(`/api/reports/summary?${query()}`)).json());
    const districts = query().get('districts');
    const scope = districts ? `?districts=${districts}` : '';
    renderBeforeAfter(
      'bed-days',
      await (await get(`/api/reports/bed-days${scope}`)).json(),
      'bed days',
      'bedDaysBefore',
      'bedDaysAfter',
    );
    await loadCareHours(`/api/reports/care-hours${scope}`);
    $('status').textContent = '';
    document.body.dataset.ready = 'true';
  } catch (err) {
    $('status').textContent = err.message;
    if (!token()) start();
  }
}

function start() {
  if (!token()) {
    $('signin').hidden = false;
    $('filters').hidden = true;
    return;
  }
  $('signin').hidden = true;
  $('filters').hidden = false;
  const params = new URLSearchParams(location.search);
  const now = new Date();
  const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const lastMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
  $('from').value = params.get('from') ?? lastMonth.toISOString().slice(0, 10);
  $('to').value = params.get('to') ?? monthStart.toISOString().slice(0, 10);
  $('districts').value = params.get('districts') ?? '';
  void load();
}

$('episodes-csv').addEventListener('click', (event) => {
  event.preventDefault();
  void download(`/api/reports/episodes.csv?${query()}`, 'episodes.csv', $('episodes-status'));
});

$('signin').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem('reports-token', $('token').value.trim());
  start();
});
$('filters').addEventListener('submit', (event) => {
  event.preventDefault();
  history.replaceState(null, '', `?${query()}`);
  void load();
});
$('print').addEventListener('click', () => window.print());
start();
