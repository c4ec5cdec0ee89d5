// Formatting of times, rates and durations for display.

const pad = (n) => String(n).padStart(2, '0');

// time formats an RFC 3339 time as local "2026-11-24 09:01:02".
export function time(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (isNaN(d)) return String(iso);
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
    pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
}

// clock formats a time as local "09:01".
export function clock(d) {
  return pad(d.getHours()) + ':' + pad(d.getMinutes());
}

// ago says how long ago (or, in the future, in how long) iso is.
export function ago(iso, now) {
  if (!iso) return '';
  const ms = new Date(iso).getTime() - (now || Date.now());
  const s = Math.round(Math.abs(ms) / 1000);
  let out;
  if (s < 60) out = s + ' s';
  else if (s < 3600) out = Math.round(s / 60) + ' min';
  else if (s < 48 * 3600) out = Math.round(s / 3600) + ' h';
  else out = Math.round(s / 86400) + ' days';
  return ms > 0 ? 'in ' + out : out + ' ago';
}

// percent formats a share (0..1).
export function percent(x) {
  if (x === null || x === undefined) return '—';
  const p = x * 100;
  return (p === 100 || p === 0 ? p.toFixed(0) : p.toFixed(1)) + ' %';
}

// latency formats milliseconds.
export function latency(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 10) return ms.toFixed(1) + ' ms';
  if (ms < 1000) return Math.round(ms) + ' ms';
  return (ms / 1000).toFixed(2) + ' s';
}

// rate formats a per-second rate.
export function rate(x) {
  if (x === 0) return '0';
  if (x < 1) return x.toFixed(2);
  if (x < 10) return x.toFixed(1);
  return Math.round(x).toString();
}

// plural says "1 dead letter" or "3 dead letters".
export function plural(n, one, many) {
  return n + ' ' + (n === 1 ? one : (many || one + 's'));
}

// eventsText describes a webhook's subscription.
export function eventsText(events) {
  if (!events || events.length === 0) return '—';
  if (events.length === 1 && events[0] === '*') return 'all events (*)';
  return events.join(', ');
}

// signatureText describes a signature configuration.
export function signatureText(sig) {
  if (!sig) return 'standard';
  if (sig.preset) return sig.preset;
  const parts = ['custom: ' + (sig.algorithm || 'sha256') + ', ' + (sig.encoding || 'hex'), 'header ' + (sig.header || '?')];
  if (sig.prefix) parts.push('prefix ' + sig.prefix);
  return parts.join(', ');
}
