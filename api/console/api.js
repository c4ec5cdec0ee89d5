// The API client: every call carries the tenant token the user signed in
// with, kept in this tab's sessionStorage only: not in storage that outlives
// the tab, and never in a cookie.

const KEY = 'hookstream.console.token';

export const session = {
  token() { return sessionStorage.getItem(KEY) || ''; },
  set(token) { sessionStorage.setItem(KEY, token); },
  clear() { sessionStorage.removeItem(KEY); },
};

// ApiError is an answer with an error status, or no answer at all (status 0).
// position is where in a transform or filter the fault is ({line, column,
// offset}), for a program that does not compile; null otherwise.
export class ApiError extends Error {
  constructor(status, code, message, field, position) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || '';
    this.position = position || null;
  }
}

let unauthorized = () => {};

// onUnauthorized sets what happens when the API refuses the token (401).
export function onUnauthorized(fn) { unauthorized = fn; }

// api calls the API and returns the decoded JSON answer (null for 204).
// opts: signal aborts the call; signingIn keeps a 401 from ending the
// session (the sign-in form says why itself).
export async function api(method, path, body, opts) {
  const headers = {Accept: 'application/json', Authorization: 'Bearer ' + session.token()};
  const init = {method, headers, cache: 'no-store', credentials: 'omit', signal: opts && opts.signal};
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', 'The API did not answer (' + err.message + ').');
  }
  if (resp.status === 401) {
    session.clear();
    if (!(opts && opts.signingIn)) unauthorized();
    throw new ApiError(401, 'unauthorized', 'The API did not accept the token.');
  }
  if (resp.status === 204) return null;
  let data = null;
  try {
    data = await resp.json();
  } catch (err) {
    if (err.name === 'AbortError') throw err;
  }
  if (!resp.ok) {
    const e = (data && data.error) || {};
    throw new ApiError(resp.status, e.code || 'http_' + resp.status, e.message || 'The API answered ' + resp.status + '.', e.field, e.position);
  }
  return data;
}

// q builds a query string from the set values of params.
export function q(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  }
  const s = u.toString();
  return s ? '?' + s : '';
}

// isAbort reports whether err is a fetch cancelled by leaving the view.
export function isAbort(err) { return err && err.name === 'AbortError'; }
