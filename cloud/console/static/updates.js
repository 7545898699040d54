// The updates page: uploads a release, starts a rollout, and pauses,
// resumes or cancels one, each through the bridge to the API; the page is
// reloaded to show where things stand. Words come from data- attributes
// of #updates.
(function () {
  'use strict';
  const root = document.getElementById('updates');
  if (!root) {
    return;
  }
  const T = root.dataset;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const msg = document.getElementById('up-msg');

  function send(path, body, json) {
    msg.textContent = T.working;
    msg.className = 'flash';
    msg.hidden = false;
    root.querySelectorAll('button').forEach(function (b) { b.disabled = true; });
    const headers = { 'Accept': 'application/json', 'X-CSRF-Token': csrf };
    if (json) {
      headers['Content-Type'] = 'application/json';
    }
    return fetch('/ui/api/' + path, {
      method: 'POST', credentials: 'same-origin', headers: headers, body: json ? JSON.stringify(body) : body
    }).then(function (resp) {
      if (resp.status === 401) {
        window.location.assign('/login');
        return new Promise(function () {});
      }
      if (!resp.ok) {
        return dalaba.problem(resp).then(function (p) { throw p; });
      }
      window.location.reload();
    }).catch(function (p) {
      msg.className = 'flash error';
      dalaba.show(msg, p);
      root.querySelectorAll('button').forEach(function (b) { b.disabled = false; });
    });
  }

  const upload = document.getElementById('up-upload');
  if (upload) {
    upload.addEventListener('submit', function (ev) {
      ev.preventDefault();
      // Fields before files: the API reads the version before it streams
      // the binaries to disk.
      const fd = new FormData();
      fd.append('version', upload.elements.version.value.trim());
      fd.append('notes', upload.elements.notes.value);
      upload.querySelectorAll('input[type="file"]').forEach(function (f) {
        if (f.files.length > 0) {
          fd.append(f.name, f.files[0]);
        }
      });
      send('releases', fd, false);
    });
  }

  const start = document.getElementById('up-start');
  if (start) {
    start.addEventListener('submit', function (ev) {
      ev.preventDefault();
      const e = start.elements;
      const list = function (s) { return s.split(/[,，\s]+/).filter(function (x) { return x !== ''; }); };
      send('rollouts', {
        version: e.version.value,
        boxes: list(e.boxes.value),
        percent: Number(e.percent.value) || 0,
        waves: list(e.waves.value).map(Number),
        max_failures: Number(e.max_failures.value) || 0
      }, true);
    });
  }

  root.querySelectorAll('.up-rollout button[data-act]').forEach(function (b) {
    b.addEventListener('click', function () {
      const act = b.dataset.act;
      if (act === 'cancel' && !window.confirm(T.cancelWarn)) {
        return;
      }
      send('rollouts/' + encodeURIComponent(b.closest('.up-rollout').dataset.id) + '/' + act, {}, true);
    });
  });
}());
