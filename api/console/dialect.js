// A webhook's dialect, the form's advanced section: a vendor profile, the jq
// transform and filter, the receiver's event names, its retry schedule and
// whose key signs; and the Preview, which shows what a receiver would get
// with the form's settings as they are now, before anything is saved.

import {api, ApiError} from './api.js';
import {h, fill, field} from './dom.js';
import {badge, errorText, programErrorText} from './ui.js';

const SIGNING_KEYS = [
  ['webhook', 'The webhook\'s own secret (the default)'],
  ['tenant', 'The organisation-wide signing key (see Security)'],
];

// The fields a preview sends: its errors are marked next to these.
export const PREVIEW_FIELDS = ['profile', 'transform', 'filter', 'event_names', 'signature', 'include_payload', 'type'];

// dialectSection builds the advanced section. opts:
//   wh         the webhook edited (null when creating)
//   profiles   GET /v1/profiles' data; types: the event catalog
//   onProfile  told when the user chooses a profile (null: none), to set
//              the signature and payload fields to what it brings
//   current    the form's other settings a preview uses: {url, name,
//              org_ids, signature, include_payload}, or null when invalid
//   mark       marks an API error next to the field it names
//   clear      clears the marks of the fields named
//   selected   the event types the webhook subscribes to (for the
//              preview's first choice)
export function dialectSection(opts) {
  const {wh, profiles, types} = opts;
  const byName = new Map(profiles.map((p) => [p.name, p]));
  const own = {
    profile: (wh && wh.profile) || '',
    transform: (wh && wh.transform) || '',
    filter: (wh && wh.filter) || '',
    names: (wh && wh.event_names) || {},
    retry: (wh && wh.retry_schedule) || '',
    key: (wh && wh.signing_key) || 'webhook',
  };

  const profile = h('select', {id: 'wh-profile', dataset: {field: 'profile'}},
    h('option', {value: '', selected: own.profile === ''}, 'None: Hookstream\'s own event format'),
    profiles.map((p) => h('option', {value: p.name, selected: own.profile === p.name}, p.vendor + ' (' + p.name + ')')));
  const about = h('div', {class: 'profile-about', id: 'profile-about', 'aria-live': 'polite'});
  const transform = h('textarea', {id: 'wh-transform', class: 'code', rows: 8, spellcheck: 'false', autocomplete: 'off',
    autocapitalize: 'off', wrap: 'off', dataset: {field: 'transform'}});
  transform.value = own.transform;
  const filter = h('textarea', {id: 'wh-filter', class: 'code', rows: 2, spellcheck: 'false', autocomplete: 'off',
    autocapitalize: 'off', wrap: 'off', dataset: {field: 'filter'}, placeholder: 'e.g. .event.data.hrms == "darwinbox"'});
  filter.value = own.filter;
  const names = eventNameRows(types, own.names);
  const retry = h('input', {type: 'text', id: 'wh-retry', value: own.retry, spellcheck: 'false', autocomplete: 'off',
    dataset: {field: 'retry_schedule'}});
  const signingKey = h('select', {id: 'wh-signing-key', dataset: {field: 'signing_key'}},
    SIGNING_KEYS.map(([v, label]) => h('option', {value: v, selected: own.key === v}, label)));
  const preview = previewPanel(opts, types, value);

  // describe says what the chosen profile is and sets, and fills in the
  // placeholders that say what an empty field means under it.
  function describe() {
    const p = byName.get(profile.value) || null;
    fill(about, profileAbout(p, () => {
      transform.value = p.transform;
      transform.focus();
    }));
    transform.placeholder = p ? 'Empty: ' + p.vendor + '\'s transform (above)' : 'Empty: the event as JSON';
    const effective = p && p.retry_schedule ? p.retry_schedule + ' (' + p.vendor + '\'s)' : 'the sender\'s schedule';
    retry.placeholder = 'Empty: ' + effective;
  }
  profile.addEventListener('change', () => {
    const p = byName.get(profile.value) || null;
    signingKey.value = p ? p.signing_key || 'webhook' : 'webhook';
    describe();
    if (opts.onProfile) opts.onProfile(p);
  });
  describe();

  const used = own.profile || own.transform || own.filter || Object.keys(own.names).length || own.retry || own.key !== 'webhook';
  const el = h('details', {class: 'advanced', id: 'advanced', open: Boolean(used)},
    h('summary', null, 'Dialect (advanced): profile, transform, filter, event names, retries, signing key'),
    h('p', {class: 'hint'}, 'How this receiver wants its deliveries. Leave it all as it is for Hookstream\'s own format.'),
    field('Profile', profile, 'A vendor\'s receivers in one choice: their body, event names, signature and retries.'),
    about,
    field('Transform (jq)', transform, 'Its output is the body sent. It reads {event, event_name, webhook, delivery}: ' +
      'e.g. {type: .event_name, data: .event.data}.'),
    field('Filter (jq)', filter, 'The webhook gets an event only where this yields true. Empty: every event it subscribes to.'),
    names.el,
    field('Retry schedule', retry, 'The waits before each retry, comma-separated, e.g. 30s,2m,10m; after the last, the dead letters.'),
    field('Signing key', signingKey, 'Whose secret signs the deliveries: this webhook\'s own, or the key shared by the organisation\'s webhooks that ask for it.'),
    preview.el);

  // value is the dialect as the API takes it, or null (with a message)
  // when the event names are incomplete.
  function value() {
    const n = names.value();
    if (n === null) return null;
    return {profile: profile.value, transform: transform.value, filter: filter.value, event_names: n,
      retry_schedule: retry.value.trim(), signing_key: signingKey.value};
  }

  return {
    el,
    value,
    // changed reports whether the profile differs from the stored one.
    profileChanged: () => profile.value !== own.profile,
  };
}

