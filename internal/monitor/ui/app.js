// Durable Monitor: a single-page dashboard over the Durable Functions management API.
// Plain JavaScript, no dependencies. Every server call goes through api(), which sends
// the page's ?code= as x-functions-key, so authorization is the management API's.
(function () {
  'use strict';

  const MGMT = document.querySelector('meta[name="mgmt-base"]').content.replace(/\/$/, '');
  const KEY = new URLSearchParams(location.search).get('code');
  const STATUSES = ['Running', 'Pending', 'Suspended', 'Completed', 'Failed', 'Terminated', 'ContinuedAsNew'];
  const TERMINAL = new Set(['Completed', 'Failed', 'Terminated']);
  const REFRESH_MS = 5000;
  const COUNT_SCAN_LIMIT = 2000;

  const $ = (sel, root) => (root || document).querySelector(sel);

  // h builds an element: h('div.card#id', {attrs}, children...). Text is always set as
  // text, never parsed as HTML.
  function h(spec, attrs, ...kids) {
    const m = /^([a-z0-9]+)?((?:[.#][\w-]+)*)$/i.exec(spec) || [];
    const el = document.createElement(m[1] || 'div');
    for (const part of (m[2] || '').match(/[.#][\w-]+/g) || []) {
      if (part[0] === '.') el.classList.add(part.slice(1)); else el.id = part.slice(1);
    }
    if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) { kids.unshift(attrs); attrs = null; }
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'style') Object.assign(el.style, v);
      else if (k in el && k !== 'list' && typeof v !== 'string') el[k] = v;
      else el.setAttribute(k, v === true ? '' : v);
    }
    append(el, kids);
    return el;
  }
  function append(el, kids) {
    for (const k of kids.flat(Infinity)) {
      if (k === undefined || k === null || k === false) continue;
      el.appendChild(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return el;
  }

  // ---- API -------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function api(method, path, opts) {
    opts = opts || {};
    const url = new URL(MGMT + path, location.origin);
    for (const [k, v] of Object.entries(opts.query || {})) {
      if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, v);
    }
    const headers = Object.assign({ Accept: 'application/json' }, opts.headers || {});
    if (KEY) headers['x-functions-key'] = KEY;
    const init = { method, headers, cache: 'no-store', credentials: 'same-origin', referrerPolicy: 'no-referrer' };
    if (opts.body !== undefined) { headers['Content-Type'] = 'application/json'; init.body = opts.body; }
    let res;
    try {
      res = await fetch(url, init);
    } catch (e) {
      throw new ApiError(0, 'The management API is unreachable: ' + e.message);
    }
    const text = await res.text();
    let data = null;
    if (text) { try { data = JSON.parse(text); } catch (_) { data = text; } }
    if (res.status === 401 || res.status === 403) {
      showBanner('The management API refused the request (' + res.status + '). Open the dashboard with ?code=<master key> in its URL.');
    }
    if (!res.ok && !opts.allow?.includes(res.status)) {
      // The management API answers DF's error shapes ({Message, ExceptionMessage} or a JSON string).
      const msg = (data && typeof data === 'object' && (data.ExceptionMessage || data.Message || data.error)) || (typeof data === 'string' && data) || res.statusText;
      throw new ApiError(res.status, msg + ' (HTTP ' + res.status + ')');
    }
    return { status: res.status, data, next: res.headers.get('x-ms-continuation-token') || '' };
  }

  const enc = encodeURIComponent;

  // changed reports whether data differs from what el last showed, so a refresh that
  // brings nothing new leaves the DOM alone (no flicker; open cells and clicks survive).
  function changed(el, data) {
    const sig = JSON.stringify(data);
    if (el.dataset.sig === sig) return false;
    el.dataset.sig = sig;
    return true;
  }

  // ---- Formatting ------------------------------------------------------------------

  const pad = (n, w) => String(n).padStart(w || 2, '0');
  function fmtTime(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    if (isNaN(d)) return iso;
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }
  function fmtDur(ms) {
    if (ms === null || ms === undefined || isNaN(ms)) return '—';
    ms = Math.max(0, ms);
    if (ms < 1000) return Math.round(ms) + ' ms';
    if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s';
    if (ms < 3600000) return Math.floor(ms / 60000) + ' min ' + Math.round((ms % 60000) / 1000) + ' s';
    if (ms < 86400000) return Math.floor(ms / 3600000) + ' h ' + Math.round((ms % 3600000) / 60000) + ' min';
    return Math.floor(ms / 86400000) + ' d ' + Math.round((ms % 86400000) / 3600000) + ' h';
  }
  // coarseDur is for times the API gives to the second (createdTime, lastUpdatedTime).
  function coarseDur(ms) {
    if (isNaN(ms)) return '—';
    if (ms < 1000) return '< 1 s';
    return ms < 60000 ? Math.round(ms / 1000) + ' s' : fmtDur(ms);
  }
  function ago(iso) {
    const ms = Date.now() - new Date(iso).getTime();
    if (isNaN(ms)) return '';
    return ms < 0 ? 'in ' + fmtDur(-ms) : fmtDur(ms) + ' ago';
  }
  function compactJSON(v, max) {
    if (v === undefined || v === null) return '';
    const s = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v);
    max = max || 80;
    return s.length > max ? s.slice(0, max - 1) + '…' : s;
  }
  function statusChip(s) { return h('span.chip.st-' + (s || 'Unknown'), s || 'Unknown'); }

  // jsonView renders a value as indented, highlighted JSON.
  function jsonView(v, empty) {
    const pre = h('pre.json');
    if (v === undefined || v === null) { pre.appendChild(h('span.z', empty || 'null')); return pre; }
    const text = JSON.stringify(v, null, 2);
    const re = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false)\b|\bnull\b|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;
    let last = 0, m;
    while ((m = re.exec(text))) {
      if (m.index > last) pre.appendChild(document.createTextNode(text.slice(last, m.index)));
      let cls = 'n';
      if (m[1]) cls = m[2] ? 'k' : 's';
      else if (m[3]) cls = 'b';
      else if (m[0] === 'null') cls = 'z';
      pre.appendChild(h('span.' + cls, m[1] && m[2] ? m[1] : m[0]));
      if (m[1] && m[2]) pre.appendChild(document.createTextNode(m[2]));
      last = re.lastIndex;
    }
    if (last < text.length) pre.appendChild(document.createTextNode(text.slice(last)));
    return pre;
  }

  // ---- Chrome: banner, toasts, dialog ----------------------------------------------

  function showBanner(text) { const b = $('#banner'); b.textContent = text; b.hidden = false; }

  function toast(text, isError) {
    const t = h('div.toast' + (isError ? '.err' : ''), { role: 'status' }, text);
    $('#toasts').appendChild(t);
    setTimeout(() => t.remove(), isError ? 8000 : 4000);
  }

  let dialogOpen = false;
  // confirmDialog shows an in-page dialog and resolves to the values of its fields
  // (an object) when confirmed, or null when cancelled.
  function confirmDialog(o) {
    const dlg = $('#dialog');
    $('#dlg-title').textContent = o.title;
    const body = $('#dlg-body');
    body.replaceChildren();
    if (o.message) body.appendChild(h('p', o.message));
    const inputs = {};
    for (const f of o.fields || []) {
      if (f.type === 'checkbox') {
        const input = h('input', { type: 'checkbox', name: f.name, id: 'dlg-f-' + f.name, checked: !!f.value });
        inputs[f.name] = input;
        body.appendChild(h('label.check', input, f.label));
        continue;
      }
      const input = f.type === 'textarea'
        ? h('textarea', { name: f.name, id: 'dlg-f-' + f.name, rows: 4, placeholder: f.placeholder || '' })
        : h('input', { type: 'text', name: f.name, id: 'dlg-f-' + f.name, placeholder: f.placeholder || '' });
      input.value = f.value || '';
      inputs[f.name] = input;
      body.appendChild(h('label.field', h('span', f.label), input));
    }
    const err = h('p.error-text', { hidden: true });
    body.appendChild(err);
    const ok = $('#dlg-ok');
    ok.textContent = o.confirm || 'Confirm';
    ok.className = 'btn ' + (o.danger ? 'btn-danger' : 'btn-primary');
    dlg.hidden = false;
    dialogOpen = true;
    const first = body.querySelector('input[type=text], textarea');
    (first || ok).focus();
    return new Promise((resolve) => {
      const done = (v) => {
        dlg.hidden = true;
        dialogOpen = false;
        ok.onclick = cancel.onclick = dlg.onkeydown = null;
        resolve(v);
      };
      const cancel = $('#dlg-cancel');
      ok.onclick = () => {
        const vals = {};
        for (const [k, el] of Object.entries(inputs)) vals[k] = el.type === 'checkbox' ? el.checked : el.value;
        const problem = o.validate && o.validate(vals);
        if (problem) { err.textContent = problem; err.hidden = false; return; }
        done(vals);
      };
      cancel.onclick = () => done(null);
      dlg.onkeydown = (e) => {
        if (e.key === 'Escape') done(null);
        if (e.key === 'Enter' && e.target.tagName !== 'TEXTAREA') ok.onclick();
      };
    });
  }

  // ---- Router and refresh ----------------------------------------------------------

  let current = null; // {refresh: fn}
  let renderSeq = 0;

  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, '');
    const [path, qs] = raw.split('?');
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    return { view: parts[0] || 'instances', args: parts.slice(1), query: new URLSearchParams(qs || '') };
  }

  async function route() {
    const r = parseHash();
    const seq = ++renderSeq;
    for (const a of document.querySelectorAll('#nav a')) {
      a.classList.toggle('active', a.dataset.view === r.view || (r.view === 'instance' && a.dataset.view === 'instances'));
    }
    const view = $('#view');
    const views = { instances: instancesView, instance: instanceView, entities: entitiesView, taskhub: taskHubView };
    const make = views[r.view] || instancesView;
    view.replaceChildren();
    current = null;
    const v = make(r);
    view.appendChild(v.el);
    view.dataset.view = r.view;
    current = v;
    await refreshCurrent(seq);
  }

  async function refreshCurrent(seq) {
    if (!current) return;
    const v = current;
    try {
      await v.refresh();
      if (seq === undefined || seq === renderSeq) $('#refreshed').textContent = 'Updated ' + fmtTime(new Date().toISOString()).slice(11);
    } catch (e) {
      if (v === current) toast(e.message, true);
    }
  }

  function setupRefresh() {
    const box = $('#auto-refresh');
    box.checked = localStorage.getItem('dm.autoRefresh') !== 'off';
    box.addEventListener('change', () => localStorage.setItem('dm.autoRefresh', box.checked ? 'on' : 'off'));
    $('#refresh-now').addEventListener('click', () => refreshCurrent());
    let busy = false;
    setInterval(async () => {
      if (!box.checked || dialogOpen || busy || document.hidden) return;
      busy = true;
      try { await refreshCurrent(); } finally { busy = false; }
    }, REFRESH_MS);
  }

  function go(hash) { if (location.hash === hash) route(); else location.hash = hash; }

  // ---- Instances view --------------------------------------------------------------

  function instancesView(r) {
    const q = r.query;
    const f = {
      status: q.get('status') || '',
      name: q.get('name') || '',
      prefix: q.get('prefix') || '',
      from: q.get('from') || '',
      to: q.get('to') || '',
    };
    const pageSize = 50;
    let tokens = ['']; // continuation token of each page seen so far
    let pageIdx = 0;

    const statusSel = h('select#f-status', { name: 'status' },
      h('option', { value: '' }, 'All statuses'),
      STATUSES.map((s) => h('option', { value: s }, s)));
    statusSel.value = f.status;
    const nameIn = h('input#f-name', { type: 'search', placeholder: 'e.g. approval', value: f.name });
    const prefixIn = h('input#f-prefix', { type: 'search', placeholder: 'instance id starts with…', value: f.prefix });
    const fromIn = h('input#f-from', { type: 'datetime-local', value: f.from });
    const toIn = h('input#f-to', { type: 'datetime-local', value: f.to });

    const apply = () => {
      const p = new URLSearchParams();
      if (statusSel.value) p.set('status', statusSel.value);
      if (nameIn.value.trim()) p.set('name', nameIn.value.trim());
      if (prefixIn.value.trim()) p.set('prefix', prefixIn.value.trim());
      if (fromIn.value) p.set('from', fromIn.value);
      if (toIn.value) p.set('to', toIn.value);
      const s = p.toString();
      go('#/instances' + (s ? '?' + s : ''));
    };
    const form = h('form.filters', {
      onsubmit: (e) => { e.preventDefault(); apply(); },
    },
    h('label.field', h('span', 'Status'), statusSel),
    h('label.field.grow', h('span', 'Orchestrator'), nameIn),
    h('label.field.grow', h('span', 'Instance id prefix'), prefixIn),
    h('label.field', h('span', 'Created from'), fromIn),
    h('label.field', h('span', 'Created to'), toIn),
    h('div.actions',
      h('button.btn', { type: 'button', onclick: () => go('#/instances') }, 'Reset'),
      h('button.btn.btn-primary#f-apply', { type: 'submit' }, 'Apply filters')));
    statusSel.addEventListener('change', apply);

    const counts = h('div.counts#counts');
    const tbody = h('tbody');
    const pagerInfo = h('span');
    const prev = h('button.btn.btn-sm#page-prev', { type: 'button', onclick: () => { if (pageIdx > 0) { pageIdx--; load(); } } }, '‹ Previous');
    const next = h('button.btn.btn-sm#page-next', { type: 'button', onclick: () => { if (tokens[pageIdx + 1] !== undefined) { pageIdx++; load(); } } }, 'Next ›');
    const listCard = h('section.card',
      form,
      h('div.table-wrap', h('table.grid#instances',
        h('thead', h('tr', h('th', 'Instance id'), h('th', 'Orchestrator'), h('th', 'Status'), h('th', 'Created'), h('th', 'Last updated'), h('th', 'Duration'), h('th', 'Custom status'))),
        tbody)),
      h('div.pager', pagerInfo, h('div.btns', prev, next)));

    const el = h('div.stack',
      h('div.page-head', h('div', h('h1', 'Orchestration instances'), h('div.sub', 'Every orchestration of this task hub, as the management API lists them.'))),
      counts, listCard);

    const baseQuery = () => ({
      createdTimeFrom: f.from ? new Date(f.from).toISOString() : '',
      createdTimeTo: f.to ? new Date(f.to).toISOString() : '',
      instanceIdPrefix: f.prefix,
      showInput: 'false',
    });
    const nameMatch = (s) => !f.name || (s.name || '').toLowerCase().includes(f.name.toLowerCase());

    // One page: server pages of the filtered query; the orchestrator name filter runs
    // here (the API has none), so a page keeps reading until it is full.
    async function fetchPage(token) {
      const rows = [];
      let next = token, reads = 0;
      do {
        const res = await api('GET', '/instances', {
          query: Object.assign(baseQuery(), { runtimeStatus: f.status, top: f.name ? 200 : pageSize }),
          headers: next ? { 'x-ms-continuation-token': next } : {},
        });
        rows.push(...(res.data || []).filter(nameMatch));
        next = res.next;
        reads++;
      } while (next && rows.length < pageSize && (f.name || rows.length === 0) && reads < 25);
      return { rows, next };
    }

    async function loadCounts() {
      const by = {};
      let total = 0, next = '', capped = false;
      do {
        const res = await api('GET', '/instances', {
          query: Object.assign(baseQuery(), { top: 1000 }),
          headers: next ? { 'x-ms-continuation-token': next } : {},
        });
        for (const s of res.data || []) {
          if (!nameMatch(s)) continue;
          by[s.runtimeStatus] = (by[s.runtimeStatus] || 0) + 1;
          total++;
        }
        next = res.next;
        if (total >= COUNT_SCAN_LIMIT && next) { capped = true; break; }
      } while (next);
      if (!changed(counts, [by, total, capped, f.status])) return;
      const plus = capped ? '+' : '';
      const card = (s, n) => h('button.count.st-' + s + (f.status === s || (s === 'All' && !f.status) ? '.selected' : ''), {
        type: 'button', dataset: { status: s }, title: s === 'All' ? 'Show every status' : 'Show only ' + s,
        onclick: () => { statusSel.value = s === 'All' ? '' : s; apply(); },
      }, h('div.label', s === 'ContinuedAsNew' ? 'Continued' : s), h('div.n', String(n) + (n ? plus : '')));
      counts.replaceChildren(card('All', total), ...STATUSES.map((s) => card(s, by[s] || 0)));
    }

    function row(s) {
      const created = new Date(s.createdTime).getTime();
      const end = TERMINAL.has(s.runtimeStatus) ? new Date(s.lastUpdatedTime).getTime() : Date.now();
      const link = h('a', { href: '#/instance/' + enc(s.instanceId), title: s.instanceId }, s.instanceId);
      return h('tr.clickable', { dataset: { instanceId: s.instanceId, status: s.runtimeStatus }, onclick: (e) => { if (e.target.tagName !== 'A') go('#/instance/' + enc(s.instanceId)); } },
        h('td.id-cell', link),
        h('td', s.name),
        h('td', statusChip(s.runtimeStatus)),
        h('td.time-cell', { title: s.createdTime }, fmtTime(s.createdTime)),
        h('td.time-cell', { title: s.lastUpdatedTime + ' (' + ago(s.lastUpdatedTime) + ')' }, fmtTime(s.lastUpdatedTime)),
        h('td.time-cell', { dataset: TERMINAL.has(s.runtimeStatus) ? {} : { runningSince: String(created) } }, coarseDur(end - created)),
        h('td', h('div.trunc.json-inline', compactJSON(s.customStatus, 60))));
    }

    async function load() {
      const page = await fetchPage(tokens[pageIdx]);
      tokens = tokens.slice(0, pageIdx + 1);
      if (page.next) tokens.push(page.next);
      // Running instances' durations move on in place; an unchanged page stays.
      for (const td of tbody.querySelectorAll('td[data-running-since]')) td.textContent = coarseDur(Date.now() - Number(td.dataset.runningSince));
      if (!changed(tbody, [pageIdx, page])) return;
      tbody.replaceChildren(...(page.rows.length ? page.rows.map(row) : [h('tr', h('td.empty', { colSpan: 7 }, 'No instances match these filters.'))]));
      pagerInfo.textContent = 'Page ' + (pageIdx + 1) + ' · ' + page.rows.length + ' instance' + (page.rows.length === 1 ? '' : 's') + (page.next ? ' · more on the next page' : '');
      prev.disabled = pageIdx === 0;
      next.disabled = !page.next;
    }

    return { el, refresh: () => Promise.all([load(), loadCounts()]) };
  }

  // ---- Instance view ---------------------------------------------------------------

  function instanceView(r) {
    const id = r.args.join('/');
    const el = h('div.stack');
    let last = null;
    const rewindUnsupported = () => sessionStorage.getItem('dm.rewind') === 'unsupported';

    async function act(o) {
      const before = last && last.runtimeStatus;
      const vals = await confirmDialog(o);
      if (!vals) return;
      try {
        const res = await o.run(vals);
        if (res && res.status === 501 && o.on501) { o.on501(res); return; }
        toast(o.done || 'Done');
        if (o.after) { o.after(res); return; }
        // The worker applies the operation asynchronously: look again a few times.
        for (let i = 0; i < 8 && current && current.el === el; i++) {
          await refreshCurrent();
          if (last && last.runtimeStatus !== before) break;
          await new Promise((r) => setTimeout(r, 600));
        }
      } catch (e) {
        toast(e.message, true);
      }
    }

    function actions(s) {
      const st = s.runtimeStatus;
      const base = '/instances/' + enc(id);
      const running = !TERMINAL.has(st);
      const btns = [];
      btns.push(h('button.btn#act-raise', { type: 'button', disabled: !running, onclick: () => act({
        title: 'Raise an event', message: 'Send an external event to ' + id + '.', confirm: 'Raise event',
        fields: [{ name: 'event', label: 'Event name', placeholder: 'ApprovalEvent' }, { name: 'data', label: 'Payload (JSON, optional)', type: 'textarea', placeholder: '{"approved": true}' }],
        validate: (v) => {
          if (!v.event.trim()) return 'An event name is required.';
          if (v.data.trim()) { try { JSON.parse(v.data); } catch (e) { return 'The payload is not valid JSON: ' + e.message; } }
          return '';
        },
        run: (v) => api('POST', base + '/raiseEvent/' + enc(v.event.trim()), { body: v.data.trim() || undefined }),
        done: 'Event raised',
      }) }, 'Raise event'));
      if (st === 'Suspended') {
        btns.push(h('button.btn#act-resume', { type: 'button', onclick: () => act({
          title: 'Resume instance', message: 'Resume ' + id + '? Events held while it was suspended are applied.', confirm: 'Resume',
          fields: [{ name: 'reason', label: 'Reason (optional)' }],
          run: (v) => api('POST', base + '/resume', { query: { reason: v.reason } }), done: 'Resumed',
        }) }, 'Resume'));
      } else {
        btns.push(h('button.btn#act-suspend', { type: 'button', disabled: !running, onclick: () => act({
          title: 'Suspend instance', message: 'Suspend ' + id + '? It stops making progress until resumed.', confirm: 'Suspend',
          fields: [{ name: 'reason', label: 'Reason (optional)' }],
          run: (v) => api('POST', base + '/suspend', { query: { reason: v.reason } }), done: 'Suspended',
        }) }, 'Suspend'));
      }
      btns.push(h('button.btn.btn-danger-outline#act-terminate', { type: 'button', disabled: !running, onclick: () => act({
        title: 'Terminate instance', message: 'Terminate ' + id + '? It ends at once with status Terminated; this cannot be undone.', confirm: 'Terminate', danger: true,
        fields: [{ name: 'reason', label: 'Reason (optional)', placeholder: 'Terminated from Durable Monitor' }],
        run: (v) => api('POST', base + '/terminate', { query: { reason: v.reason || 'Terminated from Durable Monitor' } }), done: 'Termination requested',
      }) }, 'Terminate'));
      btns.push(h('button.btn#act-restart', { type: 'button', onclick: () => act({
        title: 'Restart instance', message: 'Start ' + s.name + ' again with the same input.', confirm: 'Restart',
        fields: [{ name: 'newId', label: 'Start it under a new instance id', type: 'checkbox', value: true }],
        run: (v) => api('POST', base + '/restart', { query: { restartWithNewInstanceId: String(v.newId) } }),
        done: 'Restarted',
        after: (res) => { const nid = res.data && res.data.id; if (nid && nid !== id) go('#/instance/' + enc(nid)); else refreshCurrent(); },
      }) }, 'Restart'));
      if (st === 'Failed' && !rewindUnsupported()) {
        btns.push(h('button.btn#act-rewind', { type: 'button', onclick: () => act({
          title: 'Rewind instance', message: 'Rewind ' + id + '? Its failed tasks are retried from where they failed.', confirm: 'Rewind',
          fields: [{ name: 'reason', label: 'Reason (optional)' }],
          run: (v) => api('POST', base + '/rewind', { query: { reason: v.reason }, allow: [501] }),
          on501: (res) => {
            sessionStorage.setItem('dm.rewind', 'unsupported');
            toast('Rewind is not supported by this task hub: ' + ((res.data && (res.data.Message || res.data.error)) || 'HTTP 501') , true);
            render(last);
          },
          done: 'Rewind requested',
        }) }, 'Rewind'));
      }
      btns.push(h('button.btn.btn-danger-outline#act-purge', { type: 'button', disabled: running, title: running ? 'Only finished instances can be purged' : '', onclick: () => act({
        title: 'Purge instance', message: 'Delete ' + id + ' and all its history? This cannot be undone.', confirm: 'Purge', danger: true,
        run: () => api('DELETE', base), done: 'Purged', after: () => go('#/instances'),
      }) }, 'Purge'));
      return h('div.toolbar', btns);
    }

    function render(s) {
      last = s;
      const events = s.historyEvents || [];
      const started = events.find((e) => e.EventType === 'ExecutionStarted');
      const completed = events.find((e) => e.EventType === 'ExecutionCompleted');
      // History timestamps are precise; the status times are whole seconds.
      const finishedEv = events.find((e) => e.EventType === 'ExecutionCompleted');
      const t0 = new Date((started && started.Timestamp) || s.createdTime).getTime();
      const t1 = finishedEv ? new Date(finishedEv.Timestamp).getTime() : TERMINAL.has(s.runtimeStatus) ? new Date(s.lastUpdatedTime).getTime() : Date.now();
      const dur = started ? fmtDur(t1 - t0) : coarseDur(t1 - t0);
      const fact = (k, v, title) => h('div.fact', h('div.k', k), h('div.v', { title: title || (typeof v === 'string' ? v : '') }, v));
      const head = h('section.card',
        h('div.card-body',
          h('div.crumbs', h('a', { href: '#/instances' }, 'Instances'), ' / ', s.name),
          h('div.page-head',
            h('div.title-row', h('h1#instance-id', s.instanceId), h('span#instance-status', statusChip(s.runtimeStatus))),
            actions(s))),
        h('div.facts',
          fact('Orchestrator', s.name),
          fact('Status', s.runtimeStatus),
          fact('Created', fmtTime(s.createdTime), s.createdTime),
          fact('Last updated', fmtTime(s.lastUpdatedTime), s.lastUpdatedTime + ' (' + ago(s.lastUpdatedTime) + ')'),
          TERMINAL.has(s.runtimeStatus) ? fact('Duration', dur) : h('div.fact', h('div.k', 'Running for'), h('div.v', { dataset: { runningSince: String(t0) } }, dur)),
          fact('History events', String(events.length))));

      let failure = null;
      if (s.runtimeStatus === 'Failed') {
        const fd = (completed && completed.FailureDetails) || null;
        failure = h('section.failure#failure',
          h('h2', 'Failed' + (fd && fd.ErrorType ? ': ' + fd.ErrorType : '')),
          h('div', (fd && fd.ErrorMessage) || (typeof s.output === 'string' ? s.output : JSON.stringify(s.output))),
          fd && fd.StackTrace ? h('pre', fd.StackTrace) : null);
      }
      const term = events.find((e) => e.EventType === 'ExecutionTerminated');
      if (s.runtimeStatus === 'Terminated' && term && term.Reason) {
        failure = h('section.failure', h('h2', 'Terminated'), h('div', term.Reason));
      }

      const panel = (title, v, id, empty) => h('section.card', h('div.card-head', h('h2', title)), h('div#' + id, jsonView(v, empty)));
      const panels = h('div.panels',
        panel('Input', started && 'Input' in started ? started.Input : s.input, 'input', 'no input'),
        panel('Output', s.output, 'output', TERMINAL.has(s.runtimeStatus) ? 'no output' : 'not finished yet'),
        panel('Custom status', s.customStatus, 'custom-status', 'not set'));

      const timeline = h('section.card',
        h('div.card-head', h('h2', 'Timeline'),
          h('div.legend',
            h('span', h('i.l-activity'), 'Activity'), h('span', h('i.l-sub'), 'Sub-orchestration'), h('span', h('i.l-timer'), 'Timer'),
            h('span', h('i.l-entity'), 'Entity'), h('span', h('i.l-lock'), 'Lock'), h('span', h('i.l-event'), 'Event'), h('span', h('i.l-failed'), 'Failed'))),
        renderTimeline(s, events));

      const wasOpen = !!el.querySelector('details.history[open]');
      const hist = h('section.card', h('details.history', { open: wasOpen },
        h('summary', 'History events (' + events.length + ')'),
        h('div.table-wrap', h('table.grid#history',
          h('thead', h('tr', h('th', 'Time'), h('th', 'Event'), h('th', 'Name'), h('th', 'Details'))),
          h('tbody', events.map((e) => h('tr',
            h('td.time-cell', { title: e.Timestamp }, fmtTime(e.Timestamp)),
            h('td', e.EventType),
            h('td', e.FunctionName || e.Name || e.Operation || ''),
            h('td', h('div.trunc.json-inline.expand', {
              onclick: (ev) => ev.currentTarget.classList.toggle('open'),
            }, compactJSON(detailsOf(e), 400))))))))));

      el.replaceChildren(...[head, failure, panels, timeline, hist].filter(Boolean));
    }

    function detailsOf(e) {
      const o = Object.assign({}, e);
      delete o.EventType; delete o.Timestamp; delete o.FunctionName; delete o.Name;
      return o;
    }

    async function refresh() {
      const res = await api('GET', '/instances/' + enc(id), {
        query: { showHistory: 'true', showHistoryOutput: 'true', showInput: 'true' }, allow: [404],
      });
      if (res.status === 404) {
        el.replaceChildren(h('section.card', h('div.empty',
          h('h2', 'No instance ' + id), h('p', 'It may have been purged, or the id is wrong.'), h('a', { href: '#/instances' }, 'Back to instances'))));
        return;
      }
      if (changed(el, res.data)) render(res.data);
      const since = el.querySelector('[data-running-since]');
      if (since) since.textContent = fmtDur(Date.now() - Number(since.dataset.runningSince));
    }
    return { el, refresh };
  }

  // timelineItems turns DF history events into rows: bars from start to end for
  // activities, sub-orchestrations, timers, entity calls and locks; markers for
  // events and lifecycle changes.
  function timelineItems(s, events) {
    const t = (iso) => new Date(iso).getTime();
    const items = [];
    const open = {}; // EventId -> item still waiting for its completion
    const timers = {};
    const lockReq = {};
    let lockHeld = null;
    for (const e of events) {
      const at = t(e.Timestamp);
      switch (e.EventType) {
        case 'ExecutionStarted':
          items.push({ kind: 'lifecycle', name: 'Started', detail: e.FunctionName, start: at, mark: true });
          break;
        case 'TaskScheduled':
          items.push(open[e.EventId] = { kind: 'activity', name: e.FunctionName, detail: 'scheduled', start: at, end: null });
          break;
        case 'SubOrchestrationInstanceCreated':
          items.push(open[e.EventId] = { kind: 'suborchestration', name: e.FunctionName, detail: e.InstanceId, instanceId: e.InstanceId, start: at, end: null });
          break;
        case 'TaskCompleted': case 'TaskFailed':
        case 'SubOrchestrationInstanceCompleted': case 'SubOrchestrationInstanceFailed': {
          const sub = e.EventType.startsWith('Sub');
          const failed = e.EventType.endsWith('Failed');
          let it = open[e.TaskScheduledId];
          if (!it) {
            it = { kind: sub ? 'suborchestration' : 'activity', name: e.FunctionName || '#' + e.TaskScheduledId, start: e.ScheduledTime ? t(e.ScheduledTime) : at };
            items.push(it);
          }
          if (sub && e.InstanceId) { it.instanceId = e.InstanceId; }
          delete open[e.TaskScheduledId];
          it.end = at;
          it.failed = failed;
          it.detail = failed ? (e.Reason || 'failed') : (sub ? it.instanceId || '' : (e.Result !== undefined ? '→ ' + compactJSON(e.Result, 40) : 'completed'));
          it.tip = failed ? e.Reason : compactJSON(e.Result, 200);
          break;
        }
        case 'TimerCreated':
          items.push(timers[e.EventId] = { kind: 'timer', name: 'Timer', detail: 'fires ' + fmtTime(e.FireAt), start: at, end: null, until: t(e.FireAt) });
          break;
        case 'TimerFired': {
          const it = timers[e.TimerId];
          if (it) { it.end = at; it.detail = 'fired'; } else items.push({ kind: 'timer', name: 'Timer fired', start: at, mark: true });
          break;
        }
        case 'EventRaised':
          items.push({ kind: 'event', name: e.Name, detail: 'event received' + (e.Input !== undefined ? ' ' + compactJSON(e.Input, 30) : ''), start: at, mark: true });
          break;
        case 'EventSent':
          items.push({ kind: 'event', name: e.Name, detail: 'sent to ' + e.InstanceId, start: at, mark: true });
          break;
        case 'EntityOperationCalled':
          items.push(open['e' + e.EventId] = { kind: 'entity', name: e.Operation, detail: e.EntityId, start: at, end: null });
          break;
        case 'EntityOperationSignaled':
          items.push({ kind: 'entity', name: e.Operation, detail: 'signal ' + e.EntityId, start: at, mark: true });
          break;
        case 'EntityOperationCompleted': case 'EntityOperationFailed': {
          const it = open['e' + e.TaskScheduledId];
          if (it) {
            it.end = at;
            it.failed = e.EventType.endsWith('Failed');
            if (it.failed) it.detail = e.Reason || 'failed';
            delete open['e' + e.TaskScheduledId];
          }
          break;
        }
        case 'EntityLockRequested':
          items.push(lockReq[e.EventId] = { kind: 'lock', name: 'Acquire locks', detail: (e.LockSet || []).join(', '), start: at, end: null, lockSet: e.LockSet || [] });
          break;
        case 'EntityLockGranted': {
          const it = lockReq[e.TaskScheduledId];
          if (it) {
            it.end = at;
            items.push(lockHeld = { kind: 'locked', name: 'Critical section', detail: it.detail, start: at, end: null });
          }
          break;
        }
        case 'EntityUnlockSent':
          if (lockHeld) { lockHeld.end = at; lockHeld = null; }
          break;
        case 'ExecutionSuspended': case 'ExecutionResumed': case 'ExecutionTerminated':
          items.push({ kind: 'lifecycle', name: e.EventType.replace('Execution', ''), detail: e.Reason || '', start: at, mark: true, failed: e.EventType === 'ExecutionTerminated' });
          break;
        case 'ExecutionCompleted':
          items.push({ kind: 'lifecycle', name: e.OrchestrationStatus || 'Completed', detail: e.Reason || '', start: at, mark: true, failed: e.OrchestrationStatus === 'Failed' });
          break;
      }
    }
    return items;
  }

  function renderTimeline(s, events) {
    const items = timelineItems(s, events);
    const wrap = h('div.timeline#timeline');
    if (!items.length) { wrap.appendChild(h('div.empty', 'No history yet.')); return wrap; }
    const finished = TERMINAL.has(s.runtimeStatus);
    const now = finished ? new Date(s.lastUpdatedTime).getTime() : Date.now();
    let t0 = Infinity, t1 = -Infinity;
    for (const it of items) {
      t0 = Math.min(t0, it.start);
      t1 = Math.max(t1, it.end || it.start);
      if (!finished && !it.mark && !it.end) t1 = Math.max(t1, now);
    }
    // Finished instances span their history; an open timer does not stretch the axis
    // to a far-off fire time.
    t1 = Math.max(t1, t0 + 50);
    const span = t1 - t0;
    const pct = (x) => ((x - t0) / span) * 100;
    // Ticks at a round step (1, 2 or 5 times a power of ten), about five of them.
    const raw = span / 5;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((x) => x >= raw) || raw;
    const ticks = h('div.ticks');
    const grid = h('div.tl-grid');
    for (let x = 0; x <= span + 1e-9; x += step) {
      ticks.appendChild(h('span.tick', { style: { left: pct(t0 + x) + '%' } }, x === 0 ? '0' : '+' + fmtDur(x).replace(/\.0+ s$/, ' s')));
      grid.appendChild(h('span', { style: { left: pct(t0 + x) + '%' } }));
    }
    wrap.appendChild(grid);
    wrap.appendChild(h('div.tl-axis', h('span.tl-label', h('span.detail', 'started ' + fmtTime(new Date(t0).toISOString()))), ticks, h('span')));
    for (const it of items) {
      const kindLabel = { suborchestration: 'sub-orch', locked: 'lock', lifecycle: 'instance' }[it.kind] || it.kind;
      const nameEl = it.instanceId ? h('a.name', { href: '#/instance/' + enc(it.instanceId), title: 'Open ' + it.instanceId, dataset: { instanceId: it.instanceId } }, it.name) : h('span.name', { title: it.name }, it.name);
      const label = h('div.tl-label', h('span.kind.k-' + (it.kind === 'locked' ? 'lock' : it.kind), kindLabel), h('div', { style: { minWidth: '0' } }, nameEl, h('div.detail', { title: it.detail || '' }, it.detail || '')));
      const track = h('div.tl-track');
      let dur = '';
      if (it.mark) {
        track.appendChild(h('span.tl-mark' + (it.failed ? '.failed' : ''), { dataset: { kind: it.kind, name: it.name }, title: it.name + ' at ' + fmtTime(new Date(it.start).toISOString()), style: { left: pct(it.start) + '%' } }));
      } else {
        const end = it.end || now;
        const left = pct(it.start);
        const width = Math.max(0, Math.min(100 - left, pct(Math.min(end, t1)) - left));
        const bar = h('span.tl-bar' + (it.failed ? '.failed' : '') + (it.end ? '' : '.open'), {
          dataset: { kind: it.kind, name: it.name, state: it.end ? (it.failed ? 'failed' : 'done') : 'open' },
          title: it.name + ': ' + fmtDur(end - it.start) + (it.end ? '' : ' so far') + (it.tip ? ' → ' + it.tip : ''),
          style: { left: left + '%', width: 'max(' + width + '%, 3px)' },
        });
        if (it.instanceId) {
          bar.classList.add('clickable');
          bar.addEventListener('click', () => go('#/instance/' + enc(it.instanceId)));
        }
        track.appendChild(bar);
        dur = it.end ? fmtDur(it.end - it.start) : (it.kind === 'timer' && it.until ? 'due ' + ago(new Date(it.until).toISOString()) : 'running');
      }
      wrap.appendChild(h('div.tl-row', { dataset: { kind: it.kind } }, label, track, h('span.tl-dur', dur)));
    }
    return wrap;
  }

  // ---- Entities view ---------------------------------------------------------------

  function entitiesView(r) {
    const name = r.query.get('name') || '';
    const nameIn = h('input#e-name', { type: 'search', placeholder: 'entity name, e.g. counter_entity', value: name });
    const tbody = h('tbody');
    const pagerInfo = h('span');
    let tokens = [''], pageIdx = 0;
    const prev = h('button.btn.btn-sm', { type: 'button', onclick: () => { if (pageIdx > 0) { pageIdx--; load(); } } }, '‹ Previous');
    const next = h('button.btn.btn-sm', { type: 'button', onclick: () => { if (tokens[pageIdx + 1] !== undefined) { pageIdx++; load(); } } }, 'Next ›');
    const form = h('form.filters', { onsubmit: (e) => { e.preventDefault(); const v = nameIn.value.trim(); go('#/entities' + (v ? '?name=' + enc(v) : '')); } },
      h('label.field.grow', h('span', 'Entity name'), nameIn),
      h('div.actions', h('button.btn', { type: 'button', onclick: () => go('#/entities') }, 'Reset'), h('button.btn.btn-primary', { type: 'submit' }, 'Apply filter')));
    const el = h('div.stack',
      h('div.page-head', h('div', h('h1', 'Durable entities'), h('div.sub', 'Entities with state, their last operation and who holds their lock.'))),
      h('section.card', form,
        h('div.table-wrap', h('table.grid#entities',
          h('thead', h('tr', h('th', 'Entity'), h('th', 'Key'), h('th', 'State'), h('th', 'Last modified'), h('th', 'Locked by'), h('th', ''))),
          tbody)),
        h('div.pager', pagerInfo, h('div.btns', prev, next))));

    async function del(e) {
      const id = e.entityId;
      const ok = await confirmDialog({
        title: 'Delete entity', danger: true, confirm: 'Delete',
        message: 'Delete the state of ' + id.name + '@' + id.key + '? This cannot be undone.',
      });
      if (!ok) return;
      try {
        await api('DELETE', '/entities/' + enc(id.name) + '/' + enc(id.key));
        toast('Deleted ' + id.name + '@' + id.key);
        await load();
      } catch (err) { toast(err.message, true); }
    }

    function row(e) {
      const id = e.entityId;
      const state = h('div.trunc.json-inline.expand', { title: 'Click to expand', onclick: (ev) => {
        const d = ev.currentTarget; d.classList.toggle('open'); d.textContent = d.classList.contains('open') ? JSON.stringify(e.state, null, 2) : compactJSON(e.state, 90);
      } }, compactJSON(e.state, 90));
      return h('tr', { dataset: { entity: id.name + '@' + id.key } },
        h('td', id.name), h('td.id-cell', { title: id.key }, id.key), h('td', state),
        h('td.time-cell', { title: e.lastOperationTime + ' (' + ago(e.lastOperationTime) + ')' }, fmtTime(e.lastOperationTime)),
        h('td', e.lockedBy ? h('a.mono', { href: '#/instance/' + enc(e.lockedBy) }, e.lockedBy) : h('span.muted', '—')),
        h('td.num', h('button.btn.btn-sm.btn-danger-outline.del', { type: 'button', onclick: () => del(e) }, 'Delete')));
    }

    async function load() {
      const res = await api('GET', '/entities' + (name ? '/' + enc(name) : ''), {
        query: { fetchState: 'true', top: 50 }, headers: tokens[pageIdx] ? { 'x-ms-continuation-token': tokens[pageIdx] } : {},
      });
      tokens = tokens.slice(0, pageIdx + 1);
      if (res.next) tokens.push(res.next);
      const rows = res.data || [];
      if (!changed(tbody, [pageIdx, rows, res.next])) return;
      tbody.replaceChildren(...(rows.length ? rows.map(row) : [h('tr', h('td.empty', { colSpan: 6 }, 'No entities' + (name ? ' named ' + name : '') + '.'))]));
      pagerInfo.textContent = 'Page ' + (pageIdx + 1) + ' · ' + rows.length + ' entit' + (rows.length === 1 ? 'y' : 'ies');
      prev.disabled = pageIdx === 0;
      next.disabled = !res.next;
    }
    return { el, refresh: load };
  }

  // ---- Task hub view ---------------------------------------------------------------

  function taskHubView() {
    const stats = h('div.stat-row');
    const qbody = h('tbody');
    const pbody = h('tbody');
    const el = h('div.stack',
      h('div.page-head', h('div', h('h1', 'Task hub'), h('div.sub', 'Queue depths and messages that were given up on.'))),
      stats,
      h('section.card', h('div.card-head', h('h2', 'Queues'), h('span.hint', 'Approximate counts include invisible messages (timers, work in progress).')),
        h('div.table-wrap', h('table.grid#queues', h('thead', h('tr', h('th', 'Queue'), h('th', 'Kind'), h('th', { style: { width: '40%' } }, 'Depth'), h('th.num', 'Messages'))), qbody))),
      h('section.card', h('div.card-head', h('h2', 'Poison messages'), h('span.hint', 'Newest first, with the reason each was poisoned.')),
        h('div.table-wrap', h('table.grid#poison', h('thead', h('tr', h('th', 'Time'), h('th', 'Queue'), h('th', 'Reason'), h('th', 'Message'))), pbody))));

    async function refresh() {
      const [hub, poison] = await Promise.all([api('GET', '/taskhub'), api('GET', '/poison', { query: { top: 200 } })]);
      if (!changed(el, [hub.data, poison.data])) return;
      const qs = hub.data.queues || [];
      $('#hub-name').textContent = hub.data.taskHub;
      const max = Math.max(1, ...qs.map((q) => q.approximateMessageCount));
      const work = qs.filter((q) => !q.poison).reduce((a, q) => a + q.approximateMessageCount, 0);
      const poisoned = qs.filter((q) => q.poison).reduce((a, q) => a + q.approximateMessageCount, 0);
      const stat = (label, n, bad) => h('div.stat' + (bad ? '.bad' : ''), h('div.label', label), h('div.n', String(n)));
      stats.replaceChildren(stat('Task hub', hub.data.taskHub), stat('Queues', qs.filter((q) => !q.poison).length), stat('Queued messages', work), stat('Poisoned messages', poisoned, poisoned > 0));
      stats.firstChild.querySelector('.n').classList.add('mono');
      const kind = (q) => q.poison ? h('span.tag.poison', q.kind + ' poison') : h('span.tag', q.kind);
      qbody.replaceChildren(...qs.map((q) => h('tr', { dataset: { queue: q.name } },
        h('td.mono', q.name, q.exists ? null : h('span.tag.missing', { style: { marginLeft: '8px' } }, 'not created')),
        h('td', kind(q)),
        h('td', h('div.qbar' + (q.poison ? '.poison' : ''), h('div', { style: { width: (q.approximateMessageCount / max * 100) + '%' } }))),
        h('td.num', String(q.approximateMessageCount)))));
      const ps = poison.data || [];
      pbody.replaceChildren(...(ps.length ? ps.map((p) => h('tr', { dataset: { messageId: p.messageId } },
        h('td.time-cell', { title: p.time }, fmtTime(p.time)),
        h('td.mono', p.queue),
        h('td', h('div.trunc', { title: p.reason }, p.reason)),
        h('td', h('div.trunc.json-inline.expand', { title: 'Click to expand', onclick: (ev) => ev.currentTarget.classList.toggle('open') }, p.text)))) :
        [h('tr', h('td.empty', { colSpan: 4 }, 'No poison messages. Every message so far was processed.'))]));
    }
    return { el, refresh };
  }

  // ---- Start -----------------------------------------------------------------------

  async function loadHubName() {
    try {
      const res = await api('GET', '/taskhub');
      $('#hub-name').textContent = res.data.taskHub;
    } catch (e) {
      $('#hub-name').textContent = 'task hub unavailable';
    }
  }

  window.addEventListener('hashchange', route);
  setupRefresh();
  loadHubName();
  route();
})();
