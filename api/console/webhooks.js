// The webhooks list and one webhook's page.

import {api, isAbort} from './api.js';
import {h, fill} from './dom.js';
import * as fmt from './format.js';
import * as dialog from './dialog.js';
import {attemptResult, errorText, outcomeBadge, setEnabled, showError, statusBadges} from './ui.js';
import {deliveryLog} from './attempts.js';

const enc = encodeURIComponent;

// listView shows the tenant's webhooks with their state, success rate and
// last attempt, refreshed every 10 s.
export async function listView(view) {
  const notice = h('div', {id: 'list-notice'});
  const tbody = h('tbody');
  const empty = h('p', {class: 'empty', hidden: true}, 'No webhooks yet. ',
    h('a', {href: '#/webhooks/new'}, 'Create one'), ' to start receiving events.');
  const table = h('table', {class: 'list webhooks', id: 'webhooks-table'},
    h('caption', {class: 'sr-only'}, 'Webhooks, with their state and recent deliveries'),
    h('thead', null, h('tr', null,
      h('th', {scope: 'col'}, 'Name'), h('th', {scope: 'col'}, 'URL'), h('th', {scope: 'col'}, 'Events'),
      h('th', {scope: 'col'}, 'Status'), h('th', {scope: 'col'}, 'Success rate'), h('th', {scope: 'col'}, 'Last attempt'),
      h('th', {scope: 'col'}, h('span', {class: 'sr-only'}, 'Actions')))),
    tbody);
  const rows = new Map();

  fill(view.main,
    h('div', {class: 'page-head'}, h('h1', null, 'Webhooks'),
      h('a', {href: '#/webhooks/new', class: 'button primary', id: 'new-webhook'}, 'New webhook')),
    notice, empty, h('div', {class: 'table-wrap'}, table));

  async function load() {
    const {data} = await api('GET', '/v1/webhooks', undefined, {signal: view.signal});
    data.sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
    empty.hidden = data.length > 0;
    table.hidden = data.length === 0;
    const seen = new Set();
    for (const wh of data) {
      seen.add(wh.id);
      let row = rows.get(wh.id);
      if (!row) {
        row = webhookRow(wh, notice, load);
        rows.set(wh.id, row);
      }
      row.update(wh);
    }
    for (const [id, row] of rows) {
      if (!seen.has(id)) { row.tr.remove(); rows.delete(id); }
    }
    // Put rows in order only when it changed: moving a row would take the
    // focus from a button in it.
    const want = data.map((wh) => rows.get(wh.id).tr);
    if (want.some((tr, i) => tbody.children[i] !== tr)) tbody.replaceChildren(...want);
    await Promise.all(data.map((wh) => api('GET', '/v1/webhooks/' + enc(wh.id) + '/stats', undefined, {signal: view.signal})
      .then((st) => rows.get(wh.id) && rows.get(wh.id).stats(st))
      .catch((err) => { if (!isAbort(err)) rows.get(wh.id) && rows.get(wh.id).statsError(err); })));
  }
  await load();
  view.every(10000, load);
}