// profileAbout says what profile p is and what choosing it sets.
function profileAbout(p, copy) {
  if (!p) {
    return h('p', {class: 'hint'}, 'No profile: each delivery is the event as Hookstream writes it, named by its catalog type, ' +
      'unless you write a transform or event names below.');
  }
  const names = Object.entries(p.event_names || {}).sort(([a], [b]) => (a < b ? -1 : 1));
  return [
    h('p', null, p.description),
    h('p', {class: 'label'}, 'Choosing ' + p.vendor + ' sets'),
    h('ul', {class: 'profile-sets'},
      h('li', null, 'Signature: the ', h('code', null, p.signature_preset), ' preset'),
      h('li', null, 'Payload: ', p.include_payload ? 'the event\'s data included' : 'thin events (the data left out unless included)'),
      h('li', null, 'Signing key: ', p.signing_key === 'tenant' ? 'the organisation-wide signing key' : 'the webhook\'s own secret'),
      h('li', null, 'Retries: ', p.retry_schedule ? h('code', null, p.retry_schedule) : 'the sender\'s schedule', ', then the dead letters'),
      h('li', null, 'Event names: ', names.length ?
        h('details', {class: 'inline'}, h('summary', null, names.length + (names.length === 1 ? ' name' : ' names')),
          h('table', {class: 'headers'}, h('tbody', null, names.map(([typ, name]) =>
            h('tr', null, h('th', {scope: 'row'}, typ), h('td', null, name)))))) :
        'the catalog\'s types'),
      h('li', null, 'Body: ', p.transform ?
        h('details', {class: 'inline'}, h('summary', null, 'its transform (jq)'),
          h('pre', {class: 'excerpt code'}, p.transform),
          h('button', {type: 'button', class: 'small', id: 'copy-profile-transform', onclick: copy}, 'Edit a copy in the transform below')) :
        'the event as JSON')),
    h('p', {class: 'hint'}, 'The signature, payload and signing key fields are set to these: change them if you need. ' +
      'A transform, event names or retry schedule of your own below replace the profile\'s.'),
  ];
}

