// Sends a plan change to many boxes and follows its progress, through
// the API bridge. Every word comes from the page's data-t-* attributes.
(function () {
  'use strict';
  const root = document.getElementById('jobs');
  const T = root.dataset;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  function $(id) { return document.getElementById(id); }

  async function api(method, path, body) {
    const init = { method: method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (method !== 'GET') {
      init.headers['X-CSRF-Token'] = csrf;
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const resp = await fetch('/ui/api/' + path, init);
    if (!resp.ok) {
      const err = new Error('api');
      err.problem = await dalaba.problem(resp);
      throw err;
    }
    return resp.json();
  }
  function problemOf(err) { return err.problem || dalaba.fromData(0, { error: String(err) }); }

  function what(job) {
    const c = job.change || {};
    if (c.schedule) { return T.tAdd.split('{x}').join(c.schedule.name || c.schedule.id); }
    return T.tRemove.split('{x}').join(c.delete_schedule || '');
  }
  function stateText(s) { return s === 'done' ? T.tDone : s === 'running' ? T.tRunning : T.tQueued; }
  function counts(job) {
    return T.tCounts.split('{t}').join(job.total).split('{d}').join(job.done)
      .split('{f}').join(job.failed).split('{q}').join(job.queued);
  }

  // follow shows job id's progress until it has ended.
  let following = '';
  async function follow(id) {
    following = id;
    $('jb-current').hidden = false;
    while (following === id) {
      let job;
      try {
        job = await api('GET', 'plan-jobs/' + encodeURIComponent(id));
      } catch (err) {
        dalaba.show($('jb-counts'), problemOf(err));
        return;
      }
      $('jb-current-what').textContent = what(job);
      $('jb-current-state').textContent = stateText(job.state);
      $('jb-bar').max = Math.max(job.total, 1);
      $('jb-bar').value = job.done + job.failed;
      $('jb-counts').textContent = counts(job);
      const failed = (job.boxes || []).filter(function (b) { return b.state === 'failed'; });
      $('jb-failed-title').hidden = failed.length === 0;
      $('jb-failed').replaceChildren.apply($('jb-failed'), failed.slice(0, 200).map(function (b) {
        const li = document.createElement('li');
        // A failed box carries its code and message as an error answer does.
        const p = dalaba.fromData(400, b);
        li.textContent = b.id + ': ' + dalaba.explain(p);
        li.title = p.message;
        return li;
      }));
      if (job.state === 'done') {
        loadList();
        return;
      }
      await new Promise(function (r) { window.setTimeout(r, 1000); });
    }
  }

  async function loadList() {
    const ul = $('jb-list');
    let data;
    try {
      data = await api('GET', 'plan-jobs');
    } catch (err) {
      const li = document.createElement('li');
      dalaba.show(li, problemOf(err));
      ul.replaceChildren(li);
      return;
    }
    if (!data.jobs.length) {
      const li = document.createElement('li');
      li.className = 'muted';
      li.textContent = T.tNone;
      ul.replaceChildren(li);
      return;
    }
    ul.replaceChildren.apply(ul, data.jobs.map(function (job) {
      const li = document.createElement('li');
      const a = document.createElement('a');
      a.dataset.job = job.id;
      a.textContent = new Date(job.created_at).toLocaleString() + ' · ' + what(job) + ' · ' + (job.by || '') + ' · ' +
        stateText(job.state) + ' · ' + counts(job);
      a.addEventListener('click', function () { follow(job.id); });
      li.appendChild(a);
      return li;
    }));
  }

  const form = $('jb-form');
  if (form) {
    function action() { return form.querySelector('input[name="jb-action"]:checked').value; }
    function showAction() {
      const a = action();
      $('jb-sched').hidden = a === 'remove';
      $('jb-clip-row').hidden = a !== 'add';
      $('jb-text-row').hidden = a !== 'announce';
    }
    form.querySelectorAll('input[name="jb-action"]').forEach(function (r) { r.addEventListener('change', showAction); });
    showAction();
    api('GET', 'media').then(function (clips) {
      $('jb-clip').replaceChildren.apply($('jb-clip'), (clips || []).map(function (c) {
        const o = document.createElement('option');
        o.value = c.sha256;
        o.textContent = c.name;
        return o;
      }));
    }).catch(function (err) { dalaba.show($('jb-status'), problemOf(err)); });

    form.addEventListener('submit', async function (ev) {
      ev.preventDefault();
      const body = {};
      const place = $('jb-place').value.trim();
      const boxes = $('jb-boxes').value.split(/[,，\s]+/).filter(function (s) { return s; });
      if (place) { body.place = place; }
      if (boxes.length) { body.boxes = boxes; }
      const id = $('jb-id').value.trim();
      if (action() === 'remove') {
        body.delete_schedule = id;
      } else {
        const rule = { at: $('jb-times').value.split(/[,，\s]+/).filter(function (s) { return s; }) };
        if ($('jb-start').value) { rule.start = $('jb-start').value; }
        if ($('jb-end').value) { rule.end = $('jb-end').value; }
        body.schedule = { id: id, name: $('jb-name').value.trim(), media: [$('jb-clip').value], rule: rule };
        if (action() === 'announce') {
          const name = ($('jb-name').value.trim() || id) + '.wav';
          body.schedule.media = [];
          body.announcement = { name: name, text: $('jb-text').value };
        }
      }
      $('jb-submit').disabled = true;
      $('jb-status').textContent = T.tSending;
      $('jb-status').dataset.code = '';
      try {
        const job = await api('POST', 'plan-jobs', body);
        $('jb-status').textContent = '';
        loadList();
        follow(job.id);
      } catch (err) {
        dalaba.show($('jb-status'), problemOf(err));
      } finally {
        $('jb-submit').disabled = false;
      }
    });
  }
  loadList();
})();