// webhookRow is one row of the list; update and stats refresh it in place,
// so a refresh never moves the focus.
function webhookRow(wh, notice, reload) {
  const link = h('a', {href: '#/webhooks/' + enc(wh.id)});
  const idText = h('span', {class: 'id'});
  const url = h('span', {class: 'url'});
  const events = h('span');
  const status = h('div', {class: 'status'});
  const rate = h('span', null, '…');
  const last = h('span', null, '…');
  const result = h('div', {class: 'inline-result', role: 'status'});
  let current = wh;
  let lastStats = null;
  const test = h('button', {type: 'button', class: 'small', onclick: async () => {
    test.disabled = true;
    fill(result, h('span', {class: 'hint'}, 'Sending webhook.test…'));
    try {
      attemptResult(result, await api('POST', '/v1/webhooks/' + enc(current.id) + '/test', {}));
    } catch (err) {
      showError(result, err, 'Test failed');
    } finally {
      test.disabled = false;
    }
  }}, 'Test');
  const toggle = h('button', {type: 'button', class: 'small', onclick: async () => {
    toggle.disabled = true;
    try {
      current = await setEnabled(current, !current.enabled, notice);
      row.update(current);
      await reload();
    } catch (err) {
      showError(notice, err);
    } finally {
      toggle.disabled = false;
    }
  }});
  const tr = h('tr', {'data-webhook-id': wh.id},
    h('td', {'data-label': 'Name'}, link, idText),
    h('td', {'data-label': 'URL'}, url),
    h('td', {'data-label': 'Events'}, events),
    h('td', {'data-label': 'Status'}, status),
    h('td', {'data-label': 'Success rate'}, rate),
    h('td', {'data-label': 'Last attempt'}, last),
    h('td', {class: 'actions-cell'}, h('div', {class: 'row'}, test, toggle), result));
  const row = {
    tr,
    update(w) {
      current = w;
      link.textContent = w.name || '(unnamed)';
      idText.textContent = w.id;
      url.textContent = w.url;
      events.textContent = fmt.eventsText(w.events);
      toggle.textContent = w.enabled ? 'Disable' : 'Enable';
      test.setAttribute('aria-label', 'Send a test event to ' + (w.name || w.id));
      toggle.setAttribute('aria-label', (w.enabled ? 'Disable ' : 'Enable ') + (w.name || w.id));
      fill(status, statusBadges(w, lastStats));
    },
    stats(st) {
      lastStats = st;
      fill(status, statusBadges(current, st));
      fill(rate, st.success_rate === null ? '—' : [fmt.percent(st.success_rate), h('span', {class: 'hint'}, ' of last ' + st.sampled)]);
      const a = st.last_attempt;
      fill(last, a ? [outcomeBadge(a.outcome), ' ', a.status_code ? String(a.status_code) + ' ' : '',
        h('time', {datetime: a.at, title: fmt.time(a.at)}, fmt.ago(a.at))] : 'never');
    },
    statsError(err) {
      rate.textContent = '?';
      last.textContent = errorText(err);
    },
  };
  return row;
}

