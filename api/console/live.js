// The live view: the tenant's delivery attempts per second over the last
// minutes, stacked by outcome class, drawn as SVG and refreshed every 5 s.

import {api} from './api.js';
import {h, s, fill} from './dom.js';
import * as fmt from './format.js';

const CLASSES = [
  ['2xx', 'delivered (2xx)'],
  ['3xx', 'redirect (3xx, retried)'],
  ['4xx', 'client error (4xx)'],
  ['5xx', 'server error (5xx)'],
  ['error', 'no answer (timeout, refused)'],
];

export async function liveView(view) {
  const minutes = h('select', {id: 'live-minutes'},
    [5, 15, 30, 60].map((m) => h('option', {value: m, selected: m === 15}, 'last ' + m + ' minutes')));
  const figures = h('dl', {class: 'figures', id: 'live-figures'});
  const chart = h('div', {class: 'chart', id: 'live-chart'});
  const legend = h('ul', {class: 'legend', 'aria-label': 'Legend'},
    CLASSES.map(([k, label]) => h('li', null, h('span', {class: 'swatch c-' + k, 'aria-hidden': 'true'}), label)));
  const updated = h('p', {class: 'hint', id: 'live-updated'});
  let last = null;

  fill(view.main,
    h('div', {class: 'page-head'}, h('h1', null, 'Live deliveries'),
      h('div', {class: 'row'}, h('label', {for: 'live-minutes'}, 'Show'), minutes)),
    figures,
    h('section', {class: 'card', 'aria-labelledby': 'chart-title'},
      h('h2', {id: 'chart-title'}, 'Attempts per second, by outcome'), chart, legend, updated));

  async function load() {
    last = await api('GET', '/v1/stats/deliveries?minutes=' + minutes.value, undefined, {signal: view.signal});
    draw();
  }

  function draw() {
    if (!last) return;
    const interval = last.interval_seconds || 10;
    const n = Math.round(Number(minutes.value) * 60 / interval);
    const step = interval * 1000;
    // Slots are the last n complete intervals; the one now running has no
    // counts yet.
    const running = Math.floor(Date.now() / step) * step;
    const first = running - n * step;
    const slots = Array.from({length: n}, (_, i) => ({start: first + i * step, counts: {}, total: 0}));
    let retried = 0;
    let dead = 0;
    let total = 0;
    let ok = 0;
    for (const b of last.buckets) {
      // A bucket is filed under the time its interval ends.
      const i = Math.round((new Date(b.start).getTime() - step - first) / step);
      if (i < 0 || i >= n) continue;
      for (const [k, v] of Object.entries(b.attempts || {})) {
        const key = CLASSES.some(([c]) => c === k) ? k : 'error';
        slots[i].counts[key] = (slots[i].counts[key] || 0) + v;
        slots[i].total += v;
        total += v;
        if (key === '2xx') ok += v;
      }
      retried += b.retried || 0;
      dead += b.dead_lettered || 0;
    }
    // "Now" is the rate of the last two complete intervals.
    const recent = slots.slice(-2).reduce((a, sl) => a + sl.total, 0) / (2 * interval);
    const figs = [
      ['Now', fmt.rate(recent) + ' /s'],
      ['Attempts', String(total)],
      ['Delivered', total ? fmt.percent(ok / total) : '—'],
      ['Retried', String(retried)],
      ['Dead-lettered', String(dead)],
    ];
    fill(figures, figs.map(([k, v]) => h('div', null, h('dt', null, k), h('dd', null, v))));
    fill(chart, svgChart(slots, interval, chart.clientWidth || 800, total));
    updated.textContent = 'Updated ' + fmt.time(new Date().toISOString()) + '. Senders report every ' + interval + ' s.';
  }

  minutes.addEventListener('change', () => load().catch(() => {}));
  const onResize = () => draw();
  window.addEventListener('resize', onResize);
  view.signal.addEventListener('abort', () => window.removeEventListener('resize', onResize));
  await load();
  view.every(5000, load);
}

// svgChart draws stacked bars of per-second rates, with axes and labels.
function svgChart(slots, interval, width, total) {
  const W = Math.max(300, Math.floor(width));
  const H = 260;
  const m = {left: 44, right: 12, top: 14, bottom: 30};
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const maxRate = Math.max(...slots.map((sl) => sl.total / interval), 0);
  const top = niceCeil(maxRate);
  const y = (v) => m.top + ph - (v / top) * ph;
  const slotW = pw / slots.length;
  const barW = Math.max(1, slotW * 0.8);

  const desc = total === 0 ? 'No delivery attempts in this period.' :
    total + ' attempts in this period, at most ' + fmt.rate(maxRate) + ' per second.';
  const out = s('svg', {width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-labelledby': 'chart-svg-title chart-svg-desc', class: 'live-chart'},
    s('title', {id: 'chart-svg-title'}, 'Delivery attempts per second, stacked by outcome class'),
    s('desc', {id: 'chart-svg-desc'}, desc));

  // Y axis: gridlines and labels at 0, half and top.
  for (const v of [0, top / 2, top]) {
    out.append(s('line', {x1: m.left, x2: W - m.right, y1: y(v), y2: y(v), class: 'grid'}),
      s('text', {x: m.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick'}, fmt.rate(v)));
  }
  out.append(s('text', {x: 4, y: m.top - 2, class: 'axis-title'}, '/s'));

  // Bars.
  slots.forEach((sl, i) => {
    if (!sl.total) return;
    const g = s('g', {class: 'bar', 'data-start': new Date(sl.start).toISOString()});
    let acc = 0;
    for (const [k] of CLASSES) {
      const v = sl.counts[k] || 0;
      if (!v) continue;
      const y0 = y((acc + v) / interval);
      const y1 = y(acc / interval);
      g.append(s('rect', {x: m.left + i * slotW + (slotW - barW) / 2, y: y0, width: barW, height: Math.max(1, y1 - y0), class: 'c-' + k}));
      acc += v;
    }
    const parts = CLASSES.filter(([k]) => sl.counts[k]).map(([k]) => k + ': ' + sl.counts[k]);
    g.append(s('title', null, fmt.clock(new Date(sl.start)) + ':' + String(new Date(sl.start).getSeconds()).padStart(2, '0') + ' — ' + parts.join(', ')));
    out.append(g);
  });

  // X axis: a baseline and a time label every few minutes.
  out.append(s('line', {x1: m.left, x2: W - m.right, y1: m.top + ph, y2: m.top + ph, class: 'axis'}));
  const minutes = slots.length * interval / 60;
  const every = minutes <= 5 ? 1 : minutes <= 15 ? 3 : minutes <= 30 ? 5 : 10; // minutes between labels
  slots.forEach((sl, i) => {
    const d = new Date(sl.start);
    if (d.getSeconds() !== 0 || d.getMinutes() % every !== 0) return;
    const x = m.left + i * slotW;
    out.append(s('line', {x1: x, x2: x, y1: m.top + ph, y2: m.top + ph + 4, class: 'axis'}),
      s('text', {x, y: H - 10, 'text-anchor': 'middle', class: 'tick'}, fmt.clock(d)));
  });
  return out;
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten (at least 1).
function niceCeil(v) {
  if (v <= 1) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const f of [1, 2, 5, 10]) if (f * p >= v) return f * p;
  return 10 * p;
}
