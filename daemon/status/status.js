// The status page: renders the daemon's status document (GET /v1/status, then every "status"
// event of GET /v1/events). Every string is put in the page as text (text nodes and
// attributes, never parsed as markup), so nothing from Git or the cluster is read as HTML;
// links only for http(s).
'use strict';

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

const GOOD = new Set(['Synced', 'Healthy', 'accepted', 'accept']);
const BAD = new Set(['Failed', 'Degraded', 'Missing', 'rejected', 'reject', 'SourceUnavailable']);
function badge(word) {
  const w = String(word || 'Unknown');
  const cls = GOOD.has(w) ? 'ok' : BAD.has(w) ? 'bad' : w === 'OutOfSync' || w === 'Progressing' ? 'warn' : 'info';
  return el('span', { class: 'badge ' + cls, 'data-value': w }, w);
}

function safeUrl(u) { return typeof u === 'string' && /^https?:\/\//.test(u) ? u : null; }

function revision(rev, url) {
  if (!rev) return el('span', {}, 'none');
  const text = el('code', {}, rev.slice(0, 12));
  const href = safeUrl(url);
  return href ? el('a', { href, title: rev, rel: 'noreferrer' }, text) : el('span', { title: rev }, text);
}

function table(caption, label, headers, rows) {
  if (!rows.length) return el('p', {}, caption + ': none.');
  return el('div', { class: 'scroll', tabindex: '0', role: 'region', 'aria-label': label },
    el('table', {}, el('caption', {}, caption),
      el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c) => el('td', {}, c)))))));
}

function list(items) {
  if (!items || !items.length) return '—';
  return el('ul', { class: 'plain' }, items.map((i) => el('li', {}, i)));
}

function syncRows(t) {
  return (t.recentSyncs || []).map((s) => [s.time, badge(s.state), revision(s.revision, s.revisionUrl),
    (s.durationMs / 1000).toFixed(2) + ' s', String(s.applied) + (s.appliedObjects.length ? '' : ''),
    list(s.appliedObjects), String(s.pruned), list(s.prunedObjects), s.error || '—']);
}

function objectRows(t) {
  return (t.objects || []).map((o) => [el('code', {}, o.object), badge(o.health), o.reason || '—',
    o.drift ? (o.drift.deleted ? 'deleted' : list(o.drift.fields)) : 'none',
    o.drift ? (o.drift.changedBy || 'unknown') : '—']);
}

function target(t) {
  const id = 'target-' + t.name;
  const facts = el('dl', { class: 'facts' },
    el('dt', {}, 'State'), el('dd', { class: 'state' }, badge(t.state)),
    el('dt', {}, 'Health'), el('dd', { class: 'health' }, badge(t.health), ' ', t.healthReason || ''),
    el('dt', {}, 'Drift'), el('dd', { class: 'drift' }, t.drifted ? t.drifted + ' object(s) differ from Git' : 'none',
      ' (' + t.driftMode + ', ' + t.healed + ' corrected)', t.selfHealLoop ? ' — ' + t.selfHealLoop : ''),
    el('dt', {}, 'Desired revision'), el('dd', { class: 'desired' }, revision(t.desiredRevision, t.desiredUrl)),
    el('dt', {}, 'Applied revision'), el('dd', { class: 'applied' }, revision(t.appliedRevision, t.appliedUrl)),
    el('dt', {}, 'Path'), el('dd', {}, el('code', {}, t.path)),
    el('dt', {}, 'Cluster'), el('dd', { class: 'cluster' }, el('code', {}, t.cluster || 'unknown'),
      t.clusterUp === false ? ' (does not answer)' : ''),
    el('dt', {}, 'Objects'), el('dd', {}, String(t.objectCount)),
    el('dt', {}, 'Last error'), el('dd', { class: 'error' }, t.lastError || 'none'),
    t.pruneBlocked ? [el('dt', {}, 'Prune blocked'), el('dd', {}, t.pruneBlocked)] : []);
  return el('article', { class: 'target', id, 'aria-labelledby': id + '-h', 'data-target': t.name },
    el('h3', { id: id + '-h' }, t.name), facts,
    table('Recent syncs of ' + t.name, 'Recent syncs of ' + t.name,
      ['Ended', 'Result', 'Revision', 'Duration', 'Applied', 'Applied objects', 'Pruned', 'Pruned objects', 'Error'],
      syncRows(t)),
    el('details', { open: t.drifted > 0 || t.health !== 'Healthy' },
      el('summary', {}, 'Objects of ' + t.name + ' (' + (t.objects || []).length + ')'),
      table('Objects of ' + t.name, 'Objects of ' + t.name, ['Object', 'Health', 'Reason', 'Drifted fields', 'Changed by'],
        objectRows(t))));
}

function gateRows(doc) {
  return (doc.gateDecisions || []).map((g) => [g.time, badge(g.decision), g.pusher || 'unknown', g.repository || '—',
    list((g.refs || []).map((r) => r.ref + ' → ' + (r.new || '').slice(0, 12))), list(g.rules),
    list(g.errors), g.breakGlass ? 'break-glass: ' + g.breakGlass : '—']);
}

function render(doc) {
  document.getElementById('sign-in').hidden = true;
  const targets = document.getElementById('targets');
  targets.replaceChildren(...(doc.targets.length ? doc.targets.map(target) : [el('p', {}, 'No targets.')]));
  document.getElementById('gate').replaceChildren(doc.gateAuditLog
    ? table('Recent pushes judged by the gate (newest first)', 'Gate decisions',
      ['Time', 'Decision', 'Pusher', 'Repository', 'Refs', 'Rules', 'Findings', 'Break-glass'], gateRows(doc))
    : el('p', {}, 'The gate\'s audit log is not configured (statusPage.gateAuditLog).'));
  document.getElementById('breakglass').replaceChildren(
    table('Recent break-glass uses', 'Break-glass', ['Time', 'By', 'Reason', 'Refs', 'Seen by'],
      (doc.breakGlass || []).map((b) => [b.time, b.actor || 'unknown', b.reason, list(b.refs), b.source])));
  const l = doc.leader || {};
  document.getElementById('leader').textContent = l.role
    ? 'This replica (' + l.identity + ') is ' + l.role + (l.role === 'standby' ? '; leader: ' + (l.holder || 'none') : '') + '.'
    : '';
  document.getElementById('updated').textContent = new Date().toISOString();
  document.body.setAttribute('data-rendered', String(Number(document.body.getAttribute('data-rendered') || 0) + 1));
}

function setConnection(text) { document.getElementById('connection').textContent = text; }

function signIn() {
  document.getElementById('sign-in').hidden = false;
  setConnection('Sign in to see the status.');
}

async function start() {
  let res;
  try {
    res = await fetch('/v1/status', { credentials: 'same-origin', cache: 'no-store' });
  } catch (e) {
    setConnection('Cannot reach the daemon.');
    return;
  }
  if (res.status === 401) return signIn();
  if (!res.ok) return setConnection('The daemon answered ' + res.status + '.');
  render(await res.json());
  setConnection('Loaded; connecting for live updates…');
  const events = new EventSource('/v1/events');
  events.addEventListener('open', () => setConnection('Live: updates as they happen.'));
  events.addEventListener('status', (e) => {
    try { render(JSON.parse(e.data)); } catch (err) { setConnection('Bad update: ' + err); }
  });
  events.addEventListener('error', () => setConnection('Disconnected; reconnecting…'));
}

document.addEventListener('DOMContentLoaded', start);