// detailView shows one webhook: its settings, state, actions and delivery log.
export async function detailView(view) {
  const id = view.params[0];
  let wh = await api('GET', '/v1/webhooks/' + enc(id), undefined, {signal: view.signal});
  const title = h('h1');
  const status = h('div', {class: 'status'});
  const notice = h('div', {id: 'detail-notice'});
  const result = h('div', {class: 'inline-result', role: 'status', id: 'test-result'});
  const settings = h('dl', {class: 'settings'});
  const health = h('dl', {class: 'settings'});
  let stats = null;

  const testBtn = h('button', {type: 'button', id: 'send-test', onclick: async () => {
    testBtn.disabled = true;
    fill(result, h('span', {class: 'hint'}, 'Sending webhook.test…'));
    try {
      attemptResult(result, await api('POST', '/v1/webhooks/' + enc(id) + '/test', {}));
      log.refresh().catch(() => {});
      loadStats();
    } catch (err) {
      showError(result, err, 'Test failed');
    } finally {
      testBtn.disabled = false;
    }
  }}, 'Send test event');
  const toggle = h('button', {type: 'button', id: 'toggle-enabled', onclick: async () => {
    toggle.disabled = true;
    try {
      wh = await setEnabled(wh, !wh.enabled, notice);
      render();
      loadStats();
    } catch (err) {
      showError(notice, err);
    } finally {
      toggle.disabled = false;
    }
  }});
  const rotate = h('button', {type: 'button', id: 'rotate-secret', onclick: () => {
    if (wh.signing_key === 'tenant') {
      location.hash = '#/security';
      return;
    }
    rotateSecret(wh).then((w) => { if (w) { wh = w; render(); } });
  }}, 'Rotate secret');
  const reveal = h('button', {type: 'button', id: 'reveal-secret', onclick: () => revealSecret(wh).catch((err) => showError(notice, err, 'Could not reveal the secret'))},
    'Reveal secret');
  const del = h('button', {type: 'button', class: 'danger', id: 'delete-webhook', onclick: async () => {
    const ok = await dialog.confirm('Delete webhook?',
      'Delete "' + (wh.name || wh.id) + '" (' + wh.url + ')? It stops receiving events at once. Its dead letters are kept, but cannot be replayed.',
      'Delete webhook', true);
    if (!ok) return;
    try {
      await api('DELETE', '/v1/webhooks/' + enc(id));
      location.hash = '#/webhooks';
    } catch (err) {
      showError(notice, err);
    }
  }}, 'Delete');

  function render() {
    const tenant = wh.signing_key === 'tenant';
    title.textContent = wh.name || '(unnamed webhook)';
    toggle.textContent = wh.enabled ? 'Disable' : 'Enable';
    rotate.textContent = tenant ? 'Rotate the signing key' : 'Rotate secret';
    fill(status, statusBadges(wh, stats));
    const headers = Object.keys(wh.headers || {});
    const types = wh.event_types || wh.events;
    const events = fmt.eventsText(wh.events);
    const names = Object.entries(wh.event_names || {});
    const rows = [
      ['ID', h('code', null, wh.id)],
      ['URL', h('span', {class: 'url'}, wh.url)],
      ['Events', events === fmt.eventsText(types) ? events : [events, h('span', {class: 'hint'}, ' (the catalog\'s ' + fmt.eventsText(types) + ')')]],
      ['Organisations', wh.org_ids && wh.org_ids.length ? wh.org_ids.join(', ') : 'all'],
      ['Profile', wh.profile || 'none'],
      ['Transform', wh.transform ? h('pre', {class: 'excerpt code'}, wh.transform) : wh.profile ? 'the profile\'s' : 'none: the event as JSON'],
      ['Filter', wh.filter ? h('pre', {class: 'excerpt code'}, wh.filter) : 'none: every event subscribed'],
      ['Event names', names.length ? names.map(([t, n]) => t + ' → ' + n).join(', ') + (wh.profile ? ' (over the profile\'s)' : '') :
        wh.profile ? 'the profile\'s' : 'the catalog\'s types'],
      ['Retry schedule', wh.effective_retry_schedule ?
        [h('code', null, wh.effective_retry_schedule), wh.retry_schedule ? '' : ' (the profile\'s)'] : 'the sender\'s schedule'],
      ['Signature', fmt.signatureText(wh.signature)],
      ['Signing key', tenant ? ['the organisation-wide signing key (', h('a', {href: '#/security'}, 'Security'), ')'] : 'the webhook\'s own secret'],
      ['Secret', tenant ? 'see the signing key' : wh.previous_secret_expires_at ?
        ['rotated; the previous secret keeps signing until ', h('time', {datetime: wh.previous_secret_expires_at}, fmt.time(wh.previous_secret_expires_at)),
          ' (' + fmt.ago(wh.previous_secret_expires_at) + ')'] : 'one secret signs'],
      ['Encryption', wh.encrypted ? 'AES-256-GCM (key set)' : 'off'],
      ['Payload', wh.include_payload ? 'full event' : 'thin event (no data)'],
      ['Custom headers', headers.length ? headers.map((k) => k + ': ••••••').join(', ') : 'none'],
      ['4xx answers', wh.dead_letter_client_errors ? 'dead-lettered at once' : 'retried like 5xx'],
      ['Created', fmt.time(wh.created_at)],
    ];
    fill(settings, rows.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
  }

  function renderStats() {
    if (!stats) return;
    fill(status, statusBadges(wh, stats));
    const a = stats.last_attempt;
    const rows = [
      ['Success rate', stats.success_rate === null ? 'no attempts yet' : fmt.percent(stats.success_rate) + ' of the last ' + stats.sampled + ' attempts'],
      ['Last attempt', a ? [outcomeBadge(a.outcome), ' ', a.status_code ? 'HTTP ' + a.status_code + ', ' : '', a.event_type + ', ',
        h('time', {datetime: a.at, title: fmt.time(a.at)}, fmt.ago(a.at))] : 'never'],
      ['Failing since', stats.failing_since ? fmt.time(stats.failing_since) : '—'],
      ['Circuit', stats.circuit_open_until ? 'open until ' + fmt.time(stats.circuit_open_until) + ': deliveries are held back, not attempted' : 'closed'],
      ['Dead letters', stats.dead_letters ? h('a', {href: '#/dead-letters?webhook=' + enc(id)}, fmt.plural(stats.dead_letters, 'waiting', 'waiting')) : 'none'],
    ];
    fill(health, rows.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
  }

  async function loadStats() {
    try {
      stats = await api('GET', '/v1/webhooks/' + enc(id) + '/stats', undefined, {signal: view.signal});
      renderStats();
    } catch (err) {
      if (isAbort(err)) return;
      fill(health, h('dd', {class: 'error-text'}, errorText(err)));
    }
  }

  const logSection = h('section', {'aria-labelledby': 'log-title', class: 'card'});
  const log = deliveryLog(logSection, id, view);
  fill(view.main,
    h('p', {class: 'crumbs'}, h('a', {href: '#/webhooks'}, '← All webhooks')),
    h('div', {class: 'page-head'}, title, status),
    h('div', {class: 'row wrap toolbar'}, testBtn,
      h('a', {class: 'button', href: '#/webhooks/' + enc(id) + '/edit', id: 'edit-webhook'}, 'Edit'), reveal, rotate, toggle, del),
    result, notice,
    h('div', {class: 'two-col'},
      h('section', {class: 'card', 'aria-labelledby': 'settings-title'}, h('h2', {id: 'settings-title'}, 'Settings'), settings),
      h('section', {class: 'card', 'aria-labelledby': 'health-title'}, h('h2', {id: 'health-title'}, 'Health'), health)),
    logSection);
  render();
  await Promise.all([loadStats(), log.load()]);
  view.every(10000, loadStats);
}

// rotateSecret asks for a grace period, rotates, and shows the new secret
// once. It returns the updated webhook, or undefined when cancelled.
function rotateSecret(wh) {
  return dialog.rotate('Rotate the signing secret',
    'A new secret signs every delivery from now on. During the grace period the old one signs too ' +
    '(Standard Webhooks sends both signatures; the other presets sign with the new one, and receivers accept either).',
    'Rotate secret', (grace) => api('POST', '/v1/webhooks/' + enc(wh.id) + '/rotate-secret', {grace_period: grace}));
}

// revealSecret shows the secret webhook wh signs with now, after asking:
// each reveal is recorded in the audit log.
export async function revealSecret(wh) {
  const tenant = wh.signing_key === 'tenant';
  const ok = await dialog.confirm('Reveal the signing secret?',
    'Show the secret ' + (wh.name || wh.id) + ' signs with' + (tenant ? ' (your organisation-wide signing key, shared by its webhooks that use it)' : '') +
    ' on this screen? Each reveal is recorded in the audit log.', 'Reveal secret');
  if (!ok) return;
  const s = await api('GET', '/v1/webhooks/' + enc(wh.id) + '/secret');
  let why = s.signing_key === 'tenant' ?
    'This webhook signs with your organisation-wide signing key: this is it.' :
    'This is the secret ' + (wh.name || wh.id) + ' signs its deliveries with.';
  if (s.previous_secret_expires_at) why += ' The previous one keeps signing beside it until ' + fmt.time(s.previous_secret_expires_at) + '.';
  await dialog.showSecret(s.secret, why, {revealed: true});
}