// eventNameRows edits the receiver's names of catalog types as rows.
function eventNameRows(types, initial) {
  const list = h('div', {class: 'name-rows'});
  const status = h('p', {class: 'field-error', role: 'alert'});
  function add(typ, name) {
    const t = h('select', {'aria-label': 'Event type'}, h('option', {value: ''}, 'Choose a type'),
      types.map((et) => h('option', {value: et.name, selected: et.name === typ}, et.name)));
    const n = h('input', {type: 'text', value: name || '', placeholder: 'connector_synced', spellcheck: 'false', 'aria-label': 'The receiver\'s name'});
    const row = h('div', {class: 'row name-row'}, t, n,
      h('button', {type: 'button', class: 'small', 'aria-label': 'Remove this name', onclick: () => { row.remove(); addBtn.focus(); }}, 'Remove'));
    list.append(row);
    return t;
  }
  const addBtn = h('button', {type: 'button', class: 'small', id: 'add-event-name', onclick: () => add().focus()}, 'Add a name');
  for (const [k, v] of Object.entries(initial || {})) add(k, v);
  return {
    el: h('fieldset', {'data-field': 'event_names', tabindex: '-1'}, h('legend', null, 'Event names'),
      h('p', {class: 'hint'}, 'The names your receiver knows the types by, sent in the event-type header and given to the transform ' +
        'as .event_name. Over the profile\'s; types not named keep the catalog\'s.'),
      list, addBtn, status),
    // value is the names as an object, or null (with a message) when a
    // row is half filled in.
    value() {
      status.textContent = '';
      const out = {};
      for (const row of list.querySelectorAll('.name-row')) {
        const t = row.querySelector('select');
        const n = row.querySelector('input');
        const name = n.value.trim();
        if (!t.value && !name) continue;
        if (!t.value || !name) {
          status.textContent = t.value ? 'Give ' + t.value + ' a name, or remove the row.' : 'Choose the type this name is for.';
          (t.value ? n : t).focus();
          return null;
        }
        out[t.value] = name;
      }
      return out;
    },
  };
}

