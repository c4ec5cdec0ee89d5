// Creating and editing a webhook: destination, name, the event catalog as
// grouped checkboxes, org filter, the dialect (profile, transform, filter,
// event names, retries, signing key, with a preview), signature,
// encryption, payload, headers.

import {api, ApiError} from './api.js';
import {h, fill, field, checkbox, uid} from './dom.js';
import * as dialog from './dialog.js';
import {dialectSection, selectAt} from './dialect.js';
import {attemptResult, errorText, programErrorText} from './ui.js';

const enc = encodeURIComponent;
const PRESETS = [
  ['standard', 'Standard Webhooks (webhook-signature; the default)'],
  ['tartan', 'Tartan (tartan-signature, hex HMAC-SHA256)'],
  ['bindbee', 'Bindbee (X-Bindbee-Webhook-Signature, hex HMAC-SHA256)'],
  ['trutac', 'TruTac (TT-Hook-Signature: sha1=…)'],
  ['teal', 'Teal (X-Teal-Signature, hex HMAC-SHA512)'],
  ['', 'Custom: choose the algorithm, encoding and header'],
];
// Hookstream sends these to one webhook on its own; they cannot be subscribed to.
const UNSUBSCRIBABLE = new Set(['webhook.ping', 'webhook.test']);

// formView creates a webhook (#/webhooks/new) or edits one (#/webhooks/{id}/edit).
export async function formView(view) {
  const id = view.params[0];
  const [types, profiles, wh] = await Promise.all([
    api('GET', '/v1/event-types', undefined, {signal: view.signal}).then((r) => r.data),
    api('GET', '/v1/profiles', undefined, {signal: view.signal}).then((r) => r.data),
    id ? api('GET', '/v1/webhooks/' + enc(id), undefined, {signal: view.signal}) : null,
  ]);
  const editing = Boolean(wh);
  // event_types are the subscriptions in the catalog's types (events may
  // show them in the receiver's names).
  const subscribed = wh ? wh.event_types || wh.events : [];

  const name = h('input', {type: 'text', id: 'wh-name', maxlength: 200, value: wh ? wh.name : '', dataset: {field: 'name'}});
  const url = h('input', {type: 'url', id: 'wh-url', required: true, placeholder: 'https://example.com/webhooks/hookstream',
    value: wh ? wh.url : '', dataset: {field: 'url'}, spellcheck: 'false'});
  const catalog = eventPicker(types, subscribed);
  const orgs = h('input', {type: 'text', id: 'wh-orgs', value: wh ? (wh.org_ids || []).join(', ') : '', dataset: {field: 'org_ids'},
    placeholder: 'org_42, org_77', spellcheck: 'false'});
  const sig = signaturePicker(wh ? wh.signature : {preset: 'standard'});
  const encryption = encryptionPicker(wh);
  const payload = checkbox('Include the event\'s data', {id: 'wh-payload', checked: wh ? wh.include_payload : true, dataset: {field: 'include_payload'}},
    'Off sends a thin event: the envelope without data.');
  const dlce = checkbox('Send 4xx answers straight to the dead letters', {id: 'wh-dlce', checked: wh ? wh.dead_letter_client_errors : false},
    'Off retries them like 5xx, since receivers misconfigure (408, 425 and 429 are always retried).');
  const enabled = editing ? null : checkbox('Enabled', {id: 'wh-enabled', checked: true}, 'A disabled webhook receives nothing; its deliveries wait in the dead letters.');
  const headers = headerRows(wh ? wh.headers : {});
  const dialect = dialectSection({wh, profiles, types, selected: subscribed,
    // A profile brings its signature preset and payload default, as the
    // API gives them to a webhook created with it (none: the defaults).
    onProfile(p) {
      sig.set({preset: p ? p.signature_preset : 'standard'});
      payload.input.checked = p ? p.include_payload : true;
    },
    current() {
      const s = settings();
      return s.headers === null ? null : {url: s.url, name: name.value.trim(), org_ids: orgIDs(),
        signature: s.signature, include_payload: s.include_payload};
    },
    mark: (err) => markField(err),
    clear: (fields) => clearErrors(fields),
  });

  const summary = h('div', {role: 'alert', class: 'form-error', id: 'form-error', tabindex: '-1'});
  const testOut = h('div', {class: 'inline-result', role: 'status', id: 'test-url-result'});
  const testBtn = h('button', {type: 'button', id: 'test-url', onclick: testURL}, 'Test URL');
  const submit = h('button', {type: 'submit', class: 'primary', id: 'save-webhook'}, editing ? 'Save changes' : 'Create webhook');

  const form = h('form', {class: 'card webhook-form', id: 'webhook-form', novalidate: true, onsubmit: save},
    summary,
    h('fieldset', null, h('legend', null, 'Destination'),
      field('Destination URL', url, 'Where Hookstream POSTs each event: http or https.'),
      h('div', {class: 'row'}, testBtn), testOut,
      field('Name', name, 'Shown in this console and in the logs.')),
    catalog.el,
    h('fieldset', null, h('legend', null, 'Filter and format'),
      field('Organisations', orgs, 'Only events of these organisations (org_id), comma-separated. Empty: every organisation.'),
      payload.el, dlce.el, enabled && enabled.el),
    dialect.el,
    sig.el,
    encryption.el,
    headers.el,
    h('div', {class: 'actions'},
      h('a', {class: 'button', href: editing ? '#/webhooks/' + enc(wh.id) : '#/webhooks'}, 'Cancel'), submit));

  fill(view.main,
    h('p', {class: 'crumbs'}, h('a', {href: '#/webhooks'}, '← All webhooks')),
    h('h1', null, editing ? 'Edit ' + (wh.name || wh.id) : 'New webhook'),
    form);

  function orgIDs() { return orgs.value.split(/[\s,]+/).filter(Boolean); }

  // settings are the fields both the test and the save send.
  function settings() {
    const out = {url: url.value.trim(), include_payload: payload.input.checked};
    const s = sig.value();
    if (s) out.signature = s;
    const key = encryption.value();
    if (key !== undefined) out.encryption_key = key;
    out.headers = headers.value();
    return out;
  }

  // clearErrors removes the marks of the fields named, or of every field
  // and the summary.
  function clearErrors(fields) {
    if (!fields) summary.textContent = '';
    for (const el of form.querySelectorAll('[aria-invalid]')) {
      if (fields && !fields.includes(el.dataset.field)) continue;
      const msg = el.getAttribute('aria-errormessage');
      if (msg && document.getElementById(msg)) document.getElementById(msg).remove();
      el.removeAttribute('aria-invalid');
      el.removeAttribute('aria-errormessage');
    }
    if (!fields) for (const el of form.querySelectorAll('.field-error[id]')) el.remove();
  }

  // markField shows an error next to the field it names, if it names one
  // of the form's: a transform or filter that does not compile with its
  // line and column, and a button that puts the cursor there.
  function markField(err) {
    const target = err instanceof ApiError && err.field && form.querySelector('[data-field="' + CSS.escape(err.field) + '"]');
    if (!target) return false;
    const closed = target.closest('details:not([open])');
    if (closed) closed.open = true;
    target.setAttribute('aria-invalid', 'true');
    const pos = err.position;
    const msg = h('p', {class: 'field-error', id: uid('err'), dataset: pos ? {line: pos.line, column: pos.column} : undefined},
      pos ? programErrorText(err) : err.message,
      pos && target.tagName === 'TEXTAREA' ? [' ', h('button', {type: 'button', class: 'small', onclick: () => selectAt(target, pos)}, 'Show in the editor')] : null);
    target.setAttribute('aria-errormessage', msg.id);
    (target.closest('.field, fieldset') || target.parentElement).append(msg);
    return true;
  }

  // fail shows an error, next to the field it names when it names one.
  function fail(err, what) {
    summary.textContent = what + ': ' + errorText(err);
    markField(err);
    summary.focus();
  }

  async function testURL() {
    clearErrors();
    const body = settings();
    if (!body.url) {
      fail(new ApiError(400, 'invalid_request', 'is required', 'url'), 'Cannot test');
      return;
    }
    if (body.encryption_key === '') delete body.encryption_key;
    if (body.headers === null) return;
    // The test is shaped as the webhook's deliveries would be.
    const d = dialect.value();
    if (d === null) return;
    if (d.profile) body.profile = d.profile;
    if (d.transform) body.transform = d.transform;
    if (Object.keys(d.event_names).length) body.event_names = d.event_names;
    testBtn.disabled = true;
    fill(testOut, h('span', {class: 'hint'}, 'Sending webhook.test to ' + body.url + '…'));
    try {
      attemptResult(testOut, await api('POST', '/v1/webhooks/test', body));
    } catch (err) {
      testOut.replaceChildren();
      fail(err, 'Cannot test');
    } finally {
      testBtn.disabled = false;
    }
  }

  async function save(ev) {
    ev.preventDefault();
    clearErrors();
    const body = settings();
    if (body.headers === null) return;
    const d = dialect.value();
    if (d === null) return;
    const events = catalog.value();
    if (!events.length) {
      fail(new ApiError(400, 'invalid_request', 'choose at least one event, a family or all events', 'events'), 'Cannot save');
      return;
    }
    Object.assign(body, {
      name: name.value.trim(),
      events,
      org_ids: orgIDs(),
      dead_letter_client_errors: dlce.input.checked,
      signing_key: d.signing_key,
    });
    if (!editing) {
      body.enabled = enabled.input.checked;
      if (!body.encryption_key) delete body.encryption_key;
      // Only what is set: empty means none (or the profile's).
      for (const k of ['profile', 'transform', 'filter', 'retry_schedule']) if (d[k]) body[k] = d[k];
      if (Object.keys(d.event_names).length) body.event_names = d.event_names;
    } else {
      // Every dialect field as the form shows it: a new profile would
      // otherwise clear the webhook's own transform, names and schedule.
      Object.assign(body, {profile: d.profile, transform: d.transform, filter: d.filter,
        event_names: d.event_names, retry_schedule: d.retry_schedule});
      if (!dialect.profileChanged() && JSON.stringify(body.signature) === JSON.stringify(wh.signature)) {
        delete body.signature; // unchanged: no new secret needed
      }
    }
    submit.disabled = true;
    try {
      const res = editing ?
        await api('PATCH', '/v1/webhooks/' + enc(wh.id), body) :
        await api('POST', '/v1/webhooks', body);
      if (res.secret) {
        let why;
        if (res.signing_key === 'tenant') {
          why = 'This webhook signs with your organisation-wide signing key (see Security): your receiver verifies each delivery with it.';
        } else if (editing) {
          why = 'The new signature scheme needed a new signing secret. Give it to your receiver to verify deliveries.';
        } else {
          why = 'Your receiver verifies each delivery\'s signature with this secret.';
        }
        if (!editing) why += ' A webhook.ping is on its way to ' + res.url + '.';
        await dialog.showSecret(res.secret, why);
      }
      location.hash = '#/webhooks/' + enc(res.id);
    } catch (err) {
      fail(err, editing ? 'Could not save' : 'Could not create the webhook');
    } finally {
      submit.disabled = false;
    }
  }
}

