// hookd web page: plain JavaScript over the /v0.1 JSON API.
//
// Everything that comes from the API is rendered with textContent or DOM
// nodes, never as HTML. The API token lives in sessionStorage (this tab only)
// and goes out as "Authorization: Bearer <token>". GET /v0.1/me says whose
// token it is and what it may do; the page offers only that (its apps, and
// the controls of its scopes), and still shows a 403 as the server's message.
'use strict';

(() => {
  const TOKEN_KEY = 'hookd.token';
  const APP_KEY = 'hookd.app';
  const ITEMS_PAGE = 20;
  const HOOKS_PAGE = 50;
  const AUTO_REFRESH_MS = 5000; // polling, only while the live stream is down
  const LIVE_MIN_GAP_MS = 1000; // at most one live refresh of the list a second
  const LIVE_RETRY_MAX_MS = 15000;
  const REDELIVERY_WAIT_MS = 10000;
  const SLUG = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
  const EVENTS = ['all', 'build', 'build/triggered', 'build/finished'];

  const $ = (id) => document.getElementById(id);

  const storage = {
    get(key) {
      try { return sessionStorage.getItem(key); } catch { return null; }
    },
    set(key, value) {
      try {
        if (value === null) sessionStorage.removeItem(key);
        else sessionStorage.setItem(key, value);
      } catch { /* storage unavailable: keep it in memory only */ }
    },
  };

  const state = {
    token: storage.get(TOKEN_KEY) || '',
    me: null, // GET /v0.1/me's answer for the token: who is signed in, or null
    meLoad: 0,
    wantApp: null, // { app, hook, item } to open once signed in
    app: '',
    hooks: [],
    hooksNext: '',
    hooksLoad: 0, // generation counter: answers for an older load are dropped
    last: new Map(), // hook slug -> newest item, null (none) or undefined (loading)
    hook: '', // selected hook slug
    items: [],
    itemsNext: '',
    itemsTotal: 0,
    itemsLoad: 0,
    itemsBusy: false,
    item: '', // selected item slug
    opened: null, // the selected item, also when the list does not hold it
    pendingItem: '', // item to open once its hook's list is loaded (deep link)
    shownKey: '', // what the detail panel shows, to redraw it only on change
    filter: { failed: false, build: '' }, // applied by the server
    logs: new Map(), // item slug -> its log entries, once loaded
    view: 'exchange', // detail tab: 'exchange' or 'log'
    fresh: new Set(), // item slugs to flash once
    editing: null, // hook being edited, null when creating
    confirmAction: null,
  };

  // ---- DOM helpers: text only, never HTML ----

  function el(tag, props, ...kids) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'onclick') node.addEventListener('click', value);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  // focusIdle focuses node after an answer came, unless the user has
  // moved on to another field meanwhile.
  function focusIdle(node) {
    const active = document.activeElement;
    if (!active || active === document.body || active.tagName === 'BUTTON') node.focus();
  }

  function announce(text) {
    $('live').textContent = text;
  }

  function showBanner(text, kind) {
    $('banner-text').textContent = text;
    $('banner').className = 'banner' + (kind === 'info' ? ' info' : '');
    $('banner').hidden = false;
  }

  function hideBanner() {
    $('banner').hidden = true;
  }

  function showError(err) {
    showBanner(err && err.message ? err.message : String(err));
  }

  // ---- API ----

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // authHeaders are the headers of every API call: the token goes in the
  // Authorization header, never in a URL.
  function authHeaders(accept) {
    const headers = { Accept: accept };
    if (state.token) headers.Authorization = 'Bearer ' + state.token;
    return headers;
  }

  async function send(path, init) {
    try {
      return await fetch(path, Object.assign({ cache: 'no-store', credentials: 'omit' }, init));
    } catch (e) {
      if (init.signal && init.signal.aborted) throw e;
      throw new ApiError(0, 'Cannot reach hookd (' + (e && e.message ? e.message : e) + '). Is the server running?');
    }
  }

  // failure turns an answer that is not 2xx into an ApiError with the
  // server's message (a 403 names the scope or app the token lacks); a 401
  // also signs out and asks for another token.
  function failure(res, text) {
    let msg = '';
    try { msg = JSON.parse(text).message; } catch { /* not JSON */ }
    if (typeof msg !== 'string' || !msg) msg = String(text || '').trim().slice(0, 300) || res.statusText;
    if (res.status === 401) {
      onUnauthorized();
      return new ApiError(401, 'Error 401: ' + msg.replace(/[\s.]+$/, '') + '. Enter another API token.');
    }
    return new ApiError(res.status, 'Error ' + res.status + ': ' + msg);
  }

  async function api(method, path, body) {
    const headers = authHeaders('application/json');
    const init = { method, headers };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await send(path, init);
    const text = await res.text();
    if (!res.ok) throw failure(res, text);
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = null; }
    }
    return data;
  }

  // logEntry reads one log entry: GET /v0.1/log/entries?from=N&to=N, as
  // JSON Lines.
  async function logEntry(seq) {
    const res = await send('/v0.1/log/entries?from=' + seq + '&to=' + seq, { headers: authHeaders('application/x-ndjson') });
    const text = await res.text();
    if (!res.ok) throw failure(res, text);
    const line = text.split('\n').find((l) => l.trim() !== '');
    if (!line) throw new ApiError(0, 'The log has no entry ' + seq + '.');
    return JSON.parse(line);
  }

  const enc = encodeURIComponent;
  const hooksPath = () => '/v0.1/apps/' + enc(state.app) + '/outgoing-webhooks';
  const hookPath = (slug) => hooksPath() + '/' + enc(slug);
  const itemsPath = (slug) => hookPath(slug) + '/delivery-items';

  // ---- formatting ----

  // Times are shown in the browser's zone, and say which (the API's are UTC;
  // the tooltip has the exact RFC 3339 time).
  const dateFormat = new Intl.DateTimeFormat(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
    timeZoneName: 'short',
  });
  const shortDateFormat = new Intl.DateTimeFormat(undefined, {
    month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short',
  });

  function timeNode(iso, cls, short) {
    const d = new Date(iso);
    const text = Number.isNaN(d.getTime()) ? String(iso) : (short ? shortDateFormat : dateFormat).format(d);
    return el('time', { class: cls, datetime: iso, title: iso }, text);
  }

  // rowTime is a row's time: the time of day for today's items, else the
  // date too; always with the zone.
  const dayFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short' });
  function rowTime(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime()) || d.toDateString() !== new Date().toDateString()) return timeNode(iso, 'item-time', true);
    return el('time', { class: 'item-time', datetime: iso, title: dateFormat.format(d) + ' (' + iso + ')' }, dayFormat.format(d));
  }

  function duration(item) {
    const ms = item.response_ms;
    if (ms === null || ms === undefined) return '—';
    if (ms < 1000) return ms + ' ms';
    return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s';
  }

  function isFailed(item) {
    if (item.status === 'failed' || item.status === 'succeeded') return item.status === 'failed';
    const s = item.response_http_status;
    return item.error !== null && item.error !== undefined || s === null || s === undefined || s < 200 || s > 299;
  }

  function statusBadge(item) {
    const s = item.response_http_status;
    if (s === null || s === undefined) {
      return el('span', { class: 'status s-err', title: item.error ? 'No response: ' + item.error : 'No response' }, 'error');
    }
    // A response with an error (its body cut off) failed, whatever its status.
    if (item.error) {
      return el('span', { class: 'status s-err', title: 'HTTP ' + s + ', but failed: ' + item.error }, String(s));
    }
    const cls = s >= 500 ? 's5' : s >= 400 ? 's4' : s >= 300 ? 's3' : s >= 200 ? 's2' : 's-err';
    return el('span', { class: 'status ' + cls, title: 'HTTP ' + s }, String(s));
  }

  // base64Length is how many bytes a base64 text (standard, padded) holds.
  function base64Length(text) {
    const clean = String(text).replace(/\s/g, '');
    const pad = clean.endsWith('==') ? 2 : clean.endsWith('=') ? 1 : 0;
    return Math.floor(clean.length / 4) * 3 - pad;
  }

  // showResponseBody fills the body: text pretty-printed when it is JSON,
  // or, for bytes that are not UTF-8, their base64 as the API gives it,
  // labelled so, since decoding it as text would mangle it.
  function showResponseBody(item) {
    const binary = item.response_body_encoding === 'base64';
    const note = $('resp-binary');
    note.hidden = !binary;
    if (binary) {
      const n = base64Length(item.response_body || '');
      note.textContent = 'Binary body, ' + n + (n === 1 ? ' byte' : ' bytes') + ', shown as base64.';
      $('resp-body').textContent = item.response_body || '';
    } else {
      $('resp-body').textContent = prettyJSON(item.response_body);
    }
  }

  // buildOf reads what a row shows of the build from the payload sent.
  const builds = new Map(); // item slug -> build facts, parsed once
  function buildOf(item) {
    let b = builds.get(item.slug);
    if (b) return b;
    let p = {};
    try { p = JSON.parse(item.request_payload) || {}; } catch { p = {}; }
    const str = (v) => (v === null || v === undefined ? '' : String(v));
    b = {
      number: str(p.build_number),
      slug: str(item.build_slug || p.build_slug),
      branch: str(p.git && typeof p.git === 'object' ? p.git.src_branch : ''),
      workflow: str(p.build_triggered_workflow),
    };
    builds.set(item.slug, b);
    return b;
  }

  function shortSlug(slug) {
    return slug && slug.length > 12 ? slug.slice(0, 8) + '…' : slug;
  }

  // prettyJSON re-indents valid JSON without parsing its values, so numbers
  // and strings appear exactly as sent. Anything else is returned as is.
  function prettyJSON(text) {
    if (text === null || text === undefined) return '';
    try { JSON.parse(text); } catch { return text; }
    let out = '';
    let depth = 0;
    let inString = false;
    let escaped = false;
    const newline = () => '\n' + '  '.repeat(depth);
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (inString) {
        out += c;
        if (escaped) escaped = false;
        else if (c === '\\') escaped = true;
        else if (c === '"') inString = false;
        continue;
      }
      switch (c) {
        case '"': inString = true; out += c; break;
        case '{': case '[': {
          let j = i + 1;
          while (j < text.length && ' \t\r\n'.includes(text[j])) j++;
          if (text[j] === (c === '{' ? '}' : ']')) { out += c + text[j]; i = j; break; }
          depth++;
          out += c + newline();
          break;
        }
        case '}': case ']': depth--; out += newline() + c; break;
        case ',': out += ',' + newline(); break;
        case ':': out += ': '; break;
        case ' ': case '\t': case '\r': case '\n': break;
        default: out += c;
      }
    }
    return out;
  }

  // parseHeaders reads a JSON object encoded in a string, as the API sends
  // request_headers and response_headers.
  function parseHeaders(text) {
    if (text === null || text === undefined || text === '') return [];
    try {
      const obj = JSON.parse(text);
      if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
        return Object.entries(obj).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)]);
      }
    } catch { /* fall through */ }
    return [['(unparsed)', String(text)]];
  }

  function fillHeaders(table, text) {
    const body = table.tBodies[0];
    clear(body);
    const rows = parseHeaders(text);
    if (rows.length === 0) {
      body.append(el('tr', null, el('td', { colspan: '2', class: 'muted' }, '(none)')));
      return;
    }
    for (const [name, value] of rows) {
      body.append(el('tr', null, el('th', { scope: 'row' }, name), el('td', null, value)));
    }
  }

  // ---- token: who is signed in, and what it may do ----

  // access is what the signed-in token may do: its scopes (apps:write
  // includes apps:read; admin everything) and its apps, null for every app.
  // The page offers only that; the server decides all the same.
  function access() {
    const me = state.me;
    const scopes = me && Array.isArray(me.scopes) ? me.scopes.map(String) : [];
    const apps = me && Array.isArray(me.apps) ? me.apps.map(String) : [];
    const admin = scopes.includes('admin');
    const write = admin || scopes.includes('apps:write');
    return {
      admin,
      write,
      read: write || scopes.includes('apps:read'),
      ingest: admin || scopes.includes('ingest'),
      apps: admin || apps.includes('*') ? null : apps.filter((a) => SLUG.test(a)),
    };
  }

  // actorName is how the page names who did something: the token's name
  // (hookd itself for its own deliveries).
  function actorName(actor) {
    if (!actor || typeof actor !== 'object') return '';
    if (actor.token_id === 'service') return 'hookd';
    return String(actor.token_name || actor.token_id || '');
  }

  function actorNode(cls, prefix, actor) {
    const name = actorName(actor);
    if (!name) return null;
    return el('span', { class: cls, title: prefix + ' token ' + String(actor.token_id || '') }, prefix + ' ' + name);
  }

  function renderToken() {
    const me = state.me;
    $('token-form').hidden = Boolean(me);
    $('token-status').hidden = !me;
    $('token-forget').hidden = !me || !state.token;
    if (!me) return;
    const can = access();
    const text = $('token-state-text');
    clear(text);
    if (!state.token) text.append('No token needed: ');
    text.append('Signed in as ', el('strong', { id: 'me-name' }, String(me.name || me.token_id || '')));
    const line = $('token-access');
    clear(line);
    const scopes = Array.isArray(me.scopes) ? me.scopes.map(String) : [];
    line.append(scopes.length === 1 ? 'Scope ' : 'Scopes ',
      ...scopes.map((sc, n) => [n > 0 ? ', ' : '', el('span', { class: 'scope' }, sc)]).flat(), ' · ');
    if (can.apps === null) line.append('every app');
    else line.append(can.apps.length === 1 ? 'app ' : 'apps ', el('span', { class: 'mono' }, can.apps.join(', ')));
    line.append(' · ');
    if (me.expires_at) line.append('expires ', timeNode(me.expires_at, '', true));
    else line.append('does not expire');
  }

  // renderAccess shows only what the token may do: its apps as a choice,
  // and no controls it has no scope for.
  function renderAccess() {
    const signedIn = Boolean(state.me);
    const can = access();
    const choice = signedIn && can.read && can.apps !== null;
    const select = $('app-select');
    $('app-input').hidden = choice;
    $('app-input').required = !choice;
    $('app-open').hidden = choice;
    select.hidden = !choice;
    $('app-label').htmlFor = choice ? 'app-select' : 'app-input';
    $('app-label').textContent = choice ? 'App' : 'App slug';
    clear(select);
    if (choice) {
      if (can.apps.length !== 1) select.append(el('option', { value: '', disabled: true }, 'Choose an app…'));
      for (const a of can.apps) select.append(el('option', { value: a }, a));
      select.value = can.apps.includes(state.app) ? state.app : can.apps.length === 1 ? can.apps[0] : '';
    }
    const ingestOnly = signedIn && !can.read;
    $('app-form').hidden = ingestOnly;
    $('ingest-only').hidden = !ingestOnly;
    if (ingestOnly) {
      $('welcome').hidden = true;
      $('workspace').hidden = true;
      const apps = can.apps === null ? 'any app' : (can.apps.length === 1 ? 'app ' : 'apps ') + can.apps.join(', ');
      $('ingest-only-text').textContent = 'The token "' + String(state.me.name || '') + '" can report build events ' +
        '(POST /v0.1/apps/<app>/build-events) for ' + apps + ', but not read hooks or deliveries, so this page has ' +
        'nothing to show it. Ask an admin for a token with the apps:read or apps:write scope.';
    }
    $('welcome-text').textContent = can.write || !signedIn
      ? (choice ? 'Choose an app above' : 'Enter an app slug above') + ' to see its hooks, what hookd sent to them and what came back. ' +
        'You can create, edit and delete hooks, read each delivery\'s request and response, and redeliver.'
      : (choice ? 'Choose an app above' : 'Enter an app slug above') + ' to see its hooks, what hookd sent to them and what came back. ' +
        'This token can read them, not change them.';
    $('hook-new').hidden = !can.write;
    $('read-only-note').hidden = !signedIn || can.write || !can.read;
    $('redeliver').hidden = !can.write;
    // The log (its entries, and the live stream) is for admins only.
    $('tab-log').hidden = !can.admin;
    if (!can.admin && state.view === 'log') showView('exchange', false);
    renderHooks();
  }

  // signIn asks GET /v0.1/me whose the token is. quiet: a 401 only shows
  // the token form (a first visit, before any token was entered).
  async function signIn(quiet) {
    const gen = ++state.meLoad;
    try {
      const res = await api('GET', '/v0.1/me');
      if (gen !== state.meLoad) return false;
      const me = res && res.data && typeof res.data === 'object' ? res.data : null;
      if (!me) throw new ApiError(0, 'hookd did not say whose this token is (GET /v0.1/me).');
      state.me = me;
      renderToken();
      renderAccess();
      return true;
    } catch (e) {
      if (gen !== state.meLoad) return false;
      state.me = null;
      renderToken();
      renderAccess();
      if (!(quiet && e instanceof ApiError && e.status === 401)) showError(e);
      return false;
    }
  }

  // enter opens app for the signed-in token: one of its apps only (its
  // one app without asking), or nothing for a token that cannot read.
  function enter(app, hook, item) {
    state.wantApp = null;
    const can = access();
    if (!can.read) {
      closeApp();
      return;
    }
    if (can.apps !== null && !can.apps.includes(app)) {
      if (app) showBanner('This token may not use app "' + app + '"; it may use ' + can.apps.join(', ') + '.', 'info');
      app = can.apps.length === 1 ? can.apps[0] : '';
      hook = '';
      item = '';
    }
    if (app) {
      openApp(app, hook, item);
      return;
    }
    closeApp();
    focusIdle(can.apps !== null ? $('app-select') : $('app-input'));
  }

  // closeApp shows no app: after signing out, or for a token that has not
  // chosen one of its apps yet.
  function closeApp() {
    stopLive();
    selectHook('', false);
    state.app = '';
    state.hooks = [];
    state.hooksNext = '';
    state.hooksLoad++;
    state.last.clear();
    renderHooks();
    $('app-input').value = '';
    $('workspace').hidden = true;
    $('welcome').hidden = !$('ingest-only').hidden;
    writeHash();
  }

  function onUnauthorized() {
    state.me = null;
    storage.set(TOKEN_KEY, null); // it opens nothing; a reload asks again
    stopLive();
    setLive('Paused (token)', 'off');
    renderToken();
  }

  async function saveToken(event) {
    event.preventDefault();
    state.token = $('token-input').value.trim();
    storage.set(TOKEN_KEY, state.token);
    $('token-input').value = '';
    stopLive(); // the stream reopens with this token
    state.me = null;
    hideBanner();
    const want = state.app ? { app: state.app, hook: state.hook, item: state.item || state.pendingItem } : state.wantApp;
    if (!(await signIn(false))) {
      focusIdle($('token-input'));
      return;
    }
    announce('Signed in as ' + String(state.me.name || '') + '.');
    enter(want ? want.app : storage.get(APP_KEY) || '', want ? want.hook : '', want ? want.item : '');
  }

  function changeToken() {
    $('token-form').hidden = false;
    $('token-status').hidden = true;
    $('token-input').focus();
  }

  function forgetToken() {
    state.token = '';
    state.me = null;
    state.meLoad++;
    storage.set(TOKEN_KEY, null);
    storage.set(APP_KEY, null); // the next token chooses among its own apps
    closeApp();
    setLive('Paused (token)', 'off');
    renderToken();
    renderAccess();
    hideBanner();
    announce('Signed out.');
    $('token-input').focus();
  }

  // ---- location: #app=<slug>&hook=<slug>&item=<slug>, a link to one item ----

  function hashFor(app, hook, item) {
    const params = new URLSearchParams();
    if (app) params.set('app', app);
    if (app && hook) params.set('hook', hook);
    if (app && hook && item) params.set('item', item);
    return params.toString();
  }

  function writeHash() {
    const hash = hashFor(state.app, state.hook, state.item || state.pendingItem);
    if (location.hash.slice(1) !== hash) history.replaceState(null, '', hash ? '#' + hash : location.pathname);
  }

  function readHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    return { app: params.get('app') || '', hook: params.get('hook') || '', item: params.get('item') || '' };
  }

  // ---- app and hooks ----

  function submitApp(event) {
    event.preventDefault();
    const app = $('app-input').value.trim();
    if (!SLUG.test(app)) {
      showBanner('The app slug must be 1-128 letters, digits, "_", "." or "-".');
      return;
    }
    hideBanner();
    openApp(app, '', '');
  }

  async function openApp(app, hook, item) {
    if (!state.me) {
      // Not signed in yet: ask whose the token is, then open what it may.
      state.wantApp = { app, hook, item };
      if (await signIn(false)) enter(app, hook, item);
      return;
    }
    const allowed = access().apps;
    if (allowed !== null && !allowed.includes(app)) {
      enter(app, hook, item);
      return;
    }
    const sameApp = app === state.app;
    state.app = app;
    storage.set(APP_KEY, app);
    $('app-input').value = app;
    if (!$('app-select').hidden) $('app-select').value = app;
    $('app-name').textContent = app;
    $('welcome').hidden = true;
    $('workspace').hidden = false;
    if (!sameApp) state.last.clear();
    selectHook('', false);
    state.pendingItem = hook && item && SLUG.test(item) ? item : '';
    writeHash();
    await loadHooks(false);
    if (app !== state.app) return;
    if (hook && state.hooks.some((h) => h.slug === hook)) selectHook(hook, true, state.pendingItem);
    else state.pendingItem = '';
    startLive();
  }

  async function loadHooks(more) {
    const gen = ++state.hooksLoad;
    let q = '?limit=' + HOOKS_PAGE;
    if (more && state.hooksNext) q += '&next=' + enc(state.hooksNext);
    $('hooks-more').disabled = true;
    try {
      const res = await api('GET', hooksPath() + q);
      if (gen !== state.hooksLoad) return;
      const data = Array.isArray(res && res.data) ? res.data : [];
      state.hooks = more ? state.hooks.concat(data) : data;
      state.hooksNext = res && res.paging && res.paging.next ? res.paging.next : '';
      renderHooks();
      loadLastItems(data);
    } catch (e) {
      if (gen !== state.hooksLoad) return;
      if (!more) {
        state.hooks = [];
        state.hooksNext = '';
        renderHooks();
        $('hooks-empty').textContent = 'Could not load the hooks; see the message above.';
      }
      showError(e);
    } finally {
      $('hooks-more').disabled = false;
    }
  }

  // loadLastItems fetches each hook's newest delivery item for its card.
  function loadLastItems(hooks) {
    const app = state.app;
    for (const h of hooks) {
      api('GET', itemsPath(h.slug) + '?limit=1').then((res) => {
        if (app !== state.app) return;
        const first = res && Array.isArray(res.data) && res.data.length > 0 ? res.data[0] : null;
        state.last.set(h.slug, first);
        updateLast(h.slug);
      }, () => {
        if (app !== state.app) return;
        state.last.set(h.slug, 'unknown');
        updateLast(h.slug);
      });
    }
  }

  function lastNode(slug) {
    const last = state.last.get(slug);
    if (last === undefined) return el('span', { class: 'last' }, 'Last delivery: …');
    if (last === 'unknown') return el('span', { class: 'last' }, 'Last delivery: unknown');
    if (last === null) return el('span', { class: 'last' }, 'No deliveries yet');
    return el('span', { class: 'last' }, 'Last:', statusBadge(last), timeNode(last.created_at, '', true));
  }

  function cardFor(slug) {
    for (const li of $('hooks-list').children) {
      if (li.dataset.slug === slug) return li;
    }
    return null;
  }

  function updateLast(slug) {
    const card = cardFor(slug);
    const old = card && card.querySelector('.last');
    if (old) old.replaceWith(lastNode(slug));
  }

  function renderHooks() {
    const list = $('hooks-list');
    // A redraw (a live reload) keeps the focus on the same control.
    const active = document.activeElement;
    const activeCard = active instanceof Element && active.closest('#hooks-list .hook-card');
    const refocus = activeCard ? { slug: activeCard.dataset.slug, label: active.getAttribute('aria-label') } : null;
    clear(list);
    const can = access();
    for (const h of state.hooks) {
      const events = Array.isArray(h.events) ? h.events : [];
      const changed = h.updated_by && (h.updated_at !== h.created_at || !h.created_by);
      const headerNames = Object.keys(h.headers || {});
      const card = el('li', { class: 'hook-card' + (h.slug === state.hook ? ' selected' : '') },
        el('button', {
          type: 'button', class: 'hook-open', title: 'Show the deliveries of this hook',
          'aria-label': 'Show deliveries of ' + h.url,
          onclick: () => selectHook(h.slug, true),
        }, h.url),
        el('div', { class: 'chips' },
          events.map((e) => el('span', { class: 'chip event' }, e)),
          h.has_secret ? el('span', { class: 'chip secret', title: 'Deliveries are signed; the secret is never shown' }, 'has secret') : null,
          headerNames.length > 0
            ? el('span', { class: 'chip', title: headerNames.join(', ') },
              headerNames.length === 1 ? '1 header' : headerNames.length + ' headers')
            : null),
        h.created_by || changed ? el('p', { class: 'hook-by' },
          actorNode('hook-created-by', 'created by', h.created_by),
          h.created_by && changed ? ' · ' : null,
          changed ? actorNode('hook-updated-by', 'changed by', h.updated_by) : null) : null,
        el('div', { class: 'hook-foot' },
          lastNode(h.slug),
          // Only a token that may change hooks gets the controls to.
          can.write ? el('div', { class: 'hook-actions' },
            el('button', { type: 'button', class: 'small', 'aria-label': 'Edit hook ' + h.url, onclick: () => openHookDialog(h) }, 'Edit'),
            el('button', { type: 'button', class: 'small danger-text', 'aria-label': 'Delete hook ' + h.url, onclick: () => confirmDelete(h) }, 'Delete'))
            : null));
      card.dataset.slug = h.slug;
      // The whole card opens the hook; its URL button is the keyboard's way
      // in, and Edit and Delete keep their own clicks.
      card.addEventListener('click', (event) => {
        if (event.target instanceof Element && event.target.closest('button, a, input')) return;
        if (window.getSelection && String(window.getSelection()).length > 0) return; // selecting text
        selectHook(h.slug, true);
      });
      list.append(card);
    }
    if (refocus) {
      const card = cardFor(refocus.slug);
      const again = card && [...card.querySelectorAll('button')].find((b) => b.getAttribute('aria-label') === refocus.label);
      if (again) again.focus();
    }
    $('hooks-empty').textContent = 'No hooks yet. Create one to start receiving build events.';
    $('hooks-empty').hidden = state.hooks.length > 0;
    $('hooks-more').hidden = !state.hooksNext;
  }

  // ---- delivery items ----

  function selectHook(slug, load, item) {
    if (slug !== state.hook) {
      state.items = [];
      state.itemsNext = '';
      state.itemsTotal = 0;
      state.item = '';
      state.opened = null;
      state.itemsLoad++;
      live.wantSeq = 0;
    }
    state.hook = slug;
    state.pendingItem = slug && item ? item : '';
    for (const li of $('hooks-list').children) li.classList.toggle('selected', li.dataset.slug === slug);
    $('items-panel').hidden = !slug;
    writeHash();
    if (!slug) {
      renderDetail();
      return;
    }
    const hook = state.hooks.find((h) => h.slug === slug);
    $('items-hook-url').textContent = hook ? hook.url : slug;
    renderItems();
    if (load) loadItems('reset');
    if (state.pendingItem) openItem(state.pendingItem, false);
  }

  // itemsQuery is the list's query: a page, and the filters the server applies.
  function itemsQuery() {
    let q = '?limit=' + ITEMS_PAGE;
    if (state.filter.failed) q += '&status=failed';
    if (state.filter.build) q += '&build_slug=' + enc(state.filter.build);
    return q;
  }

  // loadItems loads the first page ("reset"), the next page ("more"), or
  // the first page merged into what is loaded ("merge": new items on top,
  // the others updated). It resolves to the items the answer held.
  async function loadItems(mode) {
    const slug = state.hook;
    if (!slug) return [];
    const gen = state.itemsLoad;
    let q = itemsQuery();
    if (mode === 'more') {
      if (!state.itemsNext) return [];
      q += '&next=' + enc(state.itemsNext);
    }
    state.itemsBusy = true;
    $('items-refresh').disabled = true;
    $('items-more').disabled = true;
    try {
      const res = await api('GET', itemsPath(slug) + q);
      if (gen !== state.itemsLoad || slug !== state.hook) return [];
      const data = Array.isArray(res && res.data) ? res.data : [];
      const next = res && res.paging && res.paging.next ? res.paging.next : '';
      state.itemsTotal = res && res.paging && typeof res.paging.total_item_count === 'number' ? res.paging.total_item_count : 0;
      const known = new Set(state.items.map((i) => i.slug));
      if (mode === 'more') {
        state.items = state.items.concat(data.filter((i) => !known.has(i.slug)));
        state.itemsNext = next;
      } else if (mode === 'merge' && state.items.length > 0 && data.some((i) => known.has(i.slug))) {
        const bySlug = new Map(data.map((i) => [i.slug, i]));
        const added = data.filter((i) => !known.has(i.slug));
        for (const i of added) state.fresh.add(i.slug);
        state.items = added.concat(state.items.map((i) => bySlug.get(i.slug) || i));
      } else {
        if (mode === 'merge') for (const i of data) if (!known.has(i.slug)) state.fresh.add(i.slug);
        state.items = data;
        state.itemsNext = next;
      }
      if (!filtered()) {
        state.last.set(slug, state.items.length > 0 ? state.items[0] : null);
        updateLast(slug);
      }
      if (state.fresh.size > 0 && mode === 'merge') {
        announce(state.fresh.size === 1 ? 'A new delivery.' : state.fresh.size + ' new deliveries.');
      }
      renderItems();
      return data;
    } catch (e) {
      showError(e);
      return [];
    } finally {
      state.itemsBusy = false;
      $('items-refresh').disabled = false;
      $('items-more').disabled = false;
    }
  }

  const filtered = () => state.filter.failed || state.filter.build !== '';

  function applyFilter(event) {
    if (event) event.preventDefault();
    const build = $('filter-build').value.trim();
    const failed = $('filter-failed').checked;
    if (build === state.filter.build && failed === state.filter.failed) return;
    state.filter = { failed, build };
    state.items = [];
    state.itemsNext = '';
    state.itemsTotal = 0;
    state.itemsLoad++;
    renderItems();
    loadItems('reset');
  }

  function filterBuild(slug) {
    $('filter-build').value = slug;
    applyFilter();
    $('filter-build').focus();
  }

  function itemRow(item) {
    const b = buildOf(item);
    const meta = [
      b.slug ? el('span', { class: 'item-build-slug', title: 'Build slug' }, el('span', { class: 'visually-hidden' }, 'build '), b.slug) : null,
      b.branch ? el('span', { class: 'item-branch', title: 'Branch' }, el('span', { class: 'visually-hidden' }, 'branch '), b.branch) : null,
      b.workflow ? el('span', { class: 'item-workflow', title: 'Workflow' }, el('span', { class: 'visually-hidden' }, 'workflow '), b.workflow) : null,
      // hookd itself asks for a build event's deliveries; a person or a
      // tool, for a redelivery or a test: named then.
      item.requested_by && item.requested_by.token_id !== 'service' ? actorNode('item-requested-by', 'requested by', item.requested_by) : null,
    ];
    const row = el('button', {
      type: 'button',
      class: 'item-row' + (state.fresh.has(item.slug) ? ' fresh' : ''),
      'aria-current': item.slug === state.item ? 'true' : null,
      onclick: () => openItem(item.slug, true),
    },
    statusBadge(item),
    el('span', { class: 'item-line' },
      b.number !== '' ? el('span', { class: 'item-number', title: 'Build number' }, '#' + b.number) : null,
      el('span', { class: 'item-event' }, item.event_type || 'delivery'),
      item.test ? el('span', { class: 'marker test' }, 'test') : null,
      item.redelivery_of ? el('span', { class: 'marker' }, 'redelivery of ' + shortSlug(item.redelivery_of)) : null),
    el('span', { class: 'item-when' },
      rowTime(item.created_at),
      el('span', { class: 'item-duration', title: 'Response time' }, duration(item))),
    meta.some(Boolean) ? el('span', { class: 'item-meta' }, meta) : null,
    item.error ? el('span', { class: 'item-error' }, item.error) : null);
    row.dataset.slug = item.slug;
    return row;
  }

  function renderItems() {
    const list = $('items-list');
    const focused = document.activeElement && document.activeElement.classList.contains('item-row')
      ? document.activeElement.dataset.slug : '';
    clear(list);
    for (const item of state.items) {
      const row = itemRow(item);
      list.append(el('li', null, row));
      if (item.slug === focused) row.focus();
    }
    state.fresh.clear();
    const total = state.itemsTotal;
    $('items-title').textContent = 'Deliveries';
    if (state.items.length > 0) {
      $('items-title').append(' ', el('span', { class: 'count' },
        total > state.items.length ? '(' + state.items.length + ' of ' + total + ' loaded)' : '(' + state.items.length + ')'));
    }
    const note = $('filter-note');
    note.hidden = !filtered();
    if (filtered()) {
      const what = [];
      if (state.filter.failed) what.push('failed (non-2xx, no response or an error)');
      if (state.filter.build) what.push('of build ' + state.filter.build);
      note.textContent = 'Showing only deliveries ' + what.join(' and ') + ': ' + total + ' in all.';
    }
    const empty = $('items-empty');
    if (state.items.length === 0) {
      empty.textContent = filtered()
        ? 'No deliveries match.'
        : 'No deliveries yet. Items appear here when a build event matches this hook.';
      empty.hidden = false;
    } else {
      empty.hidden = true;
    }
    $('items-more').hidden = !state.itemsNext;
    renderDetail();
  }

  // openItem shows one item beside the list: from the list when it holds
  // it, else fetched (a deep link, or an item the filter hides).
  async function openItem(slug, focus) {
    const hook = state.hook;
    state.item = slug;
    state.pendingItem = '';
    state.opened = state.items.find((i) => i.slug === slug) || (state.opened && state.opened.slug === slug ? state.opened : null);
    $('redeliver-status').hidden = true;
    writeHash();
    renderItems();
    if (focus) $('detail-title').focus({ preventScroll: true });
    if (state.opened) return;
    try {
      const res = await api('GET', itemsPath(hook) + '/' + enc(slug));
      if (hook !== state.hook || slug !== state.item) return;
      state.opened = res && res.data ? res.data : null;
      renderDetail();
    } catch (e) {
      if (hook !== state.hook || slug !== state.item) return;
      state.item = '';
      writeHash();
      renderDetail();
      showError(e);
    }
  }

  function fact(dl, term, ...value) {
    dl.append(el('dt', null, term), el('dd', null, ...value));
  }

  function renderDetail() {
    const fromList = state.items.find((i) => i.slug === state.item);
    if (fromList) state.opened = fromList;
    const item = state.item && state.opened && state.opened.slug === state.item ? state.opened : null;
    const detail = $('detail');
    $('workspace').classList.toggle('with-detail', Boolean(state.item) && !$('items-panel').hidden);
    if (!item) {
      detail.hidden = !state.item || $('items-panel').hidden;
      if (state.item && state.shownKey !== '') { // loading it: an empty panel
        $('detail-title').textContent = 'Delivery ' + state.item;
        clear($('detail-facts'));
      }
      state.shownKey = '';
      return;
    }
    detail.hidden = false;
    const key = item.slug + ' ' + item.updated_at + ' ' + JSON.stringify(item.redelivered_by || []);
    if (key === state.shownKey) return; // unchanged: keep scroll positions and focus
    const newItem = !state.shownKey.startsWith(item.slug + ' ');
    state.shownKey = key;
    $('detail-title').textContent = 'Delivery ' + item.slug;
    $('detail-link').href = '#' + hashFor(state.app, state.hook, item.slug);
    const facts = $('detail-facts');
    clear(facts);
    const s = item.response_http_status;
    const b = buildOf(item);
    fact(facts, 'Status', statusBadge(item), s === null || s === undefined ? ' no response' : '');
    fact(facts, 'Event', item.event_type || '', item.test ? ' (a test delivery)' : '');
    fact(facts, 'Build', b.number !== '' ? '#' + b.number + ' ' : '',
      b.slug ? el('button', { type: 'button', class: 'link mono', title: 'Show only the deliveries of this build', onclick: () => filterBuild(b.slug) }, b.slug) : '');
    if (b.branch) fact(facts, 'Branch', el('span', { class: 'mono' }, b.branch));
    if (b.workflow) fact(facts, 'Workflow', b.workflow);
    fact(facts, 'Sent', timeNode(item.created_at));
    fact(facts, 'Duration', duration(item));
    if (item.redelivery_of) {
      const original = state.items.find((i) => i.slug === item.redelivery_of);
      fact(facts, 'Redelivery of', original
        ? el('button', { type: 'button', class: 'link mono', onclick: () => openItem(original.slug, true) }, item.redelivery_of)
        : el('span', { class: 'mono' }, item.redelivery_of));
    }
    if (Array.isArray(item.redelivered_by) && item.redelivered_by.length > 0) {
      fact(facts, 'Redelivered as', item.redelivered_by.map((r, n) => [n > 0 ? ', ' : '',
        el('button', { type: 'button', class: 'link mono', onclick: () => openItem(r, true) }, shortSlug(r))]));
    }
    fact(facts, 'Build event', el('span', { class: 'mono' }, item.build_event_id || ''));
    if (actorName(item.requested_by)) {
      fact(facts, 'Requested by', actorName(item.requested_by),
        item.requested_by.token_id === 'service' ? el('span', { class: 'muted' }, ' (the build event matched this hook)') : '');
    }
    if (item.error) fact(facts, 'Error', el('span', { class: 'error-text' }, item.error));

    $('req-line').textContent = 'POST ' + (item.request_url || '');
    fillHeaders($('req-headers'), item.request_headers);
    $('req-payload').textContent = prettyJSON(item.request_payload);

    const responded = s !== null && s !== undefined;
    $('resp-present').hidden = !responded;
    if (responded) {
      $('resp-line').textContent = 'HTTP ' + s + ' in ' + duration(item) + (item.error ? ', failed: ' + item.error : '');
      fillHeaders($('resp-headers'), item.response_headers);
      $('resp-headers-truncated').hidden = !item.response_headers_truncated;
      showResponseBody(item);
      $('resp-truncated').hidden = !item.response_body_truncated;
    } else {
      $('resp-line').textContent = 'No response' + (item.error ? ': ' + item.error : '');
    }
    if (newItem) $('detail').scrollTop = 0;
    renderLog(item);
  }

  // ---- the item's log entries ----

  function showView(view, focus) {
    state.view = view;
    for (const [name, tab, panel] of [['exchange', 'tab-exchange', 'view-exchange'], ['log', 'tab-log', 'view-log']]) {
      const on = name === view;
      $(tab).setAttribute('aria-selected', on ? 'true' : 'false');
      $(tab).tabIndex = on ? 0 : -1;
      $(panel).hidden = !on;
      if (on && focus) $(tab).focus();
    }
    const item = state.opened && state.opened.slug === state.item ? state.opened : null;
    if (item) renderLog(item);
  }

  function tabKeys(event) {
    if (!['ArrowLeft', 'ArrowRight', 'Home', 'End'].includes(event.key)) return;
    event.preventDefault();
    const next = event.key === 'Home' ? 'exchange' : event.key === 'End' ? 'log' : state.view === 'log' ? 'exchange' : 'log';
    showView(next, true);
  }

  // logRefs are the entries an item was made of, in log order.
  function logRefs(item) {
    const refs = [];
    const add = (seq, role) => {
      if (typeof seq === 'number' && seq > 0 && !refs.some((r) => r.seq === seq)) refs.push({ seq, role });
    };
    add(item.build_event_sequence, 'the build event, as received');
    add(item.request_sequence, item.redelivery_of ? 'the redelivery, requested' : 'the delivery, requested');
    add(item.attempt_sequence, 'the attempt, with the response');
    return refs.sort((a, b) => a.seq - b.seq);
  }

  async function renderLog(item) {
    if (state.view !== 'log') return;
    const body = $('log-entries').tBodies[0];
    const status = $('log-status');
    const refs = logRefs(item);
    const cached = state.logs.get(item.slug);
    const draw = (entries) => {
      clear(body);
      for (const r of refs) {
        const e = entries.get(r.seq);
        const hash = e && typeof e.hash === 'string' ? e.hash : '';
        body.append(el('tr', { 'data-seq': String(r.seq) },
          el('td', { class: 'mono' }, String(r.seq)),
          el('td', null, el('span', { class: 'mono' }, e ? e.type + (e.version ? '.v' + e.version : '') : '…'),
            el('span', { class: 'log-role' }, r.role)),
          el('td', null, e ? timeNode(e.time, '', true) : ''),
          el('td', { class: 'mono log-hash', title: hash }, hash ? hash.slice(0, 16) + '…' : '')));
      }
    };
    if (refs.length === 0) {
      clear(body);
      status.textContent = 'This item does not name its log entries (it was recorded before hookd kept their sequences).';
      status.hidden = false;
      return;
    }
    if (cached) {
      status.hidden = true;
      draw(cached);
      return;
    }
    draw(new Map());
    status.textContent = 'Reading ' + refs.length + ' entries from the log…';
    status.hidden = false;
    try {
      const got = await Promise.all(refs.map((r) => logEntry(r.seq)));
      const entries = new Map(got.map((e) => [e.seq, e]));
      state.logs.set(item.slug, entries);
      if (state.item !== item.slug || state.view !== 'log') return;
      status.hidden = true;
      draw(entries);
    } catch (e) {
      if (state.item !== item.slug) return;
      status.textContent = 'Cannot read the log: ' + (e && e.message ? e.message : e);
    }
  }

  function closeDetail() {
    const slug = state.item;
    state.item = '';
    state.opened = null;
    writeHash();
    renderItems();
    // Back to the row it came from, if the list shows it.
    for (const row of document.querySelectorAll('#items-list .item-row')) {
      if (row.dataset.slug === slug) {
        row.focus();
        break;
      }
    }
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function redeliver() {
    const item = state.opened && state.opened.slug === state.item ? state.opened : null;
    if (!item) return;
    const hook = state.hook;
    const button = $('redeliver');
    const status = $('redeliver-status');
    button.disabled = true;
    status.hidden = false;
    status.textContent = 'Asking hookd to send this payload again…';
    try {
      const res = await api('POST', itemsPath(hook) + '/' + enc(item.slug) + '/redeliver');
      const slug = res && res.data && res.data.slug ? String(res.data.slug) : '';
      status.textContent = 'Redelivery requested; waiting for it to be sent…';
      const end = Date.now() + REDELIVERY_WAIT_MS;
      let delay = 200;
      let found = null;
      while (!found && Date.now() < end && state.hook === hook) {
        await sleep(delay);
        delay = Math.min(delay * 1.5, 1000);
        await loadItems('merge');
        found = state.items.find((i) => i.slug === slug) || null;
        if (!found && filtered() && state.hook === hook) {
          // The filter may hide it; ask for it by name.
          try {
            const one = await api('GET', itemsPath(hook) + '/' + enc(slug));
            found = one && one.data ? one.data : null;
          } catch { /* not recorded yet */ }
        }
      }
      if (found) {
        const how = found.response_http_status === null || found.response_http_status === undefined
          ? 'no response' + (found.error ? ' (' + found.error + ')' : '')
          : 'HTTP ' + found.response_http_status + (found.error ? ' (' + found.error + ')' : '');
        status.textContent = 'Redelivered as item ' + found.slug + ': ' + how + '.';
        announce('Redelivered: ' + how);
      } else if (state.hook === hook) {
        status.textContent = 'Redelivery requested (item ' + slug + '), not recorded yet; it will show up here soon.';
      }
    } catch (e) {
      status.textContent = e.message;
    } finally {
      button.disabled = false;
    }
  }

  function autoRefresh() {
    if (live.connected) return; // the stream says when there is something new
    if (document.visibilityState !== 'visible' || !state.hook || state.itemsBusy) return;
    if ($('hook-dialog').open || $('confirm-dialog').open) return;
    loadItems('merge');
  }

  // ---- live: the log's SSE stream, read with fetch ----
  //
  // EventSource cannot send an Authorization header, so the page reads
  // GET /v0.1/log/entries (Accept: text/event-stream) with fetch and parses
  // the events itself; the token stays in the header, out of every URL.
  // Each connection starts after the log's head (Last-Event-ID: <head>), so
  // the page never downloads a backlog; a reconnection refetches the list
  // and the hooks instead, for what it missed meanwhile. A
  // delivery.attempted entry of the open hook refetches the list's first
  // page, at most once a second; one of another hook of the app updates
  // that hook's card, and hook changes reload the hooks.

  const live = {
    ctrl: null, // AbortController of the open stream
    connected: false,
    last: 0, // sequence of the last entry seen
    everConnected: false,
    retryMs: 1000,
    retryTimer: 0,
    refreshTimer: 0,
    lastRefresh: 0,
    wantSeq: 0, // newest attempt of the open hook the list must show
    tries: 0,
    hooksTimer: 0,
    cards: new Set(), // other hooks whose card needs its last status
    hidden: false, // something arrived while the tab was hidden
  };

  function setLive(text, kind) {
    $('live-state').className = 'live-state ' + kind;
    $('live-state-text').textContent = text;
  }

  function stopLive() {
    if (live.ctrl) live.ctrl.abort();
    live.ctrl = null;
    live.connected = false;
    clearTimeout(live.retryTimer);
    live.retryTimer = 0;
  }

  function startLive() {
    if (!state.app || !state.me) return;
    if (!access().admin) {
      // Following the log needs admin: without it, the page polls.
      $('live-state').title = 'Following the log needs an admin token: the page looks for new deliveries every 5 s.';
      setLive('Refreshes every 5 s', 'off');
      return;
    }
    $('live-state').title = 'New deliveries appear here as hookd records them';
    if (live.ctrl) return; // already open (the stream is for every app)
    const ctrl = new AbortController();
    live.ctrl = ctrl;
    runLive(ctrl).then(() => 'ended', (e) => e).then((why) => {
      if (live.ctrl !== ctrl) return; // stopped, or replaced
      live.ctrl = null;
      live.connected = false;
      if (why instanceof ApiError && why.status === 401) {
        setLive('Paused (token)', 'off');
        return; // the token form is back; saving it starts again
      }
      setLive('Reconnecting…', 'off');
      live.retryTimer = setTimeout(startLive, live.retryMs);
      live.retryMs = Math.min(live.retryMs * 2, LIVE_RETRY_MAX_MS);
    });
  }

  async function runLive(ctrl) {
    setLive('Connecting…', 'off');
    const head = await api('GET', '/v0.1/log/head');
    if (ctrl.signal.aborted) return;
    live.last = head && head.data && typeof head.data.sequence === 'number' ? head.data.sequence : 0;
    const headers = authHeaders('text/event-stream');
    headers['Last-Event-ID'] = String(live.last);
    const res = await send('/v0.1/log/entries', { headers, signal: ctrl.signal });
    if (!res.ok) throw failure(res, await res.text());
    if (!res.body) throw new ApiError(0, 'this browser cannot read a stream');
    live.connected = true;
    live.retryMs = 1000;
    setLive('Live', 'on');
    // What happened between the list's load (or the last connection) and
    // this head is not in the stream: look once.
    if (state.hook) scheduleRefresh();
    if (live.everConnected) scheduleHooks(true);
    live.everConnected = true;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let ev = { id: '', event: '', data: [] };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let nl;
      while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + (buf.startsWith('\r\n', nl) ? 2 : 1));
        if (line === '') {
          if (ev.data.length > 0) dispatchLive(ev);
          ev = { id: '', event: '', data: [] };
          continue;
        }
        if (line.startsWith(':')) continue; // keep-alive comment
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let v = colon < 0 ? '' : line.slice(colon + 1);
        if (v.startsWith(' ')) v = v.slice(1);
        if (field === 'data') ev.data.push(v);
        else if (field === 'id') ev.id = v;
        else if (field === 'event') ev.event = v;
      }
    }
  }

  function dispatchLive(ev) {
    const seq = Number(ev.id);
    if (Number.isSafeInteger(seq) && seq > live.last) live.last = seq;
    if (ev.event && ev.event !== 'entry') return;
    let e;
    try { e = JSON.parse(ev.data.join('\n')); } catch { return; }
    const p = e && e.payload && typeof e.payload === 'object' ? e.payload : null;
    if (!p || p.app_slug !== state.app) return;
    if (e.type === 'delivery.attempted') {
      if (p.hook_slug === state.hook) {
        live.wantSeq = Math.max(live.wantSeq, e.seq || 0);
        live.tries = 0;
        scheduleRefresh();
      } else if (typeof p.hook_slug === 'string') {
        live.cards.add(p.hook_slug);
        scheduleHooks(false);
      }
    } else if (e.type === 'hook.configured' || e.type === 'hook.removed') {
      scheduleHooks(true);
    }
  }

  // scheduleRefresh refetches the first page now, or a second after the
  // last refetch, whichever is later; many entries make one refetch.
  function scheduleRefresh() {
    if (document.visibilityState === 'hidden') {
      live.hidden = true;
      return;
    }
    if (live.refreshTimer) return;
    const wait = Math.max(0, live.lastRefresh + LIVE_MIN_GAP_MS - Date.now());
    live.refreshTimer = setTimeout(liveRefresh, wait);
  }

  async function liveRefresh() {
    live.refreshTimer = 0;
    if (!state.hook) return;
    if (state.itemsBusy || $('hook-dialog').open || $('confirm-dialog').open) {
      live.refreshTimer = setTimeout(liveRefresh, 200);
      return;
    }
    live.lastRefresh = Date.now();
    const hook = state.hook;
    const got = await loadItems('merge');
    if (hook !== state.hook) return;
    // The views may lag the log by a moment: until the page holds the
    // newest attempt announced, look again, a few times (a filter may also
    // leave it out, rightly).
    const newest = got.reduce((m, i) => Math.max(m, i.attempt_sequence || 0), 0);
    if (newest < live.wantSeq && live.tries < (filtered() ? 3 : 10)) {
      live.tries++;
      live.refreshTimer = setTimeout(liveRefresh, Math.min(100 * live.tries, LIVE_MIN_GAP_MS));
    }
  }

  function scheduleHooks(all) {
    if (all) live.hooksAll = true;
    if (live.hooksTimer) return;
    live.hooksTimer = setTimeout(() => {
      live.hooksTimer = 0;
      if (live.hooksAll && !$('hook-dialog').open && !$('confirm-dialog').open) {
        live.hooksAll = false;
        loadHooks(false);
        live.cards.clear();
        return;
      }
      const hooks = state.hooks.filter((h) => live.cards.has(h.slug) && h.slug !== state.hook);
      live.cards.clear();
      loadLastItems(hooks);
    }, LIVE_MIN_GAP_MS);
  }

  function onVisible() {
    if (document.visibilityState === 'visible' && live.hidden) {
      live.hidden = false;
      scheduleRefresh();
    }
  }

  // ---- hook dialog ----

  // MASKED is what the API shows in place of a hidden header value; sent
  // back in a PUT, it keeps the value the hook has stored for that header.
  const MASKED = 'REDACTED';

  // headerRow is one custom header of the form. A hidden one (the API
  // names it in masked_headers) starts with an empty value that says it is
  // hidden: left empty, saving keeps the stored value; typed, it replaces it.
  function headerRow(name, value, hidden) {
    const row = el('div', { class: 'header-row' },
      el('input', { type: 'text', class: 'header-name', 'aria-label': 'Header name', placeholder: 'X-Team', spellcheck: 'false', autocapitalize: 'off' }),
      el('input', { type: 'text', class: 'header-value', 'aria-label': 'Header value', placeholder: 'value', spellcheck: 'false', autocapitalize: 'off' }),
      el('button', { type: 'button', class: 'small', 'aria-label': 'Remove this header' }, 'Remove'));
    row.querySelector('.header-name').value = name || '';
    const input = row.querySelector('.header-value');
    if (hidden) {
      row.dataset.hidden = name;
      input.placeholder = 'hidden — leave empty to keep it';
      input.setAttribute('aria-label', 'Header value (hidden; leave empty to keep it)');
    } else {
      input.value = value || '';
    }
    row.querySelector('button').addEventListener('click', () => row.remove());
    return row;
  }

  function openHookDialog(hook) {
    state.editing = hook || null;
    $('hook-dialog-title').textContent = hook ? 'Edit hook' : 'New hook';
    $('hook-error').hidden = true;
    $('hook-url').value = hook ? hook.url : '';
    const events = hook && Array.isArray(hook.events) ? hook.events : ['all'];
    for (const box of document.querySelectorAll('#hook-form input[name="events"]')) box.checked = events.includes(box.value);
    const rows = $('header-rows');
    clear(rows);
    const masked = new Set(hook && Array.isArray(hook.masked_headers) ? hook.masked_headers : []);
    for (const [k, v] of Object.entries(hook && hook.headers ? hook.headers : {})) rows.append(headerRow(k, v, masked.has(k)));
    $('headers-hint').hidden = masked.size === 0;
    $('hook-secret').value = '';
    $('secret-remove').checked = false;
    const hasSecret = Boolean(hook && hook.has_secret);
    $('secret-remove-label').hidden = !hasSecret;
    $('hook-secret').placeholder = hasSecret ? 'has secret — leave empty to keep it' : '';
    $('secret-hint').textContent = hasSecret
      ? 'This hook has a secret (never shown). Leave the field empty to keep it; a new one replaces it, and the old one keeps signing for the grace period.'
      : 'hookd never shows a secret again after it is saved.';
    $('hook-save').disabled = false;
    $('hook-dialog').showModal();
    $('hook-url').focus();
  }

  function hookFormError(text) {
    $('hook-error').textContent = text;
    $('hook-error').hidden = false;
  }

  async function saveHook(event) {
    event.preventDefault();
    const url = $('hook-url').value.trim();
    const events = EVENTS.filter((e) => document.querySelector('#hook-form input[name="events"][value="' + e + '"]').checked);
    const headers = {};
    const seen = new Set();
    for (const row of $('header-rows').children) {
      const name = row.querySelector('.header-name').value.trim();
      let value = row.querySelector('.header-value').value;
      if (!name && !value) continue;
      if (!name) return hookFormError('Every custom header needs a name.');
      if (seen.has(name.toLowerCase())) return hookFormError('The header "' + name + '" is given twice.');
      seen.add(name.toLowerCase());
      const hidden = row.dataset.hidden;
      if (hidden !== undefined && value === '') {
        // Header names compare case-insensitively, as the server does.
        if (name.toLowerCase() !== hidden.toLowerCase()) {
          return hookFormError('Enter the value of "' + name + '": the hidden value belongs to "' + hidden + '" and stays only under that name.');
        }
        value = MASKED;
      }
      headers[name] = value;
    }
    if (!url) return hookFormError('Enter the URL hookd should POST to.');
    if (events.length === 0) return hookFormError('Choose at least one event.');
    const body = { url, events, headers };
    const secret = $('hook-secret').value;
    if (state.editing && $('secret-remove').checked) body.secret = '';
    else if (secret) body.secret = secret;

    $('hook-save').disabled = true;
    $('hook-error').hidden = true;
    try {
      const res = state.editing
        ? await api('PUT', hookPath(state.editing.slug), body)
        : await api('POST', hooksPath(), body);
      const saved = res && res.data ? res.data : null;
      $('hook-dialog').close();
      announce(state.editing ? 'Hook saved.' : 'Hook created.');
      await loadHooks(false);
      if (!state.editing && saved && saved.slug) selectHook(saved.slug, true);
      else if (state.hook) selectHook(state.hook, false);
    } catch (e) {
      hookFormError(e.message);
    } finally {
      $('hook-save').disabled = false;
      $('hook-secret').value = '';
    }
  }

  // ---- delete ----

  function confirmDelete(hook) {
    $('confirm-text').textContent = 'Delete the hook that posts to ' + hook.url +
      '? It gets no further deliveries; its history stays in the log.';
    state.confirmAction = async () => {
      try {
        await api('DELETE', hookPath(hook.slug));
        if (state.hook === hook.slug) selectHook('', false);
        state.last.delete(hook.slug);
        announce('Hook deleted.');
        await loadHooks(false);
      } catch (e) {
        showError(e);
      }
    };
    $('confirm-dialog').showModal();
    $('confirm-cancel').focus();
  }

  // ---- wiring ----

  function start() {
    $('token-form').addEventListener('submit', saveToken);
    $('token-change').addEventListener('click', changeToken);
    $('token-forget').addEventListener('click', forgetToken);
    $('app-form').addEventListener('submit', submitApp);
    $('app-select').addEventListener('change', () => {
      const app = $('app-select').value;
      if (!SLUG.test(app)) return;
      hideBanner();
      openApp(app, '', '');
    });
    $('banner-close').addEventListener('click', hideBanner);
    $('hook-new').addEventListener('click', () => openHookDialog(null));
    $('hooks-more').addEventListener('click', () => loadHooks(true));
    $('items-refresh').addEventListener('click', () => {
      loadItems('merge');
      loadLastItems(state.hooks.filter((h) => h.slug !== state.hook));
    });
    $('items-more').addEventListener('click', () => loadItems('more'));
    $('items-filter').addEventListener('submit', applyFilter);
    $('filter-failed').addEventListener('change', applyFilter);
    $('filter-build').addEventListener('search', applyFilter); // the field's clear button, or Enter
    $('detail-close').addEventListener('click', closeDetail);
    $('tab-exchange').addEventListener('click', () => showView('exchange', false));
    $('tab-log').addEventListener('click', () => showView('log', false));
    $('tab-exchange').addEventListener('keydown', tabKeys);
    $('tab-log').addEventListener('keydown', tabKeys);
    $('detail-link').addEventListener('click', (event) => {
      // The address bar already holds the link; a click keeps the page.
      event.preventDefault();
      writeHash();
      announce('The address bar now links to this delivery.');
    });
    document.addEventListener('keydown', (event) => {
      if (event.key !== 'Escape' || !state.item) return;
      if ($('hook-dialog').open || $('confirm-dialog').open) return;
      const t = event.target;
      if (t instanceof Element && (t.closest('#detail') || t.closest('#items-list') || t === document.body)) closeDetail();
    });
    document.addEventListener('visibilitychange', onVisible);
    $('redeliver').addEventListener('click', redeliver);
    $('hook-form').addEventListener('submit', saveHook);
    $('hook-cancel').addEventListener('click', () => $('hook-dialog').close());
    $('header-add').addEventListener('click', () => {
      const row = headerRow('', '');
      $('header-rows').append(row);
      row.querySelector('input').focus();
    });
    $('confirm-form').addEventListener('submit', (event) => {
      event.preventDefault();
      $('confirm-dialog').close();
      const action = state.confirmAction;
      state.confirmAction = null;
      if (action) action();
    });
    $('confirm-cancel').addEventListener('click', () => $('confirm-dialog').close());
    window.addEventListener('hashchange', () => {
      const { app, hook, item } = readHash();
      if (!app || !SLUG.test(app)) return;
      if (app !== state.app || hook !== state.hook) openApp(app, hook, item);
      else if (item && SLUG.test(item) && item !== state.item) openItem(item, true);
      else if (!item && state.item) closeDetail();
    });
    setInterval(autoRefresh, AUTO_REFRESH_MS);

    renderToken();
    const fromHash = readHash();
    let app = SLUG.test(fromHash.app) ? fromHash.app : storage.get(APP_KEY) || '';
    if (!SLUG.test(app)) app = '';
    const hook = app && fromHash.app === app ? fromHash.hook : '';
    const item = app && fromHash.app === app ? fromHash.item : '';
    state.wantApp = { app, hook, item };
    // A first visit asks quietly: a server without tokens lets it in, any
    // other shows the token form. A token kept from before says its 401.
    signIn(storage.get(TOKEN_KEY) === null).then((ok) => {
      if (ok) enter(app, hook, item);
      else focusIdle($('token-input'));
    });
  }

  start();
})();
