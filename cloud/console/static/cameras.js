// The camera grid: each box's cameras from the API, and for a tile being
// watched a WebRTC viewer signalled by WHEP through the console's bridge.
// The offer is sent whole, after ICE gathering (no trickle): it reaches the
// box as one signed command over MQTT. Every word comes from #cameras.
(function () {
  'use strict';
  const root = document.getElementById('cameras');
  const tpl = document.getElementById('cam-tile');
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const t = root.dataset;
  // gatherMs bounds the wait for ICE candidates, so an unreachable STUN
  // or TURN server delays the offer rather than holding it forever.
  const gatherMs = 5000;
  const watching = new Set();

  function boxURL(box) {
    return '/ui/api/boxes/' + encodeURIComponent(box);
  }

  // uiPath turns the API's Location (/api/v1/…) into the bridge's (/ui/api/…).
  function uiPath(loc) {
    if (!loc) return '';
    const p = new URL(loc, window.location.href).pathname;
    return p.indexOf('/api/v1/') === 0 ? '/ui/api/' + p.slice('/api/v1/'.length) : p;
  }

  function say(s, text, kind) {
    const el = s.tile.querySelector('[data-k=status]');
    el.textContent = text;
    el.title = '';
    delete el.dataset.code;
    el.className = 'cam-status' + (kind ? ' ' + kind : '');
  }

  function setButton(s, on) {
    s.btn.textContent = on ? t.tStop : t.tWatch;
    s.btn.classList.toggle('watching', on);
  }

  // refusal is the problem of an answer other than 201 (errors.js); a box
  // that refuses a viewer does so for its viewer limits or budget.
  function refusal(status, body) {
    let data = null;
    try { data = JSON.parse(body); } catch (e) { /* not the API's JSON: no code */ }
    return dalaba.fromData(status, data);
  }
  const over = { 'box.refused': t.tRefused };

  function gathered(pc) {
    return new Promise(function (resolve) {
      if (pc.iceGatheringState === 'complete') return resolve();
      const done = function () {
        window.clearTimeout(timer);
        pc.removeEventListener('icegatheringstatechange', check);
        resolve();
      };
      const check = function () { if (pc.iceGatheringState === 'complete') done(); };
      const timer = window.setTimeout(done, gatherMs);
      pc.addEventListener('icegatheringstatechange', check);
    });
  }

  // end deletes a WHEP session; keepalive lets it outlive a closing page.
  function end(s, session) {
    if (!session) return Promise.resolve();
    return fetch(session, { method: 'DELETE', headers: { 'X-CSRF-Token': csrf }, keepalive: true })
      .then(function (r) { s.tile.dataset.ended = String(r.status); })
      .catch(function () { /* the box ends a silent viewer on its own */ });
  }

  // stop ends the tile's viewing, whatever stage it is at; a watch still
  // under way sees s.run move on and gives up. The picture goes at once,
  // but the connection is closed only once the box has ended the session,
  // so the box records a stop rather than a viewer gone missing; a page
  // being left (now) cannot wait.
  function stop(s, text, now) {
    s.run++;
    watching.delete(s);
    const pc = s.pc;
    const ended = end(s, s.session);
    s.pc = null;
    s.session = '';
    s.video.srcObject = null;
    if (pc && now) pc.close();
    else if (pc) ended.then(function () { pc.close(); });
    setButton(s, false);
    say(s, text || '');
  }

  async function watch(s) {
    const run = ++s.run;
    s.tile.title = '';
    delete s.tile.dataset.ended;
    setButton(s, true);
    say(s, t.tConnecting);
    const pc = new RTCPeerConnection({
      iceServers: s.ice.map(function (i) { return { urls: i.urls, username: i.username, credential: i.credential }; })
    });
    s.pc = pc;
    watching.add(s);
    pc.addEventListener('track', function (e) {
      s.video.srcObject = e.streams[0] || new MediaStream([e.track]);
      s.video.play().catch(function () { /* muted autoplay is allowed; nothing to do */ });
    });
    pc.addEventListener('connectionstatechange', function () {
      if (s.run !== run) return;
      if (pc.connectionState === 'connected') say(s, t.tPlaying, 'live');
      if (pc.connectionState === 'failed') {
        stop(s);
        say(s, t.tFailed, 'error');
      }
    });
    try {
      pc.addTransceiver('video', { direction: 'recvonly' });
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      if (s.run !== run) return;
      const resp = await fetch(boxURL(s.box) + '/cameras/' + encodeURIComponent(s.cam) + '/whep', {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', 'X-CSRF-Token': csrf },
        body: pc.localDescription.sdp
      });
      const body = await resp.text();
      if (resp.status !== 201) {
        if (s.run !== run) return;
        const p = refusal(resp.status, body);
        stop(s);
        say(s, '', 'error');
        dalaba.show(s.tile.querySelector('[data-k=status]'), p, { over: over });
        s.tile.title = resp.status + ' ' + p.message;
        return;
      }
      const session = uiPath(resp.headers.get('Location'));
      if (s.run !== run) { // stopped while the box was answering
        end(s, session).then(function () { pc.close(); });
        return;
      }
      s.session = session;
      await pc.setRemoteDescription({ type: 'answer', sdp: body });
    } catch (e) {
      if (s.run !== run) return;
      stop(s);
      say(s, t.tFailed, 'error');
      s.tile.title = String(e);
    }
  }

  function newTile(box, cam, ice) {
    const tile = tpl.content.firstElementChild.cloneNode(true);
    tile.dataset.camera = cam.id;
    tile.querySelector('[data-k=name]').textContent = cam.name || cam.id;
    const video = tile.querySelector('video');
    video.muted = true; // a clone does not take muted from its attribute
    video.playsInline = true;
    const s = { tile: tile, box: box, cam: cam.id, ice: ice, video: video, btn: tile.querySelector('.cam-watch'), pc: null, session: '', run: 0 };
    s.btn.addEventListener('click', function () {
      if (s.pc) stop(s, t.tStopped);
      else watch(s);
    });
    return tile;
  }

  function showLimits(sec, c) {
    const dl = sec.querySelector('.cam-limits');
    dl.querySelector('[data-k=max_viewers]').textContent = String(c.max_viewers || t.defaultMax);
    dl.querySelector('[data-k=max_viewers_per_camera]').textContent = String(c.max_viewers_per_camera || t.defaultPerCamera);
    dl.querySelector('[data-k=budget_kbps]').textContent = c.budget_kbps ? c.budget_kbps + ' ' + t.tKbps : t.tNoBudget;
    dl.hidden = false;
  }

  async function loadBox(sec) {
    const box = sec.dataset.box;
    const note = sec.querySelector('[data-k=note]');
    let c;
    try {
      const resp = await fetch(boxURL(box) + '/cameras', { headers: { Accept: 'application/json' } });
      if (resp.status === 401) {
        window.location.assign('/login');
        return;
      }
      if (!resp.ok) {
        const p = await dalaba.problem(resp);
        dalaba.show(note, p);
        note.textContent = t.tLoadFailed + ' ' + note.textContent;
        note.classList.add('error');
        return;
      }
      c = (await resp.json()).cameras || {};
    } catch (e) {
      note.textContent = t.tLoadFailed;
      note.classList.add('error');
      note.title = String(e);
      return;
    }
    showLimits(sec, c);
    const cams = c.cameras || [];
    note.textContent = cams.length ? '' : t.tNone;
    note.hidden = cams.length > 0;
    const grid = sec.querySelector('.cam-grid');
    cams.forEach(function (cam) { grid.appendChild(newTile(box, cam, c.ice || [])); });
  }

  // Leaving the page ends every viewing, so the box frees its viewer
  // places and uplink at once instead of waiting for ICE to time out.
  window.addEventListener('pagehide', function () {
    Array.from(watching).forEach(function (s) { stop(s, '', true); });
  });

  root.querySelectorAll('.cam-box').forEach(loadBox);
})();
