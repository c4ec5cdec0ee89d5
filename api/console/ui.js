// Pieces shared by the views: status badges, test results, notices.

import {api, ApiError} from './api.js';
import {h, fill} from './dom.js';
import * as fmt from './format.js';

// errorText is what to tell the user about a failed call.
export function errorText(err) {
  if (err instanceof ApiError) {
    return err.field ? err.message + ' (' + err.field + ')' : err.message;
  }
  return String((err && err.message) || err);
}

// programErrorText says what is wrong with a transform or filter that does
// not compile, where: "Line 2, column 6: unexpected token". Other errors are
// their message.
export function programErrorText(err) {
  const msg = err.message.replace(/^line \d+, column \d+: /, '');
  if (!(err instanceof ApiError) || !err.position) return msg;
  return 'Line ' + err.position.line + ', column ' + err.position.column + ': ' + msg;
}

// showError puts an error into a status element.
export function showError(el, err, prefix) {
  fill(el, h('span', {class: 'error-text'}, (prefix ? prefix + ': ' : '') + errorText(err)));
}

// badge is a small coloured label.
export function badge(text, kind) {
  return h('span', {class: 'badge ' + (kind || '')}, text);
}

// statusBadges describe a webhook's state: enabled, disabled (and why),
// circuit open (from its stats).
export function statusBadges(wh, stats) {
  const out = [];
  if (!wh.enabled) {
    out.push(badge('Disabled', 'bad'));
    if (wh.disabled_reason) out.push(h('span', {class: 'reason'}, wh.disabled_reason));
  } else if (stats && stats.circuit_open_until && new Date(stats.circuit_open_until) > new Date()) {
    out.push(badge('Circuit open', 'warn'));
    out.push(h('span', {class: 'reason'}, 'deliveries held back until ' + fmt.time(stats.circuit_open_until)));
  } else if (stats && stats.failing_since) {
    out.push(badge('Failing', 'warn'));
    out.push(h('span', {class: 'reason'}, 'every attempt failing since ' + fmt.time(stats.failing_since)));
  } else {
    out.push(badge('Enabled', 'ok'));
  }
  return out;
}

// outcomeBadge labels an attempt's outcome.
export function outcomeBadge(outcome) {
  const kind = outcome === 'success' ? 'ok' : outcome === 'failed' ? 'bad' : 'warn';
  return badge(outcome || '?', kind);
}

// attemptResult shows the answer to a test send: status code, latency and
// the response excerpt, or the error.
export function attemptResult(el, a) {
  const ok = a.outcome === 'success';
  const head = [
    h('strong', null, ok ? 'Delivered' : 'Not delivered'), ': ',
    a.status_code ? 'HTTP ' + a.status_code : 'no HTTP answer',
    ' in ', fmt.latency(a.latency_ms),
  ];
  fill(el,
    h('div', {class: 'test-result ' + (ok ? 'ok' : 'bad'), 'data-outcome': a.outcome || ''},
      h('p', {class: 'test-head'}, head),
      a.error ? h('p', {class: 'error-text'}, 'Error: ' + a.error) : null,
      a.response ? [h('p', {class: 'label'}, 'Response'), h('pre', {class: 'excerpt'}, a.response)] :
        h('p', {class: 'hint'}, 'The response body was empty.')));
}

// replayResultText summarises POST /v1/dead-letters/replay's answer.
export function replayResultText(r) {
  let out = 'Replayed ' + r.replayed + ', kept ' + r.kept;
  const reasons = Object.entries(r.kept_reasons || {});
  if (reasons.length) out += ' (' + reasons.map(([k, v]) => k + ': ' + v).join('; ') + ')';
  if (r.not_found) out += ', ' + r.not_found + ' no longer waiting';
  out += '.';
  if (!r.complete) out += ' The replay stopped at its time limit: run it again for the rest.';
  return out;
}

// setEnabled enables or disables a webhook. On re-enabling it offers, in
// notice, to replay the deliveries it missed meanwhile. It returns the
// updated webhook.
export async function setEnabled(wh, enabled, notice) {
  const updated = await api('PATCH', '/v1/webhooks/' + encodeURIComponent(wh.id), {enabled});
  if (!notice) return updated;
  if (enabled && updated.dead_letters > 0) {
    const n = updated.dead_letters;
    const status = h('span', {role: 'status'});
    const btn = h('button', {type: 'button', class: 'primary', onclick: async () => {
      btn.disabled = true;
      try {
        const r = await api('POST', '/v1/dead-letters/replay', {webhook_id: wh.id});
        fill(status, replayResultText(r));
      } catch (err) {
        btn.disabled = false;
        showError(status, err);
      }
    }}, 'Replay ' + fmt.plural(n, 'missed delivery', 'missed deliveries'));
    fill(notice, h('div', {class: 'notice'},
      h('p', null, (updated.name || 'The webhook') + ' is enabled again. ' +
        fmt.plural(n, 'delivery', 'deliveries') + ' failed or waited while it was off; they go out at the end-of-day replay, or now:'),
      h('div', {class: 'row'}, btn, status)));
  } else {
    fill(notice, h('p', {class: 'notice', role: 'status'}, (updated.name || 'The webhook') + (enabled ? ' is enabled.' : ' is disabled: its deliveries wait in the dead letters.')));
  }
  return updated;
}
