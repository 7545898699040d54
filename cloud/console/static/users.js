// The users page: lists the accounts, adds one, changes a role, resets a
// password, disables and enables, and shows the latest audit records. All
// of it goes through the API bridge (/ui/api/…), which checks the session,
// the CSRF token and the role; the API validates and records every change.
// The words come from data- attributes of #users, in the official's
// language; text is only ever set as text, never as HTML.
(function () {
  'use strict';
  const root = document.getElementById('users');
  if (!root) {
    return;
  }
  const T = root.dataset;
  const townships = JSON.parse(T.townships || '{}');
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const msg = document.getElementById('users-msg');
  const userBody = document.querySelector('#user-list tbody');
  const userRow = document.getElementById('user-row');
  const auditBody = document.querySelector('#audit tbody');
  const auditRow = document.getElementById('audit-row');
  const roleText = {
    admin: T.roleAdmin, reviewer: T.roleReviewer, operator: T.roleOperator, viewer: T.roleViewer
  };

  function fill(text, x) {
    return text.split('{x}').join(x);
  }

  function say(ok, text) {
    msg.textContent = text;
    msg.title = '';
    delete msg.dataset.code;
    msg.className = 'flash ' + (ok ? 'ok' : 'error');
    msg.hidden = false;
  }

  // refused shows a failed call (errors.js); lead, if any, comes first.
  function refused(err, lead) {
    say(false, '');
    dalaba.show(msg, err.problem || dalaba.fromData(0, { error: String(err) }));
    if (lead) {
      msg.textContent = lead + ' ' + msg.textContent;
    }
  }

  // api calls /api/v1/<path> through the bridge. A session that ended
  // (signed out, expired, or this admin's own password was reset) sends
  // the official to sign in.
  function api(method, path, body) {
    const opts = { method: method, credentials: 'same-origin', headers: { 'Accept': 'application/json' } };
    if (method !== 'GET') {
      opts.headers['X-CSRF-Token'] = csrf;
    }
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch('/ui/api/' + path, opts).then(function (resp) {
      if (resp.status === 401) {
        window.location.assign('/login');
        return new Promise(function () {}); // the page is leaving
      }
      return resp.json().catch(function () { return null; }).then(function (data) {
        if (!resp.ok) {
          const p = dalaba.fromData(resp.status, data);
          const e = new Error(p.message);
          e.problem = p;
          throw e;
        }
        return data;
      });
    });
  }

  function pad(n) {
    return (n < 10 ? '0' : '') + n;
  }

  // when shows an RFC 3339 time in the browser's zone as 2026-11-01 08:30:15.
  function when(s) {
    const d = new Date(s);
    if (isNaN(d.getTime())) {
      return s;
    }
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }

  function set(row, key, text) {
    row.querySelector('[data-k="' + key + '"]').textContent = text;
  }

  function renderUsers(users) {
    const frag = document.createDocumentFragment();
    users.forEach(function (u) {
      const tr = userRow.content.firstElementChild.cloneNode(true);
      const self = u.name === T.me;
      tr.dataset.user = u.name;
      tr.dataset.role = u.role;
      tr.dataset.disabled = String(u.disabled);
      if (u.disabled) {
        tr.classList.add('disabled');
      }
      set(tr, 'name', u.name);
      set(tr, 'you', self ? T.you : '');
      set(tr, 'status', u.disabled ? T.disabled : T.active);
      tr.querySelector('[data-k="status"]').classList.add(u.disabled ? 'bad' : 'ok');
      set(tr, 'created', when(u.created_at));
      set(tr, 'township', u.township ? (townships[u.township] || u.township) : T.county);
      const sel = tr.querySelector('select[name=role]');
      sel.value = u.role;
      const toggle = tr.querySelector('.act-disable');
      toggle.textContent = u.disabled ? T.enable : T.disable;
      toggle.classList.toggle('secondary', u.disabled);
      if (self) {
        // The API refuses these for oneself; say why instead of offering them.
        sel.disabled = true;
        tr.querySelector('.act-role').disabled = true;
        toggle.disabled = true;
        toggle.title = T.self;
        sel.title = T.self;
      }
      frag.appendChild(tr);
    });
    userBody.replaceChildren(frag);
    document.getElementById('no-users').hidden = users.length > 0;
  }

  function renderAudit(records) {
    const frag = document.createDocumentFragment();
    records.forEach(function (r) {
      const tr = auditRow.content.firstElementChild.cloneNode(true);
      tr.dataset.seq = String(r.seq);
      set(tr, 'time', when(r.time));
      set(tr, 'actor', r.actor);
      set(tr, 'action', r.action);
      set(tr, 'target', r.target || r.village || '');
      frag.appendChild(tr);
    });
    auditBody.replaceChildren(frag);
    document.getElementById('no-audit').hidden = records.length > 0;
  }

  function load() {
    return Promise.all([
      api('GET', 'users').then(renderUsers),
      api('GET', 'audit/recent?limit=100').then(function (d) { renderAudit(d.records || []); })
    ]).catch(function (err) {
      refused(err, T.loadFailed);
    });
  }

  // change PUTs body to user name and reports done (or the API's error).
  function change(name, body, done) {
    return api('PUT', 'users/' + encodeURIComponent(name), body).then(function () {
      say(true, fill(done, name));
    }, function (err) {
      refused(err);
    }).then(load);
  }

  document.getElementById('add-user').addEventListener('submit', function (ev) {
    ev.preventDefault();
    const f = ev.target;
    const name = f.elements.name.value.trim();
    const user = { name: name, role: f.elements.role.value, password: f.elements.password.value };
    // A county admin chooses the township; a township admin's users are
    // their township's without asking.
    if (f.elements.township) { user.township = f.elements.township.value; }
    api('POST', 'users', user).then(function () {
      f.reset();
      say(true, fill(T.doneAdded, name));
    }, function (err) {
      refused(err);
    }).then(load);
  });

  userBody.addEventListener('submit', function (ev) {
    ev.preventDefault();
    const f = ev.target;
    const name = f.closest('tr').dataset.user;
    if (f.classList.contains('role-form')) {
      change(name, { role: f.elements.role.value }, T.doneRole);
    } else if (f.classList.contains('pw-form')) {
      const pw = f.elements.password.value;
      f.reset();
      change(name, { password: pw }, T.donePw);
    }
  });

  userBody.addEventListener('click', function (ev) {
    const b = ev.target.closest('.act-disable');
    if (!b) {
      return;
    }
    const tr = b.closest('tr');
    const disable = tr.dataset.disabled !== 'true';
    change(tr.dataset.user, { disabled: disable }, disable ? T.doneDisabled : T.doneEnabled);
  });

  load();
})();
