// The Hookstream console: a page that manages a tenant's webhooks through the
// REST API. Views are chosen by the URL's hash (#/webhooks, #/dead-letters,
// #/live, #/security); each gets a View whose signal aborts its calls and
// timers when the user moves on.

import {api, session, onUnauthorized, isAbort} from './api.js';
import {h, fill, field} from './dom.js';
import {errorText} from './ui.js';
import {listView, detailView} from './webhooks.js';
import {formView} from './form.js';
import {deadLettersView} from './deadletters.js';
import {liveView} from './live.js';
import {securityView} from './security.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const signOut = document.getElementById('sign-out');

const routes = [
  [/^#\/webhooks\/new$/, () => formView],
  [/^#\/webhooks\/([^/?]+)\/edit$/, () => formView],
  [/^#\/webhooks\/([^/?]+)$/, () => detailView],
  [/^#\/webhooks$/, () => listView],
  [/^#\/dead-letters(?:\?.*)?$/, () => deadLettersView],
  [/^#\/live$/, () => liveView],
  [/^#\/security$/, () => securityView],
];

// View is what a view function gets: where to render, the route's
// parameters, and a signal aborted when the user leaves.
class View {
  constructor(params, query) {
    this.main = main;
    this.params = params;
    this.query = query;
    this.controller = new AbortController();
    this.signal = this.controller.signal;
  }

  // every runs fn every ms while the view is shown and the tab visible.
  every(ms, fn) {
    const id = setInterval(() => {
      if (!document.hidden) fn().catch((err) => { if (!isAbort(err)) console.warn(err); });
    }, ms);
    this.signal.addEventListener('abort', () => clearInterval(id));
  }

  get alive() { return !this.signal.aborted; }

  leave() { this.controller.abort(); }
}

let current = null;

function leave() {
  if (current) current.leave();
  current = null;
}

async function route() {
  if (!session.token()) {
    showSignIn('');
    return;
  }
  const hash = location.hash || '#/webhooks';
  let match = null;
  let view = null;
  for (const [re, v] of routes) {
    match = hash.match(re);
    if (match) { view = v(); break; }
  }
  if (!view) {
    location.replace('#/webhooks');
    return;
  }
  leave();
  const qs = hash.includes('?') ? hash.slice(hash.indexOf('?') + 1) : '';
  const params = match.slice(1).map((p) => p && decodeURIComponent(p));
  current = new View(params, new URLSearchParams(qs));
  const mine = current;
  nav.hidden = false;
  signOut.hidden = false;
  for (const a of nav.querySelectorAll('a')) {
    const here = hash === a.getAttribute('href') || hash.startsWith(a.getAttribute('href') + '/') || hash.startsWith(a.getAttribute('href') + '?');
    if (here) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  main.replaceChildren(h('p', {class: 'loading'}, 'Loading…'));
  try {
    await view(mine);
    if (mine.alive) {
      const title = main.querySelector('h1');
      if (title) {
        title.tabIndex = -1;
        document.title = title.textContent + ' · Hookstream console';
        if (!main.contains(document.activeElement)) title.focus({preventScroll: true});
      }
    }
  } catch (err) {
    if (isAbort(err) || !mine.alive) return;
    fill(main, h('h1', null, 'Something went wrong'), h('p', {class: 'error-text', role: 'alert'}, errorText(err)),
      h('p', null, h('a', {href: '#/webhooks'}, 'Back to the webhooks')));
  }
}

// showSignIn asks for a tenant token.
function showSignIn(message) {
  leave();
  nav.hidden = true;
  signOut.hidden = true;
  document.title = 'Sign in · Hookstream console';
  const input = h('input', {type: 'password', name: 'token', autocomplete: 'off', spellcheck: 'false', required: true, id: 'token'});
  const status = h('p', {class: 'error-text', role: 'alert', id: 'sign-in-status'}, message || '');
  const button = h('button', {type: 'submit', class: 'primary'}, 'Sign in');
  const form = h('form', {class: 'card sign-in', id: 'sign-in', onsubmit: async (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    button.disabled = true;
    status.textContent = '';
    session.set(token);
    try {
      await api('GET', '/v1/webhooks', undefined, {signingIn: true});
      if (!location.hash || location.hash === '#/') location.hash = '#/webhooks';
      else route();
    } catch (err) {
      session.clear();
      button.disabled = false;
      status.textContent = err.status === 401 ? 'That token was not accepted: check it and try again.' : errorText(err);
      input.focus();
    }
  }},
  h('h1', null, 'Sign in'),
  h('p', null, 'Sign in with your tenant\'s API token. ',
    h('code', null, 'hookstream dev'), ' prints it at start and keeps it in ', h('code', null, 'hookstream-data/dev-token'), '.'),
  field('API token', input, 'Kept in this browser tab only, and forgotten when you sign out or close the tab.'),
  status,
  h('div', {class: 'actions'}, button));
  fill(main, form);
  input.focus();
}

onUnauthorized(() => showSignIn('Your session ended: the API no longer accepts the token. Sign in again.'));

signOut.addEventListener('click', () => {
  session.clear();
  showSignIn('Signed out.');
});

document.getElementById('skip').addEventListener('click', (ev) => {
  ev.preventDefault();
  main.focus();
});

window.addEventListener('hashchange', route);
route();
