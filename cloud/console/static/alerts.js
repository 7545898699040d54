// The alerts page's forms (admins): a rule, a channel (added, changed,
// tried, deleted) and the quiet hours. Each goes through the API bridge
// (/ui/api/alerts/…), which checks the session, the CSRF token and the
// role; the API validates, keeps the secrets write-only and records the
// change. After a change the page reloads to show what is stored. Words
// come from data- attributes of #alerts; text is set as text only.
(function () {
  'use strict';
  const root = document.getElementById('alerts');
  if (!root) {
    return;
  }
  const T = root.dataset;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const msg = document.getElementById('al-msg');

  function say(ok, text) {
    msg.textContent = text;
    msg.className = 'flash ' + (ok ? 'ok' : 'error');
    msg.hidden = false;
  }

  function refused(p) {
    say(false, '');
    dalaba.show(msg, p);
    msg.textContent = T.failed + ' ' + msg.textContent;
    msg.scrollIntoView({ block: 'center' });
  }

  // api sends a change through the bridge; it resolves to the answer's
  // data and rejects with the problem (errors.js).
  function api(method, path, body) {
    const opts = { method: method, credentials: 'same-origin',
      headers: { 'Accept': 'application/json', 'X-CSRF-Token': csrf } };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch('/ui/api/alerts/' + path, opts).then(function (resp) {
      if (resp.status === 401) {
        window.location.assign('/login');
        return new Promise(function () {});
      }
      if (!resp.ok) {
        return dalaba.problem(resp).then(function (p) { throw p; });
      }
      return resp.json();
    });
  }

  function done(text) {
    say(true, text);
    window.setTimeout(function () { window.location.reload(); }, 600);
  }

  function value(form, name) {
    const el = form.elements[name];
    return el ? el.value.trim() : '';
  }

  function checked(form, name) {
    const el = form.elements[name];
    return !!(el && el.checked);
  }

  function rule(form) {
    const body = { enabled: checked(form, 'enabled'), urgent: checked(form, 'urgent'), channels: [] };
    if (form.elements.hold) {
      body.hold_down = (parseInt(form.elements.hold.value, 10) || 0) + 'm';
    }
    if (form.elements.threshold) {
      body.threshold = parseInt(form.elements.threshold.value, 10) || 0;
    }
    form.querySelectorAll('input[name="channel"]:checked').forEach(function (c) { body.channels.push(c.value); });
    return api('PUT', 'rules/' + encodeURIComponent(form.dataset.kind), body);
  }

  function channel(form) {
    const id = form.dataset.new ? value(form, 'id') : form.dataset.id;
    const body = { name: value(form, 'name'), kind: value(form, 'kind'), disabled: checked(form, 'disabled') };
    // Left empty, the address and the secret keep what is stored.
    if (value(form, 'url') !== '') {
      body.url = value(form, 'url');
    }
    if (form.elements.secret && form.elements.secret.value !== '') {
      body.secret = form.elements.secret.value;
    }
    const phones = value(form, 'phones');
    if (phones !== '') {
      body.phones = phones.split(/[,，\s]+/).filter(function (p) { return p !== ''; });
    }
    return api('PUT', 'channels/' + encodeURIComponent(id), body);
  }

  function quiet(form) {
    return api('PUT', 'quiet', { from: value(form, 'from'), to: value(form, 'to'), zone: value(form, 'zone') });
  }

  const save = { rule: rule, channel: channel, quiet: quiet };

  document.querySelectorAll('form[data-form]').forEach(function (form) {
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      save[form.dataset.form](form).then(function () { done(T.saved); }, refused);
    });
  });
  document.querySelectorAll('.al-test').forEach(function (b) {
    b.addEventListener('click', function () {
      const id = b.closest('form').dataset.id;
      b.disabled = true;
      api('POST', 'channels/' + encodeURIComponent(id) + '/test').then(function () { done(T.tested); }, function (p) {
        b.disabled = false;
        refused(p);
      });
    });
  });
  document.querySelectorAll('.al-delete').forEach(function (b) {
    b.addEventListener('click', function () {
      if (!window.confirm(T.confirmDelete)) {
        return;
      }
      api('DELETE', 'channels/' + encodeURIComponent(b.closest('form').dataset.id)).then(function () { done(T.deleted); }, refused);
    });
  });
  document.querySelectorAll('.al-quiet-clear').forEach(function (b) {
    b.addEventListener('click', function () {
      api('DELETE', 'quiet').then(function () { done(T.saved); }, refused);
    });
  });
})();
