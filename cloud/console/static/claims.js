// The claim codes on the villages page: a code for one village or for
// every village of a sheet, shown this once with the command the installer
// runs on the box (and printable); the list of codes with their status;
// revoking an open one. Everything goes through the API bridge; every word
// comes from #claims.
(function () {
  'use strict';
  const root = document.getElementById('claims');
  const T = root.dataset;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  function $(id) { return document.getElementById(id); }
  function fill(msg, x) { return msg.split('{x}').join(x); }

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

  const status = $('cl-status');
  const labels = { id: T.tLId, name: T.tLName, place: T.tLPlace, ttl: T.tLTtl };
  function say(text, kind) {
    status.textContent = text;
    status.title = '';
    status.className = 'status' + (kind ? ' ' + kind : '');
  }
  function failed(err) {
    dalaba.show(status, err.problem || dalaba.fromData(0, { error: String(err) }), { labels: labels });
    status.className = 'status error';
  }
  function cell(text, cls) {
    const td = document.createElement('td');
    if (cls) { td.className = cls; }
    td.textContent = text;
    return td;
  }
  function day(t) { return (t || '').slice(0, 16).replace('T', ' '); }

  // drawQR draws a QR code's rows of modules (1 dark) on a canvas, with
  // the quiet zone of four modules a reader needs.
  function drawQR(rows) {
    const canvas = document.createElement('canvas');
    canvas.className = 'cl-qr';
    const n = rows.length;
    const px = 3;
    canvas.width = canvas.height = (n + 8) * px;
    const g = canvas.getContext('2d');
    g.fillStyle = '#fff';
    g.fillRect(0, 0, canvas.width, canvas.height);
    g.fillStyle = '#000';
    rows.forEach(function (row, y) {
      for (let x = 0; x < row.length; x++) {
        if (row[x] === '1') { g.fillRect((x + 4) * px, (y + 4) * px, px, px); }
      }
    });
    return canvas;
  }

  // showIssued puts the new codes on the page once; closing it forgets them.
  function showIssued(a) {
    const rows = $('cl-issued-rows');
    // A phone shows each cell under its heading's words.
    const heads = Array.prototype.map.call(document.querySelectorAll('#cl-issued thead th'), function (th) { return th.textContent; });
    const frag = document.createDocumentFragment();
    a.claims.forEach(function (c) {
      const tr = document.createElement('tr');
      tr.appendChild(cell(c.name + ' (' + c.village + ')'));
      tr.appendChild(cell(c.code, 'cl-code'));
      tr.appendChild(cell(day(c.expires_at)));
      tr.appendChild(cell('dalaba-edge enroll --township ' + a.township_url + ' --code ' + c.code + ' --village ' + c.village, 'cl-command'));
      const qr = cell('');
      qr.appendChild(drawQR(c.qr || []));
      tr.appendChild(qr);
      Array.prototype.forEach.call(tr.children, function (td, i) { td.dataset.label = heads[i] || ''; });
      frag.appendChild(tr);
    });
    rows.replaceChildren(frag);
    $('cl-issued').hidden = false;
    $('cl-issued').scrollIntoView();
    say(fill(T.tMade, String(a.claims.length)), 'ok');
  }
  $('cl-issued-close').addEventListener('click', function () {
    $('cl-issued-rows').replaceChildren();
    $('cl-issued').hidden = true;
  });
  $('cl-print').addEventListener('click', function () { window.print(); });

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

  const statusWords = { open: T.tOpen, used: T.tUsed, expired: T.tExpired, revoked: T.tRevokedStatus };
  function row(c) {
    const tr = $('cl-row').content.firstElementChild.cloneNode(true);
    tr.dataset.claim = String(c.id);
    tr.dataset.status = c.status;
    tr.querySelector('[data-k=name]').textContent = c.name;
    tr.querySelector('[data-k=id]').textContent = c.village;
    const st = tr.querySelector('[data-k=status]');
    st.textContent = statusWords[c.status] || c.status;
    st.classList.add(c.status === 'open' ? 'ok' : (c.status === 'used' ? 'ok' : 'bad'));
    if (c.used_from) { tr.querySelector('[data-k=detail]').textContent = fill(T.tUsedFrom, c.used_from); }
    tr.querySelector('[data-k=expires]').textContent = day(c.expires_at);
    const revoke = tr.querySelector('.act-revoke');
    if (c.status !== 'open') {
      revoke.remove();
      return tr;
    }
    revoke.addEventListener('click', async function () {
      if (!confirmed(revoke, T.tRevokeConfirm)) { return; }
      try {
        await api('POST', 'claims/' + c.id + '/revoke');
        say(T.tRevoked, 'ok');
        await load();
      } catch (err) { failed(err); }
    });
    return tr;
  }

  async function load() {
    const a = await api('GET', 'claims');
    const tbody = document.querySelector('#cl-list tbody');
    const frag = document.createDocumentFragment();
    if (a.claims.length === 0) {
      const tr = document.createElement('tr');
      tr.appendChild(cell(T.tNone, 'muted'));
      frag.appendChild(tr);
    }
    a.claims.forEach(function (c) { frag.appendChild(row(c)); });
    tbody.replaceChildren(frag);
  }

  function hours(input) { return Math.round(Number(input.value) * 24); }

  $('cl-form').addEventListener('submit', async function (e) {
    e.preventDefault();
    const btn = $('cl-create');
    btn.disabled = true;
    try {
      const v = { id: $('cl-id').value.trim(), name: $('cl-name').value.trim(), place: $('cl-place').value.trim() };
      showIssued(await api('POST', 'claims', { villages: [v], ttl_hours: hours($('cl-days')) }));
      $('cl-form').reset();
      await load();
    } catch (err) {
      failed(err);
    } finally {
      btn.disabled = false;
    }
  });

  $('cl-sheet-form').addEventListener('submit', async function (e) {
    e.preventDefault();
    const btn = $('cl-upload');
    const file = $('cl-file').files[0];
    if (!file) { return; }
    btn.disabled = true;
    try {
      showIssued(await api('POST', 'claims/sheet?ttl_hours=' + hours($('cl-sheet-days')), undefined, file));
      $('cl-sheet-form').reset();
      await load();
    } catch (err) {
      failed(err);
    } finally {
      btn.disabled = false;
    }
  });

  load().catch(failed);
})();
