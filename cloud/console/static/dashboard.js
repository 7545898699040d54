// Keeps the dashboard's box table current from the server's event stream.
// The server sends rows already translated; this only copies text.
(function () {
  'use strict';
  const tbody = document.querySelector('#boxes tbody');
  const tpl = document.getElementById('row-template');
  const empty = document.getElementById('no-boxes');
  const live = document.getElementById('live');
  const summary = document.getElementById('db-summary');

  function setLive(up) {
    live.textContent = up ? live.dataset.live : live.dataset.down;
    live.className = 'live ' + (up ? 'ok' : 'bad');
  }

  function fill(tr, row) {
    tr.dataset.box = row.id;
    tr.querySelectorAll('[data-k]').forEach(function (el) {
      el.textContent = String(row[el.dataset.k]);
    });
    tr.querySelector('[data-k=name]').href = '/villages/' + encodeURIComponent(row.id); // the village's page
    tr.querySelector('[data-k=online_text]').className = 'state ' + (row.online ? 'ok' : 'bad');
    tr.querySelector('[data-k=clock_text]').className = 'state clock-' + row.clock;
    tr.querySelector('[data-k=problems]').className = 'state ' + (row.has_problems ? 'warn' : '');
    tr.querySelector('[data-k=sync_text]').className = 'state ' + (row.in_sync ? 'ok' : 'warn');
    tr.querySelector('[data-k=disk]').className = 'state ' + (row.disk_low ? 'warn' : '');
    tr.querySelector('[data-k=speakers]').className = 'devices ' + (row.speakers_ok ? '' : 'bad');
    tr.querySelector('[data-k=cameras]').className = 'devices ' + (row.cameras_ok ? '' : 'warn');
  }

  function render(rows) {
    const frag = document.createDocumentFragment();
    rows.forEach(function (row) {
      const tr = tpl.content.firstElementChild.cloneNode(true);
      fill(tr, row);
      frag.appendChild(tr);
    });
    tbody.replaceChildren(frag);
    empty.hidden = rows.length > 0;
  }

  // The stream of this very page: the same filters, sort and offset.
  const es = new EventSource(document.getElementById('boxes').dataset.stream);
  es.addEventListener('open', function () { setLive(true); });
  es.addEventListener('boxes', function (e) {
    setLive(true);
    render(JSON.parse(e.data));
  });
  es.addEventListener('summary', function (e) {
    summary.textContent = JSON.parse(e.data).summary;
  });
  // The session ended (signed out elsewhere, expired).
  es.addEventListener('end', function () {
    es.close();
    window.location.assign('/login');
  });
  es.addEventListener('error', function () {
    setLive(false);
    // The browser gives up on a refused stream (401); a reload lets the
    // server send the official to sign-in or show what went wrong.
    if (es.readyState === EventSource.CLOSED) {
      window.setTimeout(function () { window.location.reload(); }, 5000);
    }
  });
})();