// eventPicker is the catalog as checkboxes grouped by family, with "all
// events" (*) and each family (family.*); a broader choice disables (and
// covers) the narrower ones.
function eventPicker(types, selected) {
  const sel = new Set(selected || []);
  const families = new Map();
  for (const t of types) {
    if (UNSUBSCRIBABLE.has(t.name)) continue;
    if (!families.has(t.family)) families.set(t.family, []);
    families.get(t.family).push(t);
  }
  const all = checkbox('All events', {id: 'ev-all', value: '*', checked: sel.has('*')}, 'every current and future type (*)');
  const groups = [];
  for (const [fam, list] of families) {
    const famBox = checkbox('All ' + fam + ' events', {value: fam + '.*', checked: sel.has(fam + '.*'), dataset: {family: fam}}, '(' + fam + '.*)');
    const items = list.map((t) => checkbox(t.name, {value: t.name, checked: sel.has(t.name), dataset: {type: t.name}}, t.description));
    groups.push({fam, famBox, items, el: h('fieldset', {class: 'family'}, h('legend', null, fam), famBox.el, h('div', {class: 'types'}, items.map((i) => i.el)))});
  }
  function sync() {
    const everything = all.input.checked;
    for (const g of groups) {
      g.famBox.input.disabled = everything;
      for (const i of g.items) i.input.disabled = everything || g.famBox.input.checked;
    }
  }
  const el = h('fieldset', {class: 'events', 'data-field': 'events', tabindex: '-1'},
    h('legend', null, 'Events'),
    h('p', {class: 'hint'}, 'Choose what this webhook receives. A family covers its types, now and those added later.'),
    all.el, h('div', {class: 'families'}, groups.map((g) => g.el)));
  el.addEventListener('change', sync);
  sync();
  return {
    el,
    value() {
      if (all.input.checked) return ['*'];
      const out = [];
      for (const g of groups) {
        if (g.famBox.input.checked) out.push(g.fam + '.*');
        else for (const i of g.items) if (i.input.checked) out.push(i.input.value);
      }
      return out;
    },
  };
}

