// The roster page: a village's households and persons, searched, added,
// edited (a new household is a move; a status keeps a person for the
// record), its categories, and the import from a spreadsheet: the file is
// previewed, what would change and each refused row is shown with its
// reason, and only a confirmation imports it, sending the same file with
// the preview's digest. Everything goes through the API bridge; every
// word comes from #roster.
(function () {
  'use strict';
  const root = document.getElementById('roster');
  const T = root.dataset;
  const box = T.box;
  if (!box) { return; }
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const village = 'villages/' + encodeURIComponent(box) + '/';
  function $(id) { return document.getElementById(id); }
  function fill(msg, vals) {
    let s = msg;
    Object.keys(vals).forEach(function (k) { s = s.split('{' + k + '}').join(String(vals[k])); });
    return s;
  }
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  async function api(method, path, body, raw) {
    const init = { method: method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (method !== 'GET') { init.headers['X-CSRF-Token'] = csrf; }
    if (raw) {
      init.headers['Content-Type'] = 'application/octet-stream';
      init.body = raw;
    } else if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const resp = await fetch('/ui/api/' + path, init);
    if (!resp.ok) {
      const p = await dalaba.problem(resp);
      const err = new Error(p.message);
      err.problem = p;
      throw err;
    }
    return resp.json();
  }

  const labels = {
    id: T.tLId, head: T.tLHead, group: T.tLGroup, name: T.tLName, household: T.tLHousehold, phone: T.tLPhone,
    id_last4: T.tLIdLast4, status: T.tLStatus, categories: T.tLCategories, red: T.tLRed, black: T.tLBlack,
  };
  function say(node, text, kind) {
    node.textContent = text;
    node.title = '';
    delete node.dataset.code;
    node.className = 'status' + (kind ? ' ' + kind : '');
  }
  function failed(node, err) {
    dalaba.show(node, err.problem || dalaba.fromData(0, { error: String(err) }), { labels: labels });
    node.className = 'status error';
  }
  function statusText(s) {
    return { deceased: T.tDeceased, moved_away: T.tMovedAway }[s] || T.tActive;
  }
  function reveal() { return $('ro-reveal') && $('ro-reveal').checked ? '&reveal=true' : ''; }

  // --- the list ---------------------------------------------------------

  let households = [];

  function editPerson(p) {
    $('ro-edit-id').value = p.id;
    $('ro-edit-who').textContent = p.name + ' (' + p.id + ')';
    $('ro-edit-name').value = p.name;
    $('ro-edit-household').value = p.household;
    // Masked values are not written back: the field starts empty and
    // empty keeps what is stored.
    $('ro-edit-phone').value = p.masked ? '' : (p.phone || '');
    $('ro-edit-phone').placeholder = p.phone || '';
    $('ro-edit-id4').value = p.masked ? '' : (p.id_last4 || '');
    $('ro-edit-id4').placeholder = p.id_last4 || '';
    $('ro-edit-status').value = p.status || 'active';
    say($('ro-edit-status-line'), '');
    $('ro-person-edit').hidden = false;
    $('ro-person-edit').scrollIntoView();
  }

  function editHousehold(h) {
    $('ro-hedit-id').value = h.id;
    $('ro-hedit-who').textContent = h.head + ' (' + h.id + ')';
    $('ro-hedit-head').value = h.head;
    $('ro-hedit-group').value = h.group || '';
    say($('ro-hedit-status'), '');
    $('ro-household-edit').hidden = false;
    $('ro-household-edit').scrollIntoView();
  }

  function render(q) {
    const div = $('ro-households');
    const frag = document.createDocumentFragment();
    let persons = 0;
    if (households.length === 0) { frag.appendChild(el('p', 'muted', q ? T.tNoMatch : T.tNone)); }
    households.forEach(function (h) {
      const sec = el('section', 'ro-household');
      sec.dataset.household = h.id;
      const head = el('header');
      head.appendChild(el('span', 'hid', h.id));
      head.appendChild(el('span', 'head', h.head));
      if (h.group) { head.appendChild(el('span', 'muted', h.group)); }
      const b = el('button', 'secondary small act-edit-household', T.tEdit);
      b.type = 'button';
      b.addEventListener('click', function () { editHousehold(h); });
      head.appendChild(b);
      sec.appendChild(head);
      const ul = el('ul', 'ro-members');
      (h.members || []).forEach(function (p) {
        persons++;
        const li = el('li', p.status && p.status !== 'active' ? 'inactive' : '');
        li.dataset.person = p.id;
        li.dataset.status = p.status || 'active';
        li.appendChild(el('span', 'name', p.name));
        if (p.phone) { li.appendChild(el('span', 'phone', p.phone)); }
        if (p.id_last4) { li.appendChild(el('span', 'muted id4', p.id_last4)); }
        if (p.status && p.status !== 'active') { li.appendChild(el('span', 'tag', statusText(p.status))); }
        const e = el('button', 'secondary small act-edit-person', T.tEdit);
        e.type = 'button';
        e.addEventListener('click', function () { editPerson(p); });
        li.appendChild(e);
        ul.appendChild(li);
      });
      sec.appendChild(ul);
      frag.appendChild(sec);
    });
    div.replaceChildren(frag);
    $('ro-count').textContent = fill(T.tCount, { x: households.length, d: persons });
  }

  async function load() {
    const q = $('ro-q').value.trim();
    try {
      households = await api('GET', village + 'households?q=' + encodeURIComponent(q) + reveal());
      render(q);
      say($('ro-list-status'), '');
    } catch (err) { failed($('ro-list-status'), err); }
  }

  $('ro-search').addEventListener('submit', function (e) { e.preventDefault(); load(); });
  if ($('ro-reveal')) { $('ro-reveal').addEventListener('change', load); }

  // --- edits ------------------------------------------------------------

  function submitter(form, status, make) {
    form.addEventListener('submit', async function (e) {
      e.preventDefault();
      try {
        await make();
        say(status, T.tSaved, 'ok');
        await load();
      } catch (err) { failed(status, err); }
    });
  }

  submitter($('ro-person-edit'), $('ro-edit-status-line'), async function () {
    const body = { name: $('ro-edit-name').value.trim(), household: $('ro-edit-household').value.trim(), status: $('ro-edit-status').value };
    if ($('ro-edit-phone').value.trim()) { body.phone = $('ro-edit-phone').value.trim(); }
    if ($('ro-edit-id4').value.trim()) { body.id_last4 = $('ro-edit-id4').value.trim(); }
    await api('PUT', village + 'persons/' + encodeURIComponent($('ro-edit-id').value), body);
  });
  $('ro-edit-cancel').addEventListener('click', function () { $('ro-person-edit').hidden = true; });
  submitter($('ro-household-edit'), $('ro-hedit-status'), async function () {
    await api('PUT', village + 'households/' + encodeURIComponent($('ro-hedit-id').value),
      { head: $('ro-hedit-head').value.trim(), group: $('ro-hedit-group').value.trim() });
  });
  $('ro-hedit-cancel').addEventListener('click', function () { $('ro-household-edit').hidden = true; });
  submitter($('ro-add-household'), $('ro-h-status'), async function () {
    await api('POST', village + 'households', { id: $('ro-h-id').value.trim(), head: $('ro-h-head').value.trim(), group: $('ro-h-group').value.trim() });
    $('ro-add-household').reset();
  });
  submitter($('ro-add-person'), $('ro-p-status'), async function () {
    await api('POST', village + 'persons', {
      name: $('ro-p-name').value.trim(), household: $('ro-p-household').value.trim(),
      phone: $('ro-p-phone').value.trim(), id_last4: $('ro-p-id4').value.trim(),
    });
    $('ro-add-person').reset();
  });

  // --- categories -------------------------------------------------------

  function catRow(c) {
    const tr = el('tr');
    [['text', c.name, 'name'], ['number', c.red, 'red'], ['number', c.black, 'black']].forEach(function (f) {
      const td = el('td');
      const input = el('input');
      input.type = f[0];
      input.value = f[1];
      input.dataset.k = f[2];
      if (f[0] === 'number') { input.min = f[2] === 'red' ? '0' : '-100'; input.max = f[2] === 'red' ? '100' : '0'; }
      input.setAttribute('aria-label', labels[f[2]] || f[2]);
      td.appendChild(input);
      tr.appendChild(td);
    });
    const td = el('td');
    const rm = el('button', 'secondary small', T.tRemove);
    rm.type = 'button';
    rm.addEventListener('click', function () { tr.remove(); });
    td.appendChild(rm);
    tr.appendChild(td);
    return tr;
  }
  async function loadCategories() {
    const a = await api('GET', village + 'categories');
    $('ro-cat-rows').replaceChildren.apply($('ro-cat-rows'), (a.categories || []).map(catRow));
  }
  $('ro-cat-add').addEventListener('click', function () { $('ro-cat-rows').appendChild(catRow({ name: '', red: 5, black: -5 })); });
  $('ro-cat-save').addEventListener('click', async function () {
    const cats = Array.from($('ro-cat-rows').querySelectorAll('tr')).map(function (tr) {
      return {
        name: tr.querySelector('[data-k=name]').value.trim(),
        red: Number(tr.querySelector('[data-k=red]').value) || 0,
        black: Number(tr.querySelector('[data-k=black]').value) || 0,
      };
    });
    try {
      await api('PUT', village + 'categories', { categories: cats });
      say($('ro-cat-status'), T.tSaved, 'ok');
    } catch (err) { failed($('ro-cat-status'), err); }
  });

  // --- import -----------------------------------------------------------

  const hint = $('ro-import-hint');
  hint.textContent = fill(hint.textContent, { x: hint.dataset.max });
  const reasons = {};
  $('ro-reasons').querySelectorAll('li').forEach(function (li) { reasons[li.dataset.reason] = li.textContent; });
  let previewed = null; // {file, digest}

  function showPlan(p) {
    $('ro-plan-summary').textContent = fill(T.tPlan, {
      x: p.rows, a: p.add_households.length, b: p.add_persons.length, c: p.change_households.length,
      d: p.change_persons.length, e: p.unchanged, f: new Set(p.refused.map(function (r) { return r.row; })).size,
    });
    const ol = $('ro-refused');
    const frag = document.createDocumentFragment();
    p.refused.forEach(function (r) {
      const li = el('li');
      li.dataset.row = r.row;
      li.dataset.reason = r.reason;
      li.appendChild(el('span', 'where', fill(T.tRow, { x: r.row }) + (r.column ? ' · ' + r.column : '')));
      li.appendChild(el('span', 'why', reasons[r.reason] || r.detail));
      li.title = r.detail;
      frag.appendChild(li);
    });
    ol.replaceChildren(frag);
    $('ro-refused-title').hidden = p.refused.length === 0;
    $('ro-confirm').hidden = p.add_households.length + p.add_persons.length + p.change_households.length + p.change_persons.length === 0;
    $('ro-plan').hidden = false;
  }

  $('ro-import-form').addEventListener('submit', async function (e) {
    e.preventDefault();
    const st = $('ro-import-status');
    const file = $('ro-file').files[0];
    $('ro-plan').hidden = true;
    previewed = null;
    if (!file) { say(st, T.tNoFile, 'error'); return; }
    say(st, T.tPreviewing, '');
    try {
      const p = await api('POST', village + 'roster/preview?name=' + encodeURIComponent(file.name), undefined, file);
      previewed = { file: file, digest: p.digest };
      showPlan(p);
      const empty = p.add_households.length + p.add_persons.length + p.change_households.length + p.change_persons.length === 0;
      say(st, empty ? T.tNothing : '', empty ? 'ok' : '');
    } catch (err) { failed(st, err); }
  });

  $('ro-confirm').addEventListener('click', async function () {
    const st = $('ro-import-status');
    if (!previewed) { return; }
    const btn = $('ro-confirm');
    btn.disabled = true;
    say(st, T.tImporting, '');
    try {
      const p = await api('POST', village + 'roster/import?name=' + encodeURIComponent(previewed.file.name) + '&digest=' + encodeURIComponent(previewed.digest),
        undefined, previewed.file);
      say(st, fill(T.tImported, { a: p.add_households.length, b: p.add_persons.length, c: p.change_households.length, d: p.change_persons.length }), 'ok');
      $('ro-plan').hidden = true;
      previewed = null;
      await load();
    } catch (err) {
      failed(st, err);
    } finally {
      btn.disabled = false;
    }
  });

  load();
  loadCategories().catch(function (err) { failed($('ro-cat-status'), err); });
})();
