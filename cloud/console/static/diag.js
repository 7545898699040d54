// The diagnostics page of one box: asks the API, through the bridge, for
// the box's latest log lines, its configuration, a connectivity check or a
// restart, each a signed command the API records in the audit trail, and
// shows the answer. Words come from data- attributes of #diag and the
// probe codes' words from #dg-codes; the box's own text is set as text.
(function () {
  'use strict';
  const root = document.getElementById('diag');
  if (!root) {
    return;
  }
  const T = root.dataset;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const msg = document.getElementById('dg-msg');
  const out = document.getElementById('dg-out');
  const probes = document.getElementById('dg-probes');
  const probeRow = document.getElementById('dg-probe');
  const codeWords = {};
  document.querySelectorAll('#dg-codes li').forEach(function (li) { codeWords[li.dataset.code] = li.textContent; });
  const targetWords = { broker: T.tBroker, township: T.tTownship, camera: T.tCamera, speaker: T.tSpeaker };
  const buttons = root.querySelectorAll('button');

  function busy(on) {
    buttons.forEach(function (b) { b.disabled = on; });
    if (on) {
      msg.textContent = T.working;
      msg.className = 'flash';
      msg.hidden = false;
    }
  }

  function ask(path, body) {
    busy(true);
    out.hidden = true;
    probes.hidden = true;
    return fetch('/ui/api/boxes/' + encodeURIComponent(T.box) + '/' + path, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Accept': 'application/json', 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify(body || {})
    }).then(function (resp) {
      if (resp.status === 401) {
        window.location.assign('/login');
        return new Promise(function () {});
      }
      if (!resp.ok) {
        return dalaba.problem(resp).then(function (p) { throw p; });
      }
      msg.hidden = true;
      return resp.json();
    }).catch(function (p) {
      msg.className = 'flash error';
      dalaba.show(msg, p);
      throw p;
    }).finally(function () { busy(false); });
  }

  function show(text) {
    out.textContent = text;
    out.hidden = false;
  }

  document.getElementById('dg-logs-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    const f = ev.target;
    ask('diag/logs', { lines: parseInt(f.elements.lines.value, 10), level: f.elements.level.value }).then(function (d) {
      show((d.truncated ? T.truncated + '\n' : '') + (d.lines || []).join('\n'));
    }, function () {});
  });
  document.getElementById('dg-config').addEventListener('click', function () {
    ask('diag/config').then(function (d) {
      show((d.redacted && d.redacted.length ? '# ' + T.redacted + ' ' + d.redacted.join(', ') + '\n' : '') + d.yaml);
    }, function () {});
  });
  document.getElementById('dg-check').addEventListener('click', function () {
    ask('diag/check').then(function (d) {
      const frag = document.createDocumentFragment();
      (d.probes || []).forEach(function (p) {
        const tr = probeRow.content.firstElementChild.cloneNode(true);
        tr.dataset.target = p.target;
        tr.dataset.code = p.code;
        tr.querySelector('[data-k="target"]').textContent = (targetWords[p.target] || p.target) + (p.id ? ' ' + p.id : '') +
          (p.addr ? ' (' + p.addr + ')' : '');
        const res = tr.querySelector('[data-k="result"]');
        res.textContent = (codeWords[p.code] || p.code) + ' · ' + p.ms + ' ms';
        res.className = p.ok ? 'ok' : 'bad';
        tr.querySelector('[data-k="detail"]').textContent = p.detail || '';
        frag.appendChild(tr);
      });
      probes.querySelector('tbody').replaceChildren(frag);
      probes.hidden = false;
    }, function () {});
  });
  const restart = document.getElementById('dg-restart');
  if (restart) {
    restart.addEventListener('click', function () {
      if (!window.confirm(T.restartWarn)) {
        return;
      }
      ask('restart').then(function () {
        msg.textContent = T.restarting;
        msg.className = 'flash ok';
        msg.hidden = false;
      }, function () {});
    });
  }
})();
