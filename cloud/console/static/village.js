// A village's page: its horns (with a test tone on each), zones, cameras
// (tried by the box before or after saving; previews are the camera
// grid's tiles, static/cameras.js), schedules and coming playbacks. Every
// change goes through the API bridge (/ui/api/…), so the API's role
// checks, validation and audit apply; every refusal is the sentence of
// its code (static/errors.js). Every word comes from #village.
(function () {
  'use strict';
  const root = document.getElementById('village');
  const T = root.dataset;
  const box = T.box;
  const manageBroadcast = T.manageBroadcast === 'true';
  const manageCameras = T.manageCameras === 'true';
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const zh = document.documentElement.lang.indexOf('zh') === 0;
  const listSep = zh ? '、' : ', ';
  let plan = {};
  let cameras = [];

  function $(id) { return document.getElementById(id); }
  function fill(msg, x) { return msg.split('{x}').join(x); }
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function boxPath(rest) { return 'boxes/' + encodeURIComponent(box) + '/' + rest; }

  async function api(method, path, body) {
    const init = { method: method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (method !== 'GET') { init.headers['X-CSRF-Token'] = csrf; }
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const resp = await fetch('/ui/api/' + path, init);
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (!resp.ok) {
      const p = dalaba.fromData(resp.status, data);
      const err = new Error(p.message);
      err.problem = p;
      err.data = data;
      throw err;
    }
    return data;
  }

  const labels = {
    id: T.tLId, name: T.tLName, addr: T.tLAddr, volume: T.tLVolume, driver: T.tLDriver, play_url: T.tLPlaylink,
    speakers: T.tLSpeakers, url: T.tLStream, username: T.tLUsername, password: T.tLPassword, transport: T.tLTransport,
  };
  function say(node, text, kind) {
    if (!node) { return; }
    node.textContent = text;
    node.title = '';
    delete node.dataset.code;
    node.className = 'status' + (kind ? ' ' + kind : '');
  }
  function failed(node, err) {
    if (!node) { return; }
    dalaba.show(node, err.problem || dalaba.fromData(0, { error: String(err) }), { labels: labels });
    node.className = 'status error';
  }
  // confirmed arms a button on its first press and acts on the second.
  function confirmed(btn, node) {
    if (btn.classList.contains('armed')) {
      btn.classList.remove('armed');
      return true;
    }
    btn.classList.add('armed');
    say(node, T.tConfirmRemove, 'error');
    window.setTimeout(function () { btn.classList.remove('armed'); }, 8000);
    return false;
  }
  function button(text, cls, onClick) {
    const b = el('button', 'small ' + (cls || ''), text);
    b.type = 'button';
    b.addEventListener('click', onClick);
    return b;
  }
  function driverText(d) {
    return { rtp: T.tDriverRtp, http: T.tDriverHttp, soundcard: T.tDriverSoundcard }[d] || d;
  }
  function hornName(id) {
    const s = (plan.speakers || []).find(function (x) { return x.id === id; });
    return s && s.name ? s.name : id;
  }

  // --- horns ------------------------------------------------------------

  async function testTone(s, li) {
    const st = li.querySelector('.status');
    say(st, T.tTesting, '');
    try {
      const a = await api('POST', boxPath('speakers/' + encodeURIComponent(s.id) + '/test'));
      li.dataset.tone = 'played';
      say(st, fill(T.tTestOk, (a.result.duration_ms / 1000).toFixed(1)) + ' ' + T.tHealthOk, 'ok');
    } catch (err) {
      li.dataset.tone = 'failed';
      failed(st, err);
      const r = err.data && err.data.result;
      if (r && r.reason !== 'unknown_speaker') {
        // The horn's state as the box sees it; its driver's words are for
        // engineers, in the title.
        st.textContent += ' ' + (r.reachable ? T.tHealthOk : T.tHealthBad);
        if (r.health_error) { st.title += ' · ' + r.health_error; }
      }
    }
  }

  function editHorn(s) {
    $('vg-horn-id').value = s.id;
    $('vg-horn-name').value = s.name || '';
    $('vg-horn-driver').value = s.driver;
    $('vg-horn-addr').value = s.addr || '';
    $('vg-horn-url').value = s.play_url || '';
    $('vg-horn-volume').value = s.volume || 100;
    showDriver();
    $('vg-horn-form').scrollIntoView();
  }

  function renderHorns() {
    const ul = $('vg-horns');
    const frag = document.createDocumentFragment();
    const speakers = plan.speakers || [];
    if (speakers.length === 0) { frag.appendChild(el('li', 'muted', T.tNoHorns)); }
    speakers.forEach(function (s) {
      const li = el('li');
      li.dataset.speaker = s.id;
      const what = el('span', 'what');
      what.appendChild(el('span', 'name', s.name || s.id));
      what.appendChild(document.createTextNode(' '));
      what.appendChild(el('span', 'muted', s.id + ' · ' + driverText(s.driver) + (s.addr ? ' · ' + s.addr : '') + (s.volume ? ' · ' + s.volume + '%' : '')));
      li.appendChild(what);
      if (manageBroadcast) {
        li.appendChild(button(T.tTest, 'act-test', function () { testTone(s, li); }));
        li.appendChild(button(T.tEdit, 'secondary act-edit', function () { editHorn(s); }));
        const rm = button(T.tRemove, 'danger act-remove', async function () {
          if (!confirmed(rm, li.querySelector('.status'))) { return; }
          try {
            await api('DELETE', boxPath('speakers/' + encodeURIComponent(s.id)));
            say($('vg-horns-status'), T.tRemoved, 'ok');
            await refreshPlan();
          } catch (err) { failed(li.querySelector('.status'), err); }
        });
        li.appendChild(rm);
      }
      li.appendChild(el('p', 'status'));
      frag.appendChild(li);
    });
    ul.replaceChildren(frag);
  }

  function showDriver() {
    const d = $('vg-horn-driver').value;
    $('vg-horn-addr-row').hidden = d !== 'rtp';
    $('vg-horn-url-row').hidden = d !== 'http';
  }

  function setupHornForm() {
    const form = $('vg-horn-form');
    if (!form) { return; }
    $('vg-horn-driver').addEventListener('change', showDriver);
    showDriver();
    const st = $('vg-horn-status');
    form.addEventListener('submit', async function (e) {
      e.preventDefault();
      const id = $('vg-horn-id').value.trim();
      const driver = $('vg-horn-driver').value;
      const s = { id: id, name: $('vg-horn-name').value.trim(), driver: driver, volume: Number($('vg-horn-volume').value) || 0 };
      if (driver === 'rtp') { s.addr = $('vg-horn-addr').value.trim(); }
      if (driver === 'http') { s.play_url = $('vg-horn-url').value.trim(); }
      if (!id) { say(st, T.tNeedId, 'error'); return; }
      if ((driver === 'rtp' && !s.addr) || (driver === 'http' && !s.play_url)) { say(st, T.tNeedAddr, 'error'); return; }
      try {
        await api('PUT', boxPath('speakers/' + encodeURIComponent(id)), s);
        say(st, T.tSaved, 'ok');
        form.reset();
        showDriver();
        await refreshPlan();
      } catch (err) { failed(st, err); }
    });
  }

  // --- zones ------------------------------------------------------------

  function renderZones() {
    const ul = $('vg-zones');
    const frag = document.createDocumentFragment();
    const zones = plan.zones || [];
    if (zones.length === 0) { frag.appendChild(el('li', 'muted', T.tNoZones)); }
    zones.forEach(function (z) {
      const li = el('li');
      li.dataset.zone = z.id;
      const what = el('span', 'what');
      what.appendChild(el('span', 'name', z.name || z.id));
      what.appendChild(document.createTextNode(' '));
      what.appendChild(el('span', 'muted', (z.speakers || []).map(hornName).join(listSep) + (z.volume ? ' · ' + z.volume + '%' : '')));
      li.appendChild(what);
      if (manageBroadcast) {
        li.appendChild(button(T.tEdit, 'secondary act-edit', function () {
          $('vg-zone-id').value = z.id;
          $('vg-zone-name').value = z.name || '';
          $('vg-zone-volume').value = z.volume || 100;
          $('vg-zone-horns').querySelectorAll('input').forEach(function (cb) { cb.checked = (z.speakers || []).indexOf(cb.value) >= 0; });
          $('vg-zone-form').scrollIntoView();
        }));
        const rm = button(T.tRemove, 'danger act-remove', async function () {
          if (!confirmed(rm, li.querySelector('.status'))) { return; }
          try {
            await api('DELETE', boxPath('zones/' + encodeURIComponent(z.id)));
            say($('vg-zones-status'), T.tRemoved, 'ok');
            await refreshPlan();
          } catch (err) { failed(li.querySelector('.status'), err); }
        });
        li.appendChild(rm);
      }
      li.appendChild(el('p', 'status'));
      frag.appendChild(li);
    });
    ul.replaceChildren(frag);
    const fs = $('vg-zone-horns');
    if (fs) {
      const checked = {};
      fs.querySelectorAll('input:checked').forEach(function (cb) { checked[cb.value] = true; });
      fs.querySelectorAll('label').forEach(function (l) { l.remove(); });
      (plan.speakers || []).forEach(function (s) {
        const l = el('label', 'check');
        const cb = el('input');
        cb.type = 'checkbox';
        cb.value = s.id;
        cb.checked = !!checked[s.id];
        l.appendChild(cb);
        l.appendChild(document.createTextNode(' ' + (s.name || s.id)));
        fs.appendChild(l);
      });
    }
  }

  function setupZoneForm() {
    const form = $('vg-zone-form');
    if (!form) { return; }
    const st = $('vg-zone-status');
    form.addEventListener('submit', async function (e) {
      e.preventDefault();
      const id = $('vg-zone-id').value.trim();
      if (!id) { say(st, T.tNeedId, 'error'); return; }
      const z = {
        id: id, name: $('vg-zone-name').value.trim(), volume: Number($('vg-zone-volume').value) || 0,
        speakers: Array.from($('vg-zone-horns').querySelectorAll('input:checked')).map(function (cb) { return cb.value; }),
      };
      try {
        await api('PUT', boxPath('zones/' + encodeURIComponent(id)), z);
        say(st, T.tSaved, 'ok');
        form.reset();
        await refreshPlan();
      } catch (err) { failed(st, err); }
    });
  }

  // --- schedules --------------------------------------------------------

  function ruleText(r) {
    const parts = [];
    if (r.once) { parts.push(r.once.replace('T', ' ').slice(0, 16)); }
    if (r.weekdays && r.weekdays.length) {
      const names = T.tWeekdayNames.split(',');
      parts.push(r.weekdays.map(function (d) { return names[d - 1] || d; }).join(listSep));
    }
    if (r.at && r.at.length) { parts.push(r.at.join(listSep)); }
    return parts.join(' ');
  }

  function renderSchedules() {
    const ul = $('vg-schedules');
    const frag = document.createDocumentFragment();
    const sch = plan.schedules || [];
    if (sch.length === 0) { frag.appendChild(el('li', 'muted', T.tNoSchedules)); }
    sch.forEach(function (s) {
      const li = el('li');
      li.dataset.schedule = s.id;
      li.appendChild(el('span', 'what', s.name || s.id));
      li.appendChild(el('span', 'muted', ruleText(s.rule || {})));
      frag.appendChild(li);
    });
    ul.replaceChildren(frag);
  }

  async function loadComing() {
    const ul = $('vg-coming');
    try {
      const u = await api('GET', boxPath('upcoming?days=7'));
      const frag = document.createDocumentFragment();
      const items = (u.items || []).slice(0, 6);
      if (items.length === 0) { frag.appendChild(el('li', 'muted', T.tNothingComing)); }
      items.forEach(function (it) {
        const li = el('li', it.quiet ? 'muted' : '');
        li.appendChild(el('time', 'at', it.at.slice(0, 16).replace('T', ' ')));
        li.appendChild(el('span', 'what', it.name || it.schedule_id));
        frag.appendChild(li);
      });
      ul.replaceChildren(frag);
    } catch (err) {
      const li = el('li', 'status');
      failed(li, err);
      ul.replaceChildren(li);
    }
  }

  async function refreshPlan() {
    const p = await api('GET', boxPath('broadcast'));
    plan = p.broadcast || {};
    renderHorns();
    renderZones();
    renderSchedules();
  }

  // --- cameras ----------------------------------------------------------

  function cameraBody() {
    const c = {
      id: $('vg-cam-id').value.trim(), name: $('vg-cam-name').value.trim(), url: $('vg-cam-url').value.trim(),
      username: $('vg-cam-user').value.trim(), transport: $('vg-cam-transport').value,
    };
    const pw = $('vg-cam-pass').value;
    if (pw) { c.password = pw; }
    return c;
  }

  function renderCameras() {
    const ul = $('vg-cameras');
    const frag = document.createDocumentFragment();
    if (cameras.length === 0) { frag.appendChild(el('li', 'muted', T.tNoCameras)); }
    cameras.forEach(function (c) {
      const li = el('li');
      li.dataset.camera = c.id;
      const what = el('span', 'what');
      what.appendChild(el('span', 'name', c.name || c.id));
      what.appendChild(document.createTextNode(' '));
      what.appendChild(el('span', 'muted', c.id + ' · ' + c.url));
      li.appendChild(what);
      if (manageCameras) {
        li.appendChild(button(T.tProbe, 'act-probe', function () { probe(c.id, undefined, li.querySelector('.status')); }));
        li.appendChild(button(T.tEdit, 'secondary act-edit', function () {
          $('vg-cam-id').value = c.id;
          $('vg-cam-name').value = c.name || '';
          $('vg-cam-url').value = c.url;
          $('vg-cam-user').value = c.username || '';
          $('vg-cam-pass').value = '';
          $('vg-cam-transport').value = c.transport || 'tcp';
          $('vg-camera-form').scrollIntoView();
        }));
        const rm = button(T.tRemove, 'danger act-remove', async function () {
          if (!confirmed(rm, li.querySelector('.status'))) { return; }
          try {
            await api('DELETE', boxPath('cameras/' + encodeURIComponent(c.id)));
            window.location.reload(); // the previews follow the saved cameras
          } catch (err) { failed(li.querySelector('.status'), err); }
        });
        li.appendChild(rm);
      }
      li.appendChild(el('p', 'status'));
      frag.appendChild(li);
    });
    ul.replaceChildren(frag);
  }

  // probe has the box open a camera: the saved one (body undefined) or
  // the form's.
  async function probe(id, body, st) {
    say(st, T.tProbing, '');
    try {
      const a = await api('POST', boxPath('cameras/' + encodeURIComponent(id) + '/probe'), body);
      st.dataset.probe = 'opened';
      say(st, fill(T.tProbeOk, (a.result.tracks || [a.result.video]).join(listSep)), 'ok');
    } catch (err) {
      st.dataset.probe = 'failed';
      failed(st, err);
    }
  }

  function setupCameraForm() {
    const form = $('vg-camera-form');
    if (!form) { return; }
    const st = $('vg-cam-status');
    $('vg-cam-probe').addEventListener('click', function () {
      const c = cameraBody();
      if (!c.id) { say(st, T.tNeedId, 'error'); return; }
      probe(c.id, c, st);
    });
    form.addEventListener('submit', async function (e) {
      e.preventDefault();
      const c = cameraBody();
      if (!c.id) { say(st, T.tNeedId, 'error'); return; }
      try {
        await api('PUT', boxPath('cameras/' + encodeURIComponent(c.id)), c);
        window.location.reload(); // the previews follow the saved cameras
      } catch (err) { failed(st, err); }
    });
  }

  async function loadCameras() {
    const a = await api('GET', boxPath('cameras'));
    cameras = (a.cameras && a.cameras.cameras) || [];
    renderCameras();
  }

  // --- start ------------------------------------------------------------

  setupHornForm();
  setupZoneForm();
  setupCameraForm();
  refreshPlan().then(loadComing).catch(function (err) { failed($('vg-horns-status'), err); });
  loadCameras().catch(function (err) { failed($('vg-cameras-status'), err); });
})();
