// A webhook's delivery log: newest first, filtered by outcome, paged by
// "next"; each attempt expands to the request as sent and the answer.

import {api, q, isAbort} from './api.js';
import {h, fill, uid} from './dom.js';
import * as fmt from './format.js';
import {outcomeBadge, showError} from './ui.js';

const enc = encodeURIComponent;
const PAGE = 25;

// deliveryLog renders the log of webhook id into section. load() reads the
// first page; new attempts are added on top every 5 s.
export function deliveryLog(section, id, view) {
  const filter = h('select', {id: 'log-filter'},
    h('option', {value: ''}, 'All outcomes'),
    h('option', {value: 'success'}, 'Success'),
    h('option', {value: 'failed'}, 'Failed (HTTP error)'),
    h('option', {value: 'error'}, 'Error (no answer)'));
  const tbody = h('tbody');
  const status = h('p', {class: 'hint', role: 'status'});
  const more = h('button', {type: 'button', hidden: true, id: 'log-more', onclick: () => page(false)}, 'Load older attempts');
  const refreshBtn = h('button', {type: 'button', class: 'small', onclick: () => load()}, 'Refresh');
  const table = h('table', {class: 'list attempts', id: 'attempts-table'},
    h('caption', {class: 'sr-only'}, 'Delivery attempts, newest first'),
    h('thead', null, h('tr', null,
      h('th', {scope: 'col'}, 'Time'), h('th', {scope: 'col'}, 'Event'), h('th', {scope: 'col'}, 'Attempt'),
      h('th', {scope: 'col'}, 'Outcome'), h('th', {scope: 'col'}, 'Status'), h('th', {scope: 'col'}, 'Latency'),
      h('th', {scope: 'col'}, h('span', {class: 'sr-only'}, 'Details')))),
    tbody);
  let next = '';
  let newest = null; // the newest attempt shown
  let loading = false;

  filter.addEventListener('change', () => load());
  fill(section,
    h('div', {class: 'page-head'}, h('h2', {id: 'log-title'}, 'Delivery log'),
      h('div', {class: 'row'}, h('label', {for: 'log-filter'}, 'Show'), filter, refreshBtn)),
    h('div', {class: 'table-wrap'}, table), status, more);

  async function fetchPage(before) {
    return api('GET', '/v1/webhooks/' + enc(id) + '/attempts' + q({status: filter.value, limit: PAGE, before}), undefined, {signal: view.signal});
  }

  // load reads the newest page, replacing what is shown.
  async function load() {
    loading = true;
    try {
      status.textContent = 'Loading…';
      const res = await fetchPage('');
      tbody.replaceChildren();
      for (const a of res.data) tbody.append(...attemptRows(a));
      newest = res.data.length ? res.data[0] : null;
      next = res.next;
      more.hidden = !next;
      status.textContent = res.data.length ? '' : (filter.value ? 'No ' + filter.value + ' attempts.' : 'No attempts yet: deliveries appear here as they are made.');
    } catch (err) {
      if (!isAbort(err)) showError(status, err);
    } finally {
      loading = false;
    }
  }

  // page appends the next older page.
  async function page() {
    more.disabled = true;
    try {
      const res = await fetchPage(next);
      for (const a of res.data) tbody.append(...attemptRows(a));
      next = res.next;
      more.hidden = !next;
    } catch (err) {
      if (!isAbort(err)) showError(status, err);
    } finally {
      more.disabled = false;
    }
  }

  // refresh puts attempts newer than those shown on top, leaving the rest
  // (and anything expanded) alone.
  async function refresh() {
    if (loading) return;
    const res = await fetchPage('');
    const fresh = res.data.filter((a) => newer(a, newest));
    if (!fresh.length) return;
    if (newest === null || (fresh.length === res.data.length && res.next)) {
      // Nothing shown yet, or more new attempts than a page: start over.
      await load();
      return;
    }
    tbody.prepend(...fresh.flatMap(attemptRows));
    newest = fresh[0];
  }

  // newer says attempt a is later in the log than b (or b is null): by the
  // sequence of the message holding it, then by its index there.
  function newer(a, b) {
    return b === null || a.seq > b.seq || (a.seq === b.seq && a.index > b.index);
  }

  view.every(5000, refresh);

  // attemptRows is an attempt's row and its (hidden) detail row.
  function attemptRows(a) {
    const detailId = uid('attempt');
    const cell = h('td', {colspan: 7});
    const detail = h('tr', {class: 'detail', id: detailId, hidden: true}, cell);
    let loaded = false;
    const btn = h('button', {type: 'button', class: 'small', 'aria-expanded': 'false', 'aria-controls': detailId,
      'aria-label': 'Details of ' + a.event_type + ' attempt ' + a.attempt + ' at ' + fmt.time(a.at),
      onclick: async () => {
        const open = btn.getAttribute('aria-expanded') !== 'true';
        btn.setAttribute('aria-expanded', String(open));
        btn.textContent = open ? 'Hide' : 'Details';
        detail.hidden = !open;
        if (open && !loaded) {
          loaded = true;
          fill(cell, h('p', {class: 'hint'}, 'Loading…'));
          try {
            renderDetail(cell, await api('GET', '/v1/webhooks/' + enc(id) + '/attempts/' + a.id, undefined, {signal: view.signal}));
          } catch (err) {
            loaded = false;
            if (!isAbort(err)) showError(cell, err);
          }
        }
      }}, 'Details');
    const row = h('tr', {'data-attempt': a.id, 'data-outcome': a.outcome, 'data-event-type': a.event_type, 'data-event-id': a.event_id},
      h('td', {'data-label': 'Time'}, h('time', {datetime: a.at, title: fmt.ago(a.at)}, fmt.time(a.at))),
      h('td', {'data-label': 'Event'}, h('span', {class: 'event-type'}, a.event_type), a.final ? h('span', {class: 'hint'}, ' (last try)') : null),
      h('td', {'data-label': 'Attempt'}, '#' + a.attempt),
      h('td', {'data-label': 'Outcome'}, outcomeBadge(a.outcome)),
      h('td', {'data-label': 'Status'}, a.status_code ? String(a.status_code) : '—'),
      h('td', {'data-label': 'Latency'}, fmt.latency(a.latency_ms)),
      h('td', null, btn));
    return [row, detail];
  }

  // renderDetail shows one attempt expanded: the request as sent (the API
  // masks signatures and custom header values), its body and the answer.
  function renderDetail(cell, d) {
    const headers = Object.keys(d.request_headers || {}).sort();
    const resendStatus = h('span', {role: 'status'});
    const resend = d.resendable ? h('button', {type: 'button', class: 'small', onclick: async () => {
      resend.disabled = true;
      try {
        const r = await api('POST', '/v1/webhooks/' + enc(id) + '/attempts/' + d.id + '/resend');
        resendStatus.textContent = 'Queued again (delivery ' + r.delivery_id + '); the new attempt appears at the top of this log.';
      } catch (err) {
        resend.disabled = false;
        showError(resendStatus, err);
      }
    }}, 'Resend') : null;
    let body;
    if (d.body !== null && d.body !== undefined) {
      body = h('pre', {class: 'excerpt body'}, JSON.stringify(d.body, null, 2));
    } else {
      body = h('p', {class: 'hint'}, d.body_note || 'Not kept.');
    }
    fill(cell, h('div', {class: 'attempt-detail'},
      h('dl', {class: 'settings compact'},
        h('dt', null, 'Delivery ID'), h('dd', null, h('code', null, d.delivery_id)),
        h('dt', null, 'Event ID'), h('dd', null, h('code', null, d.event_id)),
        h('dt', null, 'URL'), h('dd', null, h('span', {class: 'url'}, d.url)),
        d.error ? [h('dt', null, 'Error'), h('dd', {class: 'error-text'}, d.error)] : null),
      h('div', {class: 'detail-grid'},
        h('div', null, h('h3', null, 'Request headers'),
          h('table', {class: 'headers'}, h('tbody', null, headers.map((k) =>
            h('tr', null, h('th', {scope: 'row'}, k), h('td', null, d.request_headers[k])))))),
        h('div', null, h('h3', null, 'Request body'), body)),
      h('h3', null, 'Response'),
      d.response ? h('pre', {class: 'excerpt'}, d.response) : h('p', {class: 'hint'}, d.status_code ? 'Empty body.' : 'No answer.'),
      resend ? h('div', {class: 'row'}, resend, resendStatus) : h('p', {class: 'hint'}, 'Hookstream\'s own events (ping, test) are not kept, so they cannot be resent.')));
  }

  return {load, refresh};
}