// signaturePicker chooses a preset or explicit options.
function signaturePicker(current) {
  const cur = current || {};
  const preset = h('select', {id: 'wh-preset', dataset: {field: 'signature'}},
    PRESETS.map(([v, label]) => h('option', {value: v, selected: (cur.preset || '') === v}, label)));
  const algorithm = h('select', {id: 'wh-alg'}, ['sha256', 'sha1', 'sha512'].map((a) => h('option', {value: a, selected: cur.algorithm === a}, a)));
  const encoding = h('select', {id: 'wh-encoding'}, ['hex', 'base64'].map((e) => h('option', {value: e, selected: cur.encoding === e}, e)));
  const header = h('input', {type: 'text', id: 'wh-sig-header', value: cur.header || '', placeholder: 'X-My-Signature', spellcheck: 'false'});
  const prefix = h('input', {type: 'text', id: 'wh-sig-prefix', value: cur.prefix || '', placeholder: 'sha256=', spellcheck: 'false'});
  const custom = h('div', {class: 'custom-signature'},
    field('Algorithm', algorithm), field('Encoding', encoding),
    field('Header', header, 'The request header that carries the signature.'),
    field('Prefix', prefix, 'Optional text before the signature value.'));
  const sync = () => { custom.hidden = preset.value !== ''; };
  preset.addEventListener('change', sync);
  sync();
  return {
    el: h('fieldset', null, h('legend', null, 'Signature'),
      field('Scheme', preset, 'Every delivery is signed (HMAC over the body as sent) with the secret the signing key says: the webhook\'s own by default.'), custom),
    // set chooses a preset, as a profile does.
    set(cfg) {
      preset.value = cfg.preset || '';
      sync();
    },
    value() {
      if (preset.value) return {preset: preset.value};
      const out = {algorithm: algorithm.value, encoding: encoding.value, header: header.value.trim()};
      if (prefix.value) out.prefix = prefix.value;
      return out;
    },
  };
}

