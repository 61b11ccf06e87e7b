// hookd web page: plain JavaScript over the /v0.1 JSON API.
//
// Everything that comes from the API is rendered with textContent or DOM
// nodes, never as HTML. The API token lives in sessionStorage (this tab only)
// and goes out as "Authorization: Bearer <token>".
'use strict';

(() => {
  const TOKEN_KEY = 'hookd.token';
  const APP_KEY = 'hookd.app';
  const ITEMS_PAGE = 20;
  const HOOKS_PAGE = 50;
  const AUTO_REFRESH_MS = 5000;
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
    tokenChosen: storage.get(TOKEN_KEY) !== null, // the user answered the token question
    noTokenNeeded: false,
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
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
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

  const UNAUTHORIZED = '401 Unauthorized: API token missing or wrong. ' +
    'Enter the token hookd was started with (--api-token or HOOKD_API_TOKEN).';

  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (state.token) headers.Authorization = 'Bearer ' + state.token;
    const init = { method, headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'Cannot reach hookd (' + (e && e.message ? e.message : e) + '). Is the server running?');
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = null; }
    }
    if (res.status === 401) {
      onUnauthorized();
      throw new ApiError(401, UNAUTHORIZED);
    }
    if (!res.ok) {
      const msg = data && typeof data.message === 'string' ? data.message : (text.trim().slice(0, 300) || res.statusText);
      throw new ApiError(res.status, 'Error ' + res.status + ': ' + msg);
    }
    if (!state.token && !state.noTokenNeeded) {
      state.noTokenNeeded = true;
      renderToken();
    }
    return data;
  }

  const enc = encodeURIComponent;
  const hooksPath = () => '/v0.1/apps/' + enc(state.app) + '/outgoing-webhooks';
  const hookPath = (slug) => hooksPath() + '/' + enc(slug);
  const itemsPath = (slug) => hookPath(slug) + '/delivery-items';

  // ---- formatting ----

  const dateFormat = new Intl.DateTimeFormat(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });

  function timeNode(iso, cls) {
    const d = new Date(iso);
    const text = Number.isNaN(d.getTime()) ? String(iso) : dateFormat.format(d);
    return el('time', { class: cls, datetime: iso, title: iso }, text);
  }

  function duration(item) {
    const ms = item.response_ms;
    if (ms === null || ms === undefined) return '—';
    if (ms < 1000) return ms + ' ms';
    return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s';
  }

  function isFailed(item) {
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

  // ---- token ----

  function renderToken() {
    const showStatus = state.tokenChosen || state.noTokenNeeded;
    $('token-form').hidden = showStatus;
    $('token-status').hidden = !showStatus;
    $('token-state-text').textContent = state.token ? 'Token set for this tab' : 'No token (the server does not ask for one)';
    $('token-forget').hidden = !state.token;
  }

  function onUnauthorized() {
    state.tokenChosen = false;
    state.noTokenNeeded = false;
    renderToken();
  }

  function saveToken(event) {
    event.preventDefault();
    state.token = $('token-input').value.trim();
    state.tokenChosen = true;
    storage.set(TOKEN_KEY, state.token);
    $('token-input').value = '';
    renderToken();
    hideBanner();
    announce(state.token ? 'Token saved for this tab.' : 'Using no token.');
    if (state.app) openApp(state.app, state.hook);
    else $('app-input').focus();
  }

  function changeToken() {
    $('token-form').hidden = false;
    $('token-status').hidden = true;
    $('token-input').focus();
  }

  function forgetToken() {
    state.token = '';
    state.tokenChosen = false;
    state.noTokenNeeded = false;
    storage.set(TOKEN_KEY, null);
    renderToken();
    announce('Token forgotten.');
    $('token-input').focus();
  }

  // ---- location: #app=<slug>&hook=<slug> ----

  function writeHash() {
    const params = new URLSearchParams();
    if (state.app) params.set('app', state.app);
    if (state.hook) params.set('hook', state.hook);
    const hash = params.toString();
    if (location.hash.slice(1) !== hash) history.replaceState(null, '', hash ? '#' + hash : location.pathname);
  }

  function readHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    return { app: params.get('app') || '', hook: params.get('hook') || '' };
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
    openApp(app, '');
  }

  async function openApp(app, hook) {
    const sameApp = app === state.app;
    state.app = app;
    storage.set(APP_KEY, app);
    $('app-input').value = app;
    $('app-name').textContent = app;
    $('welcome').hidden = true;
    $('workspace').hidden = false;
    if (!sameApp) state.last.clear();
    selectHook('', false);
    writeHash();
    await loadHooks(false);
    if (hook && state.hooks.some((h) => h.slug === hook)) selectHook(hook, true);
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
    return el('span', { class: 'last' }, 'Last:', statusBadge(last), timeNode(last.created_at));
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
    clear(list);
    for (const h of state.hooks) {
      const events = Array.isArray(h.events) ? h.events : [];
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
        el('div', { class: 'hook-foot' },
          lastNode(h.slug),
          el('div', { class: 'hook-actions' },
            el('button', { type: 'button', class: 'small', 'aria-label': 'Edit hook ' + h.url, onclick: () => openHookDialog(h) }, 'Edit'),
            el('button', { type: 'button', class: 'small danger-text', 'aria-label': 'Delete hook ' + h.url, onclick: () => confirmDelete(h) }, 'Delete'))));
      card.dataset.slug = h.slug;
      list.append(card);
    }
    $('hooks-empty').textContent = 'No hooks yet. Create one to start receiving build events.';
    $('hooks-empty').hidden = state.hooks.length > 0;
    $('hooks-more').hidden = !state.hooksNext;
  }

  // ---- delivery items ----

  function selectHook(slug, load) {
    if (slug !== state.hook) {
      state.items = [];
      state.itemsNext = '';
      state.itemsTotal = 0;
      state.item = '';
      state.itemsLoad++;
    }
    state.hook = slug;
    for (const li of $('hooks-list').children) li.classList.toggle('selected', li.dataset.slug === slug);
    $('items-panel').hidden = !slug;
    writeHash();
    if (!slug) return;
    const hook = state.hooks.find((h) => h.slug === slug);
    $('items-hook-url').textContent = hook ? hook.url : slug;
    renderItems();
    if (load) loadItems('reset');
  }

  // loadItems loads the first page ("reset"), the next page ("more"), or
  // the first page merged into what is loaded ("merge": new items on top).
  async function loadItems(mode) {
    const slug = state.hook;
    if (!slug) return;
    const gen = state.itemsLoad;
    let q = '?limit=' + ITEMS_PAGE;
    if (mode === 'more') {
      if (!state.itemsNext) return;
      q += '&next=' + enc(state.itemsNext);
    }
    state.itemsBusy = true;
    $('items-refresh').disabled = true;
    $('items-more').disabled = true;
    try {
      const res = await api('GET', itemsPath(slug) + q);
      if (gen !== state.itemsLoad || slug !== state.hook) return;
      const data = Array.isArray(res && res.data) ? res.data : [];
      const next = res && res.paging && res.paging.next ? res.paging.next : '';
      state.itemsTotal = res && res.paging && typeof res.paging.total_item_count === 'number' ? res.paging.total_item_count : 0;
      const known = new Set(state.items.map((i) => i.slug));
      if (mode === 'more') {
        state.items = state.items.concat(data.filter((i) => !known.has(i.slug)));
        state.itemsNext = next;
      } else if (mode === 'merge' && state.items.length > 0 && data.some((i) => known.has(i.slug))) {
        const added = data.filter((i) => !known.has(i.slug));
        for (const i of added) state.fresh.add(i.slug);
        state.items = added.concat(state.items);
      } else {
        if (mode === 'merge') for (const i of data) if (!known.has(i.slug)) state.fresh.add(i.slug);
        state.items = data;
        state.itemsNext = next;
      }
      state.last.set(slug, state.items.length > 0 ? state.items[0] : null);
      updateLast(slug);
      renderItems();
    } catch (e) {
      showError(e);
    } finally {
      state.itemsBusy = false;
      $('items-refresh').disabled = false;
      $('items-more').disabled = false;
    }
  }

  function renderItems() {
    const list = $('items-list');
    const focused = document.activeElement && document.activeElement.classList.contains('item-row')
      ? document.activeElement.dataset.slug : '';
    const onlyFailed = $('filter-failed').checked;
    const shown = onlyFailed ? state.items.filter(isFailed) : state.items;
    clear(list);
    for (const item of shown) {
      const row = el('button', {
        type: 'button',
        class: 'item-row' + (state.fresh.has(item.slug) ? ' fresh' : ''),
        'aria-current': item.slug === state.item ? 'true' : null,
        onclick: () => openItem(item.slug),
      },
      statusBadge(item),
      el('span', { class: 'item-main' },
        el('span', { class: 'item-event' }, item.event_type || 'delivery'),
        el('span', { class: 'item-slug' }, shortSlug(item.slug)),
        item.redelivery_of ? el('span', { class: 'marker' }, 'redelivery of ' + shortSlug(item.redelivery_of)) : null),
      timeNode(item.created_at, 'item-time'),
      el('span', { class: 'item-duration', title: 'Response time' }, duration(item)),
      item.error ? el('span', { class: 'item-error' }, item.error) : null);
      row.dataset.slug = item.slug;
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
    $('filter-note').hidden = !onlyFailed;
    $('filter-loaded').textContent = String(state.items.length);
    const empty = $('items-empty');
    if (state.items.length === 0) {
      empty.textContent = 'No deliveries yet. Items appear here when a build event matches this hook.';
      empty.hidden = false;
    } else if (shown.length === 0) {
      empty.textContent = 'No failed deliveries among the ' + state.items.length + ' loaded.';
      empty.hidden = false;
    } else {
      empty.hidden = true;
    }
    $('items-more').hidden = !state.itemsNext;
    renderDetail();
  }

  function openItem(slug) {
    state.item = slug;
    $('redeliver-status').hidden = true;
    renderItems();
    const detail = $('detail');
    if (!detail.hidden && typeof detail.scrollIntoView === 'function') detail.scrollIntoView({ block: 'nearest' });
  }

  function fact(dl, term, ...value) {
    dl.append(el('dt', null, term), el('dd', null, ...value));
  }

  function renderDetail() {
    const item = state.items.find((i) => i.slug === state.item);
    const detail = $('detail');
    if (!item) {
      detail.hidden = true;
      return;
    }
    detail.hidden = false;
    $('detail-title').textContent = 'Delivery ' + item.slug;
    const facts = $('detail-facts');
    clear(facts);
    const s = item.response_http_status;
    fact(facts, 'Status', statusBadge(item), s === null || s === undefined ? ' no response' : '');
    fact(facts, 'Event', item.event_type || '');
    fact(facts, 'Sent', timeNode(item.created_at));
    fact(facts, 'Duration', duration(item));
    if (item.redelivery_of) {
      const original = state.items.find((i) => i.slug === item.redelivery_of);
      fact(facts, 'Redelivery of', original
        ? el('button', { type: 'button', class: 'link mono', onclick: () => openItem(original.slug) }, item.redelivery_of)
        : el('span', { class: 'mono' }, item.redelivery_of));
    }
    fact(facts, 'Build event', el('span', { class: 'mono' }, item.build_event_id || ''));
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
  }

  function closeDetail() {
    state.item = '';
    renderItems();
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function redeliver() {
    const item = state.items.find((i) => i.slug === state.item);
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
    if (document.visibilityState !== 'visible' || !state.hook || state.itemsBusy) return;
    if ($('hook-dialog').open || $('confirm-dialog').open) return;
    loadItems('merge');
  }

  // ---- hook dialog ----

  function headerRow(name, value) {
    const row = el('div', { class: 'header-row' },
      el('input', { type: 'text', class: 'header-name', 'aria-label': 'Header name', placeholder: 'X-Team', spellcheck: 'false', autocapitalize: 'off' }),
      el('input', { type: 'text', class: 'header-value', 'aria-label': 'Header value', placeholder: 'value', spellcheck: 'false', autocapitalize: 'off' }),
      el('button', { type: 'button', class: 'small', 'aria-label': 'Remove this header' }, 'Remove'));
    row.querySelector('.header-name').value = name || '';
    row.querySelector('.header-value').value = value || '';
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
    for (const [k, v] of Object.entries(hook && hook.headers ? hook.headers : {})) rows.append(headerRow(k, v));
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
      const value = row.querySelector('.header-value').value;
      if (!name && !value) continue;
      if (!name) return hookFormError('Every custom header needs a name.');
      if (seen.has(name.toLowerCase())) return hookFormError('The header "' + name + '" is given twice.');
      seen.add(name.toLowerCase());
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
    $('banner-close').addEventListener('click', hideBanner);
    $('hook-new').addEventListener('click', () => openHookDialog(null));
    $('hooks-more').addEventListener('click', () => loadHooks(true));
    $('items-refresh').addEventListener('click', () => {
      loadItems('merge');
      loadLastItems(state.hooks.filter((h) => h.slug !== state.hook));
    });
    $('items-more').addEventListener('click', () => loadItems('more'));
    $('filter-failed').addEventListener('change', renderItems);
    $('detail-close').addEventListener('click', closeDetail);
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
      const { app, hook } = readHash();
      if (app && SLUG.test(app) && (app !== state.app || hook !== state.hook)) openApp(app, hook);
    });
    setInterval(autoRefresh, AUTO_REFRESH_MS);

    renderToken();
    const fromHash = readHash();
    const app = SLUG.test(fromHash.app) ? fromHash.app : storage.get(APP_KEY) || '';
    if (app && SLUG.test(app)) {
      openApp(app, fromHash.app === app ? fromHash.hook : '');
    } else if (!state.tokenChosen) {
      $('token-input').focus();
    } else {
      $('app-input').focus();
    }
  }

  start();
})();
