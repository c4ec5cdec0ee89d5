// Dead letters: deliveries that used up their attempts, with why, and
// replaying them now (selected, all of a webhook, a time range).

import {api, q, isAbort} from './api.js';
import {h, fill, uid} from './dom.js';
import * as fmt from './format.js';
import {outcomeBadge, replayResultText, showError} from './ui.js';

const PAGE = 50;

// deadLettersView lists the tenant's dead letters, newest first;
// #/dead-letters?webhook=ID&since=…&until=… filters them.
export async function deadLettersView(view) {
  const {data: hooks} = await api('GET', '/v1/webhooks', undefined, {signal: view.signal});
  const names = new Map(hooks.map((w) => [w.id, w.name || w.id]));
  const params = view.query;

  const webhook = h('select', {id: 'dl-webhook'}, h('option', {value: ''}, 'All webhooks'),
    hooks.map((w) => h('option', {value: w.id, selected: params.get('webhook') === w.id}, (w.name || '(unnamed)') + ' — ' + w.id)));
  const since = h('input', {type: 'datetime-local', id: 'dl-since', step: 1, value: toLocalInput(params.get('since'))});
  const until = h('input', {type: 'datetime-local', id: 'dl-until', step: 1, value: toLocalInput(params.get('until'))});
  const nextReplay = h('p', {id: 'next-replay'});
  const result = h('div', {role: 'status', id: 'replay-result', class: 'inline-result'});
  const tbody = h('tbody');
  const status = h('p', {class: 'hint', role: 'status'});
  const selectAll = h('input', {type: 'checkbox', id: 'dl-select-all', 'aria-label': 'Select every dead letter shown'});
  const replaySelected = h('button', {type: 'button', class: 'primary', id: 'replay-selected', disabled: true, onclick: () => {
    const ids = [...tbody.querySelectorAll('input.pick:checked')].map((c) => c.value);
    replay({ids}, replaySelected);
  }}, 'Replay selected');
  const replayWebhook = h('button', {type: 'button', id: 'replay-webhook', onclick: () => replay({webhook_id: webhook.value}, replayWebhook)});
  const replayRange = h('button', {type: 'button', id: 'replay-range', onclick: () => {
    const body = {};
    if (since.value) body.since = new Date(since.value).toISOString();
    if (until.value) body.until = new Date(until.value).toISOString();
    if (webhook.value) body.webhook_id = webhook.value;
    replay(body, replayRange);
  }}, 'Replay this time range');
  const more = h('button', {type: 'button', id: 'dl-more', hidden: true, onclick: () => load(next)}, 'Load older dead letters');
  let next = '';

  const filters = h('form', {class: 'filters row wrap', id: 'dl-filters', onsubmit: (ev) => {
    ev.preventDefault();
    const qs = q({webhook: webhook.value, since: since.value ? new Date(since.value).toISOString() : '',
      until: until.value ? new Date(until.value).toISOString() : ''});
    const target = '#/dead-letters' + qs;
    if (location.hash === target) load(''); else location.hash = target;
  }},
  h('div', {class: 'field'}, h('label', {for: 'dl-webhook'}, 'Webhook'), webhook),
  h('div', {class: 'field'}, h('label', {for: 'dl-since'}, 'Dead-lettered since'), since),
  h('div', {class: 'field'}, h('label', {for: 'dl-until'}, 'until'), until),
  h('div', {class: 'field'}, h('button', {type: 'submit'}, 'Apply'), h('a', {class: 'button', href: '#/dead-letters'}, 'Clear')));

  const table = h('table', {class: 'list dead-letters', id: 'dead-letters-table'},
    h('caption', {class: 'sr-only'}, 'Dead letters, newest first'),
    h('thead', null, h('tr', null,
      h('th', {scope: 'col'}, selectAll),
      h('th', {scope: 'col'}, 'Dead-lettered'), h('th', {scope: 'col'}, 'Webhook'), h('th', {scope: 'col'}, 'Event'),
      h('th', {scope: 'col'}, 'Reason'), h('th', {scope: 'col'}, 'Attempts'), h('th', {scope: 'col'}, 'Last answer'),
      h('th', {scope: 'col'}, 'Replay'), h('th', {scope: 'col'}, h('span', {class: 'sr-only'}, 'History')))),
    tbody);

  fill(view.main,
    h('div', {class: 'page-head'}, h('h1', null, 'Dead letters'),
      h('button', {type: 'button', class: 'small', id: 'dl-refresh', onclick: () => load('')}, 'Refresh')),
    h('p', null, 'Deliveries that used up their attempts wait here with the reason. Replaying sends them again with a fresh attempt budget and the same webhook-id, so receivers that deduplicate handle each once.'),
    nextReplay, filters,
    h('div', {class: 'row wrap toolbar'}, replaySelected, replayWebhook, replayRange),
    result,
    h('div', {class: 'table-wrap'}, table), status, more);

  function syncButtons() {
    const n = tbody.querySelectorAll('input.pick:checked').length;
    replaySelected.disabled = n === 0;
    replaySelected.textContent = n ? 'Replay selected (' + n + ')' : 'Replay selected';
    replayWebhook.hidden = !webhook.value;
    replayWebhook.textContent = 'Replay all for ' + (names.get(webhook.value) || 'this webhook');
    replayRange.hidden = !since.value && !until.value;
    const picks = tbody.querySelectorAll('input.pick:not(:disabled)');
    selectAll.checked = picks.length > 0 && n === picks.length;
    selectAll.indeterminate = n > 0 && n < picks.length;
  }
  tbody.addEventListener('change', syncButtons);
  for (const el of [webhook, since, until]) el.addEventListener('change', syncButtons);
  selectAll.addEventListener('change', () => {
    for (const c of tbody.querySelectorAll('input.pick:not(:disabled)')) c.checked = selectAll.checked;
    syncButtons();
  });

  async function replay(body, btn) {
    btn.disabled = true;
    fill(result, h('span', {class: 'hint'}, 'Replaying…'));
    try {
      const r = await api('POST', '/v1/dead-letters/replay', body);
      fill(result, h('p', {class: 'notice', 'data-replayed': r.replayed}, replayResultText(r)));
      await load('');
    } catch (err) {
      if (!isAbort(err)) showError(result, err, 'Replay failed');
    } finally {
      btn.disabled = false;
      syncButtons();
    }
  }

  async function load(before) {
    const filter = {webhook_id: params.get('webhook'), since: params.get('since'), until: params.get('until'), limit: PAGE, before};
    if (!before) status.textContent = 'Loading…';
    try {
      const res = await api('GET', '/v1/dead-letters' + q(filter), undefined, {signal: view.signal});
      if (!before) tbody.replaceChildren();
      for (const d of res.data) tbody.append(...letterRows(d));
      next = res.next;
      more.hidden = !next;
      status.textContent = tbody.children.length ? '' : 'No dead letters' + (filter.webhook_id || filter.since || filter.until ? ' match these filters.' : ': every delivery got through.');
      fill(nextReplay, res.next_replay_at ?
        ['The end-of-day replay sends every replayable dead letter at ', h('time', {datetime: res.next_replay_at}, fmt.time(res.next_replay_at)),
          ' (' + fmt.ago(res.next_replay_at) + ').'] : 'This API does not know the end-of-day replay schedule.');
    } catch (err) {
      if (isAbort(err)) return;
      showError(status, err);
    }
    syncButtons();
  }

  function letterRows(d) {
    const histId = uid('hist');
    const pick = h('input', {type: 'checkbox', class: 'pick', value: d.id, disabled: !d.replayable,
      'aria-label': 'Select the ' + d.event_type + ' dead letter of ' + fmt.time(d.dead_lettered_at)});
    const hist = h('tr', {class: 'detail', id: histId, hidden: true}, h('td', {colspan: 9},
      h('p', null, 'Delivery ', h('code', null, d.delivery_id), ' (the receiver\'s webhook-id), event ', h('code', null, d.event_id),
        d.org_id ? ', org ' + d.org_id : '', d.replays ? ', replayed ' + fmt.plural(d.replays, 'time') + ' before' : ''),
      d.history.length ? h('ol', {class: 'history'}, d.history.map((a) => h('li', null,
        '#' + a.attempt + ' ', h('time', {datetime: a.at}, fmt.time(a.at)), ' ', outcomeBadge(a.outcome),
        a.status_code ? ' HTTP ' + a.status_code : '', a.error ? ' — ' + a.error : ''))) :
        h('p', {class: 'hint'}, 'No attempt was made.')));
    const btn = h('button', {type: 'button', class: 'small', 'aria-expanded': 'false', 'aria-controls': histId, onclick: () => {
      const open = btn.getAttribute('aria-expanded') !== 'true';
      btn.setAttribute('aria-expanded', String(open));
      btn.textContent = open ? 'Hide' : 'History';
      hist.hidden = !open;
    }}, 'History');
    const row = h('tr', {'data-id': d.id, 'data-event-type': d.event_type, 'data-event-id': d.event_id, 'data-webhook-id': d.webhook_id},
      h('td', null, pick),
      h('td', {'data-label': 'Dead-lettered'}, h('time', {datetime: d.dead_lettered_at, title: fmt.ago(d.dead_lettered_at)}, fmt.time(d.dead_lettered_at))),
      h('td', {'data-label': 'Webhook'}, names.has(d.webhook_id) ? h('a', {href: '#/webhooks/' + encodeURIComponent(d.webhook_id)}, names.get(d.webhook_id)) : d.webhook_id + ' (deleted)'),
      h('td', {'data-label': 'Event'}, d.event_type),
      h('td', {'data-label': 'Reason', class: 'reason'}, d.reason),
      h('td', {'data-label': 'Attempts'}, String(d.attempts)),
      h('td', {'data-label': 'Last answer'}, d.last_status ? 'HTTP ' + d.last_status : '', d.last_status && d.last_error ? ' — ' : '', d.last_error || (d.last_status ? '' : '—')),
      h('td', {'data-label': 'Replay'}, d.replayable ? 'replayable' : h('span', {class: 'reason'}, 'kept: ' + d.kept_reason)),
      h('td', null, btn));
    return [row, hist];
  }

  await load('');
}

// toLocalInput turns an RFC 3339 time into a datetime-local value.
function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (isNaN(d)) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' + pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
}
