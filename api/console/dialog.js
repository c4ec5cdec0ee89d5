// Modal dialogs on <dialog>: showModal makes the rest of the page inert (focus
// stays inside), Escape closes, and focus returns to what opened it.

import {h, fill, uid} from './dom.js';
import {time} from './format.js';
import {errorText} from './ui.js';

// open shows a modal dialog. content(close) returns its body nodes; close(v)
// closes it, resolving the returned promise with v (undefined on Escape).
export function open(title, content, opts) {
  const opener = document.activeElement;
  const titleId = uid('dlg-title');
  const body = h('div', {class: 'dialog-body'});
  const dlg = h('dialog', {'aria-labelledby': titleId, class: (opts && opts.class) || ''},
    h('h2', {id: titleId}, title), body);
  document.body.append(dlg);
  let result;
  const done = new Promise((resolve) => {
    dlg.addEventListener('close', () => {
      dlg.remove();
      if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
      resolve(result);
    });
  });
  const close = (v) => { result = v; if (dlg.open) dlg.close(); };
  fill(body, content(close, body));
  dlg.showModal();
  const first = dlg.querySelector('[autofocus]') || dlg.querySelector('button, input, select, textarea');
  if (first) first.focus();
  return done;
}

// confirm asks a yes/no question; the safe answer has the focus.
export function confirm(title, message, confirmLabel, danger) {
  return open(title, (close) => [
    h('p', null, message),
    h('div', {class: 'actions'},
      h('button', {type: 'button', autofocus: true, onclick: () => close(false)}, 'Cancel'),
      h('button', {type: 'button', class: danger ? 'danger' : 'primary', onclick: () => close(true)}, confirmLabel)),
  ]).then((v) => v === true);
}

// secretView shows a secret with a copy button. opts.label names it
// ("Signing secret"); opts.revealed says it was read again (and audited),
// rather than shown once after it was made.
export function secretView(secret, why, close, opts) {
  const o = opts || {};
  const out = h('p', {class: 'hint', role: 'status'});
  const input = h('input', {type: 'text', readOnly: true, value: secret, class: 'secret', spellcheck: 'false', autocomplete: 'off'});
  input.id = uid('secret');
  const copy = h('button', {type: 'button', class: 'primary', onclick: async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(secret);
      out.textContent = 'Copied to the clipboard.';
    } catch (err) {
      out.textContent = 'Copy did not work here: the secret is selected, press Ctrl+C (⌘C).';
    }
  }}, 'Copy');
  return [
    h('p', null, why),
    o.revealed ?
      h('p', {class: 'warning'}, h('strong', null, 'Keep it secret.'),
        ' Anyone with it can sign requests your receiver accepts. This reveal is recorded in the audit log.') :
      h('p', {class: 'warning'}, h('strong', null, 'Copy it now.'),
        ' This dialog does not show it again; Reveal shows it later, and each reveal is recorded in the audit log.'),
    h('div', {class: 'field'}, h('label', {for: input.id}, o.label || 'Signing secret'), h('div', {class: 'row'}, input, copy)),
    out,
    h('div', {class: 'actions'}, h('button', {type: 'button', onclick: () => close(true)}, 'Done')),
  ];
}

// showSecret opens a dialog showing a secret (opts as secretView's).
export function showSecret(secret, why, opts) {
  return open((opts && opts.label) || 'Signing secret', (close) => secretView(secret, why, close, opts), {class: 'secret-dialog'});
}

// rotate asks for a grace period, then calls rotate(grace) and shows the
// new secret it answers with ({secret, previous_secret_expires_at}).
// intro says what rotating does; label names the button and the secret.
// It resolves with rotate's answer, or undefined when cancelled.
export function rotate(title, intro, label, call, secretLabel) {
  let updated;
  return open(title, (close, body) => {
    const select = h('select', {id: 'grace-period'},
      h('option', {value: '0s'}, 'none: the old secret stops at once'),
      h('option', {value: '1h'}, '1 hour'),
      h('option', {value: '24h', selected: true}, '24 hours (default)'),
      h('option', {value: '72h'}, '3 days'),
      h('option', {value: '168h'}, '7 days (the longest)'));
    const status = h('p', {role: 'status'});
    const go = h('button', {type: 'button', class: 'primary', id: 'confirm-rotate', onclick: async () => {
      go.disabled = true;
      try {
        updated = await call(select.value);
        const what = secretLabel ? secretLabel.toLowerCase() : 'secret';
        const why = updated.previous_secret_expires_at ?
          'This is the new ' + what + '. The previous one keeps signing beside it until ' + time(updated.previous_secret_expires_at) + ', so update your receiver before then.' :
          'This is the new ' + what + '; the previous one no longer signs.';
        fill(body, secretView(updated.secret, why, close, {label: secretLabel}));
        body.querySelector('button.primary').focus();
      } catch (err) {
        go.disabled = false;
        fill(status, h('span', {class: 'error-text'}, errorText(err)));
      }
    }}, label);
    return [
      h('p', null, intro),
      h('div', {class: 'field'}, h('label', {for: 'grace-period'}, 'Grace period'), select),
      status,
      h('div', {class: 'actions'}, h('button', {type: 'button', onclick: () => close()}, 'Cancel'), go),
    ];
  }).then(() => updated);
}
