// Security: the tenant's organisation-wide signing key, which the webhooks
// that ask for it (signing key "tenant") sign with. Reading it is audited,
// so the page shows it only when asked, after a confirmation; regenerating
// it keeps the old key signing for a grace period.

import {api} from './api.js';
import {h, fill} from './dom.js';
import * as fmt from './format.js';
import * as dialog from './dialog.js';
import {showError} from './ui.js';

const enc = encodeURIComponent;

// securityView is #/security.
export async function securityView(view) {
  const {data: hooks} = await api('GET', '/v1/webhooks', undefined, {signal: view.signal});
  const users = hooks.filter((w) => w.signing_key === 'tenant');
  const notice = h('div', {id: 'key-notice', role: 'status'});
  const facts = h('dl', {class: 'settings', id: 'key-facts'},
    h('dt', null, 'Key'), h('dd', null, 'hidden: reveal it to see it and when it was made or last regenerated'));

  const reveal = h('button', {type: 'button', id: 'reveal-key', onclick: async () => {
    const ok = await dialog.confirm('Reveal the signing key?',
      'Show your organisation-wide signing key on this screen? Anyone with it can sign requests that every webhook using it accepts. ' +
      'Each reveal is recorded in the audit log.', 'Reveal key');
    if (!ok) return;
    reveal.disabled = true;
    try {
      const k = await api('GET', '/v1/signing-key', undefined, {signal: view.signal});
      describe(k);
      await dialog.showSecret(k.secret, 'This is your organisation-wide signing key' +
        (k.previous_secret_expires_at ? '; the previous one keeps signing beside it until ' + fmt.time(k.previous_secret_expires_at) + '.' : '.'),
      {revealed: true, label: 'Signing key'});
    } catch (err) {
      showError(notice, err, 'Could not reveal the key');
    } finally {
      reveal.disabled = false;
    }
  }}, 'Reveal key');

  const regenerate = h('button', {type: 'button', class: 'danger', id: 'regenerate-key', onclick: async () => {
    const k = await dialog.rotate('Regenerate the signing key?',
      'A new organisation-wide key signs the deliveries of ' + fmt.plural(users.length, 'webhook') + ' that use it from now on. ' +
      'During the grace period the old key signs too, so receivers can move to the new one. This is recorded in the audit log.',
      'Regenerate key', (grace) => api('POST', '/v1/signing-key/rotate', {grace_period: grace}), 'Signing key');
    if (k) {
      describe(k);
      fill(notice, h('p', {class: 'notice'}, 'The signing key was regenerated.'));
    }
  }}, 'Regenerate key');

  // describe shows the key's dates (read with it).
  function describe(k) {
    fill(facts,
      h('dt', null, 'Created'), h('dd', null, fmt.time(k.created_at)),
      h('dt', null, 'Regenerated'), h('dd', null, k.rotated_at ? fmt.time(k.rotated_at) : 'never'),
      h('dt', null, 'Previous key'), h('dd', null, k.previous_secret_expires_at ?
        ['keeps signing until ', h('time', {datetime: k.previous_secret_expires_at}, fmt.time(k.previous_secret_expires_at)),
          ' (' + fmt.ago(k.previous_secret_expires_at) + ')'] : 'none signs'));
  }

  fill(view.main,
    h('div', {class: 'page-head'}, h('h1', null, 'Security')),
    h('section', {class: 'card', 'aria-labelledby': 'key-title'},
      h('h2', {id: 'key-title'}, 'Signing key'),
      h('p', null, 'Your organisation-wide signing key. Webhooks set to sign with it (Bindbee\'s profile chooses it) ',
        'use it instead of a secret of their own, so one key verifies them all.'),
      facts,
      h('div', {class: 'row wrap toolbar'}, reveal, regenerate),
      notice,
      h('h3', null, 'Webhooks that sign with it'),
      users.length ? h('ul', {id: 'key-users'}, users.map((w) => h('li', null, h('a', {href: '#/webhooks/' + enc(w.id)}, w.name || w.id),
        ' ', h('span', {class: 'url'}, w.url)))) :
        h('p', {class: 'hint', id: 'key-users'}, 'None yet: each webhook signs with its own secret. Choose the organisation-wide key in a webhook\'s advanced settings.')));
}