// encryptionPicker sets the AES-256-GCM key: base64 of 32 random bytes,
// generated in the browser. value() is undefined when unchanged.
function encryptionPicker(wh) {
  const key = h('input', {type: 'text', id: 'wh-key', spellcheck: 'false', autocomplete: 'off', dataset: {field: 'encryption_key'},
    placeholder: wh && wh.encrypted ? 'leave empty to keep the current key' : 'empty: no encryption'});
  const gen = h('button', {type: 'button', id: 'generate-key', onclick: () => {
    const bytes = new Uint8Array(32);
    crypto.getRandomValues(bytes);
    key.value = btoa(String.fromCharCode(...bytes));
    if (off) off.input.checked = false;
    key.focus();
    key.select();
  }}, 'Generate');
  const off = wh && wh.encrypted ? checkbox('Turn encryption off', {id: 'wh-key-off'}) : null;
  return {
    el: h('fieldset', null, h('legend', null, 'Encryption'),
      h('p', {class: 'hint'}, wh && wh.encrypted ?
        'Deliveries are encrypted (AES-256-GCM); the key is never shown again. Enter a new key to replace it.' :
        'Optional. With a key, each body is AES-256-GCM ciphertext, signed as sent; your receiver needs the key to decrypt. Copy a generated key before saving.'),
      h('div', {class: 'field'}, h('label', {for: 'wh-key'}, 'Encryption key (base64 of 32 bytes)'), h('div', {class: 'row'}, key, gen)),
      off && off.el),
    value() {
      if (off && off.input.checked) return '';
      const v = key.value.trim();
      if (wh && !v) return undefined;
      return v;
    },
  };
}

// headerRows edits custom headers as name/value rows.
function headerRows(initial) {
  const list = h('div', {class: 'header-rows'});
  const status = h('p', {class: 'field-error', role: 'alert'});
  function add(name, value) {
    const n = h('input', {type: 'text', value: name || '', placeholder: 'X-Api-Key', spellcheck: 'false', 'aria-label': 'Header name'});
    const v = h('input', {type: 'text', value: value || '', spellcheck: 'false', 'aria-label': 'Header value'});
    const row = h('div', {class: 'row header-row'}, n, v,
      h('button', {type: 'button', class: 'small', 'aria-label': 'Remove this header', onclick: () => { row.remove(); addBtn.focus(); }}, 'Remove'));
    list.append(row);
    return n;
  }
  const addBtn = h('button', {type: 'button', class: 'small', id: 'add-header', onclick: () => add().focus()}, 'Add header');
  for (const [k, v] of Object.entries(initial || {})) add(k, v);
  return {
    el: h('fieldset', {'data-field': 'headers', tabindex: '-1'}, h('legend', null, 'Custom headers'),
      h('p', {class: 'hint'}, 'Sent with every delivery, e.g. an API key your receiver expects. The delivery log masks their values.'),
      list, addBtn, status),
    // value is the headers as an object, or null (with a message) when a
    // row has a value but no name.
    value() {
      status.textContent = '';
      const out = {};
      for (const row of list.querySelectorAll('.header-row')) {
        const [n, v] = row.querySelectorAll('input');
        const name = n.value.trim();
        if (!name && !v.value) continue;
        if (!name) {
          status.textContent = 'A header needs a name.';
          n.focus();
          return null;
        }
        out[name] = v.value;
      }
      return out;
    },
  };
}