// previewPanel asks the API what a receiver would get for the catalog's
// example of a type, with the form's settings as they are.
function previewPanel(opts, types, dialect) {
  const families = new Map();
  for (const t of types) {
    if (!families.has(t.family)) families.set(t.family, []);
    families.get(t.family).push(t);
  }
  const first = (opts.selected || []).map((e) => types.find((t) => t.family !== 'webhook' &&
    (t.name === e || e === '*' || e === t.family + '.*'))).find(Boolean);
  const type = h('select', {id: 'preview-type', dataset: {field: 'type'}},
    [...families].map(([fam, list]) => h('optgroup', {label: fam},
      list.map((t) => h('option', {value: t.name, selected: (first ? first.name : 'sync.completed') === t.name}, t.name)))));
  const out = h('div', {class: 'inline-result preview-result', id: 'preview-result', role: 'status'});
  const btn = h('button', {type: 'button', id: 'preview', onclick: run}, 'Preview');

  async function run() {
    opts.clear(PREVIEW_FIELDS);
    const d = dialect();
    const cur = opts.current();
    if (!d || !cur) {
      fill(out, h('p', {class: 'error-text'}, 'Fix the fields marked in the form first.'));
      return;
    }
    const body = {type: type.value, profile: d.profile, transform: d.transform, filter: d.filter, event_names: d.event_names,
      include_payload: cur.include_payload, signature: cur.signature};
    const wh = {};
    if (opts.wh) wh.id = opts.wh.id;
    if (cur.name) wh.name = cur.name;
    if (cur.url) wh.url = cur.url;
    if (cur.org_ids && cur.org_ids.length) wh.org_ids = cur.org_ids;
    if (Object.keys(wh).length) body.webhook = wh;
    btn.disabled = true;
    fill(out, h('span', {class: 'hint'}, 'Running the dialect on the example ' + type.value + ' event…'));
    try {
      render(await api('POST', '/v1/transform/preview', body));
    } catch (err) {
      fill(out, h('div', {class: 'test-result bad', 'data-outcome': 'error'},
        h('p', {class: 'test-head'}, h('strong', null, previewErrorHead(err))),
        h('p', {class: 'error-text preview-error'}, err instanceof ApiError && err.field ? programErrorText(err) : errorText(err))));
      opts.mark(err);
    } finally {
      btn.disabled = false;
    }
  }

  function render(r) {
    const headers = Object.keys(r.headers || {}).sort();
    let filterState;
    if (r.filter_error) filterState = [badge('Filter failed', 'bad'), ' ', h('span', {class: 'error-text'}, r.filter_error), ' (so the webhook would not get it)'];
    else if (r.matched) filterState = [badge('Matches', 'ok'), ' the webhook would get this event'];
    else filterState = [badge('No match', 'warn'), ' the filter keeps this event from the webhook'];
    fill(out, h('div', {class: 'test-result ' + (r.error ? 'bad' : 'ok'), 'data-outcome': r.error ? 'error' : 'success',
      'data-matched': String(Boolean(r.matched))},
    h('dl', {class: 'settings'},
      h('dt', null, 'Event name'), h('dd', null, h('code', {id: 'preview-event-name'}, r.event_name)),
      h('dt', null, 'Filter'), h('dd', {id: 'preview-filter'}, filterState),
      r.error ? [h('dt', null, 'Transform'), h('dd', {class: 'error-text', id: 'preview-error'}, 'failed on this event: ' + r.error)] : null),
    h('div', {class: 'detail-grid'},
      h('div', null, h('h3', null, 'Body'),
        r.body === null || r.body === undefined ? h('p', {class: 'hint'}, 'No body: the transform failed.') :
          h('pre', {class: 'excerpt body', id: 'preview-body'}, JSON.stringify(r.body, null, 2))),
      h('div', null, h('h3', null, 'Headers'),
        h('table', {class: 'headers', id: 'preview-headers'}, h('tbody', null, headers.map((k) =>
          h('tr', null, h('th', {scope: 'row'}, k), h('td', null, r.headers[k]))))),
        h('p', {class: 'hint'}, 'Signatures are masked; encryption, when set, applies to the body as shown.'))),
    h('details', null, h('summary', null, 'The event it ran on'), h('pre', {class: 'excerpt'}, JSON.stringify(r.event, null, 2)))));
  }

  return {
    el: h('fieldset', {class: 'preview'}, h('legend', null, 'Preview'),
      h('p', {class: 'hint'}, 'What a receiver would get for the catalog\'s example event, with this form\'s settings as they are now. Nothing is sent or saved.'),
      h('div', {class: 'row wrap'}, h('label', {for: 'preview-type'}, 'Event type'), type, btn),
      out),
  };
}

function previewErrorHead(err) {
  if (err instanceof ApiError && err.position) {
    return (err.field === 'filter' ? 'The filter' : 'The transform') + ' does not compile';
  }
  return 'No preview';
}

// selectAt puts the cursor in textarea where a compile error's position
// (line and column in UTF-8 bytes, from 1) is.
export function selectAt(textarea, pos) {
  const src = textarea.value;
  const lines = src.split('\n');
  let i = 0;
  for (let n = 0; n < pos.line - 1 && n < lines.length; n++) i += lines[n].length + 1;
  const enc = new TextEncoder();
  let bytes = 0;
  for (const ch of lines[pos.line - 1] || '') {
    if (bytes >= pos.column - 1) break;
    bytes += enc.encode(ch).length;
    i += ch.length;
  }
  i = Math.min(i, src.length);
  textarea.focus();
  textarea.setSelectionRange(i, Math.min(i + 1, src.length));
}

