// Modal dialogs on <dialog>: showModal makes the rest of the page inert (focus
// stays inside), Escape closes, and focus returns to what opened it.

import {h, fill, uid} from './dom.js';

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

// secretView shows a secret once, with a copy button.
export function secretView(secret, why, close) {
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
    h('p', {class: 'warning'}, h('strong', null, 'Copy it now: you will not see this again.'),
      ' Hookstream stores it, but never shows it a second time.'),
    h('div', {class: 'field'}, h('label', {for: input.id}, 'Signing secret'), h('div', {class: 'row'}, input, copy)),
    out,
    h('div', {class: 'actions'}, h('button', {type: 'button', onclick: () => close(true)}, 'Done')),
  ];
}

// showSecret opens a dialog showing a secret once.
export function showSecret(secret, why) {
  return open('Signing secret', (close) => secretView(secret, why, close), {class: 'secret-dialog'});
}
