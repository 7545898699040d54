// The villages page: every box, retired ones too; registering a box, and
// making it new credentials, show its config once (as text and as a file
// made in the browser from the answer: the service keeps no copy);
// retiring it. Everything goes through the API bridge; every word comes
// from #villages.
(function () {
  'use strict';
  const root = document.getElementById('villages');
  const T = root.dataset;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  function $(id) { return document.getElementById(id); }
  function fill(msg, x) { return msg.split('{x}').join(x); }

  async function api(method, path, body) {
    const init = { method: method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (method !== 'GET') { init.headers['X-CSRF-Token'] = csrf; }
    if (body !== undefined) {
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

  const townships = JSON.parse(T.townships || '{}');
  const status = $('vl-status');
  const labels = { id: T.tLId, name: T.tLName, place: T.tLPlace };
  function say(text, kind) {
    status.textContent = text;
    status.title = '';
    status.className = 'status' + (kind ? ' ' + kind : '');
  }
  function failed(err) {
    dalaba.show(status, err.problem || dalaba.fromData(0, { error: String(err) }), { labels: labels });
    status.className = 'status error';
  }

  // showConfig puts a config on the page once, with a file to save; the
  // object URL is let go when the official closes it.
  let objectURL = '';
  function showConfig(box, text) {
    if (objectURL) { URL.revokeObjectURL(objectURL); }
    objectURL = URL.createObjectURL(new Blob([text], { type: 'application/x-yaml' }));
    $('vl-config-box').textContent = box;
    $('vl-config-text').textContent = text;
    const a = $('vl-download');
    a.href = objectURL;
    a.download = box + '.yaml';
    $('vl-config').hidden = false;
    $('vl-config').scrollIntoView();
  }
  $('vl-config-close').addEventListener('click', function () {
    $('vl-config-text').textContent = '';
    $('vl-config').hidden = true;
    if (objectURL) { URL.revokeObjectURL(objectURL); objectURL = ''; }
  });

  // confirmed arms a button on its first press and acts on the second.
  function confirmed(btn, question) {
    if (btn.classList.contains('armed')) {
      btn.classList.remove('armed');
      return true;
    }
    btn.classList.add('armed');
    say(question, 'error');
    window.setTimeout(function () { btn.classList.remove('armed'); }, 8000);
    return false;
  }

  function row(b) {
    const tr = $('vl-row').content.firstElementChild.cloneNode(true);
    tr.dataset.box = b.id;
    const name = tr.querySelector('[data-k=name]');
    name.textContent = b.name || b.id;
    name.href = '/villages/' + encodeURIComponent(b.id);
    tr.querySelector('[data-k=id]').textContent = b.id;
    tr.querySelector('[data-k=place]').textContent = b.place || '—';
    tr.querySelector('[data-k=township]').textContent = b.township ? (townships[b.township] || b.township) : T.tCounty;
    const on = tr.querySelector('[data-k=online]');
    on.textContent = b.online ? T.tOnline : T.tOffline;
    on.classList.add(b.online ? 'ok' : 'bad');
    tr.querySelector('[data-k=status]').textContent = b.retired ? fill(T.tRetiredAt, (b.retired_at || '').slice(0, 10)) : T.tInService;
    const rotate = tr.querySelector('.act-rotate');
    const retire = tr.querySelector('.act-retire');
    if (b.retired) {
      tr.classList.add('retired');
      tr.dataset.retired = 'true';
      rotate.remove();
      retire.remove();
      return tr;
    }
    rotate.addEventListener('click', async function () {
      if (!confirmed(rotate, T.tRotateConfirm)) { return; }
      try {
        const a = await api('POST', 'boxes/' + encodeURIComponent(b.id) + '/rotate');
        showConfig(b.id, a.edge_config);
        say(T.tRotated, 'ok');
        await load();
      } catch (err) { failed(err); }
    });
    retire.addEventListener('click', async function () {
      if (!confirmed(retire, T.tRetireConfirm)) { return; }
      try {
        await api('POST', 'boxes/' + encodeURIComponent(b.id) + '/retire');
        say(T.tDidRetire, 'ok');
        await load();
      } catch (err) { failed(err); }
    });
    return tr;
  }

  async function load() {
    // A county user's township filter: every box, the county's own ("")
    // or one township's.
    const want = $('vl-filter') ? $('vl-filter').value : '*';
    const boxes = (await api('GET', 'boxes?all=true')).filter(function (b) { return want === '*' || (b.township || '') === want; });
    const tbody = document.querySelector('#vl-list tbody');
    const frag = document.createDocumentFragment();
    if (boxes.length === 0) {
      const tr = document.createElement('tr');
      const td = document.createElement('td');
      td.className = 'muted';
      td.textContent = T.tNone;
      tr.appendChild(td);
      frag.appendChild(tr);
    }
    boxes.forEach(function (b) { frag.appendChild(row(b)); });
    tbody.replaceChildren(frag);
  }

  if ($('vl-filter')) {
    $('vl-filter').addEventListener('change', function () { load().catch(failed); });
  }

  $('vl-form').addEventListener('submit', async function (e) {
    e.preventDefault();
    const btn = $('vl-register');
    btn.disabled = true;
    try {
      const box = { id: $('vl-id').value.trim(), name: $('vl-name').value.trim(), place: $('vl-place').value.trim() };
      // A county user chooses the township; a township's user's boxes are
      // their township's without asking.
      if ($('vl-township')) { box.township = $('vl-township').value; }
      const a = await api('POST', 'boxes', box);
      showConfig(a.box.id, a.edge_config);
      say(T.tSaved, 'ok');
      $('vl-form').reset();
      await load();
    } catch (err) {
      failed(err);
    } finally {
      btn.disabled = false;
    }
  });

  load().catch(failed);
})();
