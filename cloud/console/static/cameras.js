// The camera grid: each box's cameras from the API, and for a tile being
// watched a WebRTC viewer signalled by WHEP through the console's bridge.
// The offer is sent whole, after ICE gathering (no trickle): it reaches the
// box as one signed command over MQTT. Every word comes from #cameras.
//
// A tile watches the camera's sub stream; 主码流 (full view) watches the
// main stream in a tile across the grid. The box says in the answer's
// X-Camera-* headers which stream, codec and frames it sends and why
// (shown in words), and the frame rate to expect: a tile says 实时画面
// (live) only while the browser decodes at least a quarter of it, measured
// with getVideoPlaybackQuality, and otherwise says the picture is not live.
(function () {
  'use strict';
  const root = document.getElementById('cameras');
  const tpl = document.getElementById('cam-tile');
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const t = root.dataset;
  // gatherMs bounds the wait for ICE candidates, so an unreachable STUN
  // or TURN server delays the offer rather than holding it forever.
  const gatherMs = 5000;
  // A tile is live while it decodes at least liveShare of the frame rate
  // the box sends, measured over checkMs; the first check waits graceMs
  // for the keyframe and the decoder.
  const liveShare = 0.25;
  const checkMs = 2000;
  const graceMs = 3000;
  const watching = new Set();

  // words looks up a word given by code (a note, a refusal) in #cameras.
  function words(prefix, code) {
    return code ? root.getAttribute('data-t-' + prefix + '-' + code) || '' : '';
  }

  function fill(text, a, b) {
    return text.replace('%s', a).replace('%s', b);
  }

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
    s.tile.dataset.live = kind === 'live' ? '1' : '';
  }

  function note(s, text) {
    const el = s.tile.querySelector('[data-k=note]');
    el.textContent = text || '';
    el.hidden = !text;
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
    window.clearInterval(s.monitor);
    s.monitor = 0;
    s.muteBtn.hidden = true;
    note(s, '');
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

  // monitor checks, every checkMs, how fast the browser decodes (the
  // frames WebRTC decoded, from getStats: a tile scrolled out of sight is
  // still decoded, though not painted): live, with the stream and rate,
  // or not live and why.
  function monitor(s, run, info, pc) {
    let last = 0, at = 0;
    const check = function () {
      if (s.run !== run) return;
      pc.getStats().then(function (stats) {
        if (s.run !== run) return;
        let n = -1;
        stats.forEach(function (r) {
          if (r.type === 'inbound-rtp' && r.kind === 'video' && typeof r.framesDecoded === 'number') n = r.framesDecoded;
        });
        if (n < 0) {
          const q = s.video.getVideoPlaybackQuality();
          n = q.totalVideoFrames - q.droppedVideoFrames;
        }
        const now = performance.now();
        if (at) {
          const fps = (n - last) * 1000 / (now - at);
          s.tile.dataset.fps = fps.toFixed(1);
          const want = info.fps || 0;
          if (fps <= 0 || (want > 0 && fps < want * liveShare)) {
            say(s, fill(t.tSlow, fps.toFixed(1), want ? want.toFixed(0) : '?'), 'error');
          } else {
            const parts = [t.tPlaying, info.stream === 'main' ? t.tMain : t.tSub, fill(t.tFps, fps.toFixed(0))];
            say(s, parts.join(' · '), 'live');
          }
        }
        last = n;
        at = now;
      }).catch(function () { /* closed meanwhile */ });
    };
    window.setTimeout(function () {
      check();
      if (s.run === run) s.monitor = window.setInterval(check, checkMs);
    }, graceMs - checkMs);
  }

  // level follows the received audio's level (the browser's own measure,
  // from getStats) in the tile's data-audio-level. WebAudio would do it
  // too, but tapping a remote track with it stalls Chromium's other
  // videos.
  function level(s, run, pc) {
    const tick = function () {
      if (s.run !== run) return;
      pc.getStats().then(function (stats) {
        stats.forEach(function (r) {
          if (r.type === 'inbound-rtp' && r.kind === 'audio' && typeof r.audioLevel === 'number') {
            s.tile.dataset.audioLevel = r.audioLevel.toFixed(4);
          }
        });
      }).catch(function () { /* closed meanwhile */ });
      window.setTimeout(tick, 500);
    };
    tick();
  }

  async function watch(s, stream) {
    const run = ++s.run;
    s.stream = stream;
    s.tile.title = '';
    delete s.tile.dataset.ended;
    delete s.tile.dataset.fps;
    delete s.tile.dataset.audioLevel;
    setButton(s, true);
    say(s, t.tConnecting);
    const pc = new RTCPeerConnection({
      iceServers: s.ice.map(function (i) { return { urls: i.urls, username: i.username, credential: i.credential }; })
    });
    s.pc = pc;
    watching.add(s);
    const media = new MediaStream();
    let info = { stream: stream, fps: 0 };
    pc.addEventListener('track', function (e) {
      media.addTrack(e.track);
      if (s.video.srcObject !== media) s.video.srcObject = media;
      s.video.play().catch(function () { /* muted autoplay is allowed; nothing to do */ });
    });
    pc.addEventListener('connectionstatechange', function () {
      if (s.run !== run) return;
      if (pc.connectionState === 'connected' && !s.monitor) {
        monitor(s, run, info, pc);
        if (!s.muteBtn.hidden) level(s, run, pc);
      }
      if (pc.connectionState === 'failed') {
        stop(s);
        say(s, t.tFailed, 'error');
      }
    });
    try {
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      if (s.run !== run) return;
      const resp = await fetch(boxURL(s.box) + '/cameras/' + encodeURIComponent(s.cam) + '/whep?stream=' + stream, {
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
      info = {
        stream: resp.headers.get('X-Camera-Stream') || stream,
        fps: parseFloat(resp.headers.get('X-Camera-FPS') || '0') || 0
      };
      const noteCode = resp.headers.get('X-Camera-Note') || '';
      s.tile.dataset.stream = info.stream;
      s.tile.dataset.wantFps = String(info.fps);
      s.tile.dataset.note = noteCode;
      s.tile.dataset.frames = resp.headers.get('X-Camera-Frames') || '';
      note(s, words('note', noteCode));
      const audio = resp.headers.get('X-Camera-Audio') || '';
      s.muteBtn.hidden = !audio;
      s.video.muted = true;
      s.muteBtn.textContent = t.tUnmute;
      await pc.setRemoteDescription({ type: 'answer', sdp: body });
    } catch (e) {
      if (s.run !== run) return;
      stop(s);
      say(s, t.tFailed, 'error');
      s.tile.title = String(e);
    }
  }

  // A PTZ move: velocities for each button, at half speed.
  const moveMs = 1000;
  const ptzMoves = {
    left: { pan: -0.5 }, right: { pan: 0.5 }, up: { tilt: 0.5 }, down: { tilt: -0.5 },
    in: { zoom: 0.5 }, out: { zoom: -0.5 }
  };

  // PTZ requests of one tile go one after another, so the township
  // issues a stop after the move it ends (the box orders them by issue
  // time); a move that hangs ends on the camera's side after moveMs.
  function ptz(s, body) {
    s.ptzQueue = (s.ptzQueue || Promise.resolve()).then(function () { return ptzNow(s, body); });
    return s.ptzQueue;
  }

  function ptzNow(s, body) {
    return fetch(boxURL(s.box) + '/cameras/' + encodeURIComponent(s.cam) + '/ptz', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify(body)
    }).then(function (r) {
      s.tile.dataset.ptz = body.action + ' ' + r.status;
      if (!r.ok) say(s, t.tPtzFailed, 'error');
    }).catch(function () { say(s, t.tPtzFailed, 'error'); });
  }

  function newTile(box, cam, ice) {
    const tile = tpl.content.firstElementChild.cloneNode(true);
    tile.dataset.camera = cam.id;
    tile.querySelector('[data-k=name]').textContent = cam.name || cam.id;
    const video = tile.querySelector('video');
    video.muted = true; // a clone does not take muted from its attribute
    video.playsInline = true;
    const s = {
      tile: tile, box: box, cam: cam.id, ice: ice, video: video, btn: tile.querySelector('.cam-watch'),
      fullBtn: tile.querySelector('.cam-full'), muteBtn: tile.querySelector('.cam-mute'),
      pc: null, session: '', run: 0, stream: 'sub', monitor: 0, ptzQueue: null
    };
    s.btn.addEventListener('click', function () {
      if (s.pc) stop(s, t.tStopped);
      else watch(s, tile.classList.contains('cam-big') ? 'main' : 'sub');
    });
    // The full view: the main stream across the grid; back: the sub
    // stream in the tile.
    s.fullBtn.addEventListener('click', function () {
      const big = !tile.classList.contains('cam-big');
      tile.classList.toggle('cam-big', big);
      s.fullBtn.textContent = big ? t.tGrid : t.tFull;
      if (s.pc) stop(s, '', true);
      watch(s, big ? 'main' : 'sub');
    });
    // 抓拍: a still the box takes from the camera, an image of this
    // page's own origin.
    const snapBtn = tile.querySelector('.cam-snap');
    const img = tile.querySelector('.cam-snapshot');
    snapBtn.addEventListener('click', function () {
      img.hidden = true;
      delete tile.dataset.snapshot;
      img.onload = function () { img.hidden = false; tile.dataset.snapshot = 'shown'; };
      img.onerror = function () { say(s, t.tSnapFailed, 'error'); tile.dataset.snapshot = 'failed'; };
      img.src = boxURL(box) + '/cameras/' + encodeURIComponent(cam.id) + '/snapshot?at=' + Date.now();
    });
    // The PTZ pad, for a camera with ONVIF and an official who may turn
    // it: held down, the camera moves; let go, it stops. A move lasts at
    // most moveMs on the camera's side, renewed while held, so a lost stop
    // does not leave it turning.
    if (cam.onvif && root.dataset.mayControl === 'true') {
      const pad = tile.querySelector('.cam-ptz');
      pad.hidden = false;
      pad.querySelectorAll('button').forEach(function (b) {
        let timer = 0;
        const v = ptzMoves[b.dataset.ptz];
        const move = function () { ptz(s, Object.assign({ action: 'move', timeout_ms: moveMs }, v)); };
        const start = function (e) {
          e.preventDefault();
          if (timer) return;
          move();
          timer = window.setInterval(move, moveMs * 0.8);
        };
        const end = function () {
          if (!timer) return;
          window.clearInterval(timer);
          timer = 0;
          ptz(s, { action: 'stop' });
        };
        b.addEventListener('pointerdown', start);
        b.addEventListener('pointerup', end);
        b.addEventListener('pointerleave', end);
        b.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') start(e); });
        b.addEventListener('keyup', end);
      });
    }
    s.muteBtn.addEventListener('click', function () {
      video.muted = !video.muted;
      s.muteBtn.textContent = video.muted ? t.tUnmute : t.tMute;
      if (!video.muted) video.play().catch(function () { /* playing already */ });
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

  // 查找摄像头: the box probes its LAN; each camera found gets a form that
  // reads it over ONVIF with the credentials given and adds it, its main
  // and sub streams from its profiles.
  function discovery(sec) {
    const btn = sec.querySelector('.cam-find');
    if (!btn) return;
    const box = sec.dataset.box;
    const status = sec.querySelector('.cam-find-status');
    const list = sec.querySelector('.cam-found');
    const post = function (path, body) {
      return fetch(boxURL(box) + path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
        body: JSON.stringify(body)
      });
    };
    btn.addEventListener('click', async function () {
      btn.disabled = true;
      status.textContent = t.tFinding;
      list.textContent = '';
      try {
        const r = await post('/cameras/discover', {});
        if (!r.ok) throw new Error('discover: ' + r.status);
        const devs = (await r.json()).devices || [];
        status.textContent = devs.length ? '' : t.tFoundNone;
        devs.forEach(function (d) { list.appendChild(foundItem(d, post)); });
      } catch (e) {
        status.textContent = t.tFindFailed;
        status.title = String(e);
      } finally {
        btn.disabled = false;
      }
    });
  }

  function foundItem(d, post) {
    const li = document.getElementById('cam-found-item').content.firstElementChild.cloneNode(true);
    li.dataset.url = d.url;
    li.querySelector('.cam-found-name').textContent = d.name || d.hardware || '';
    li.querySelector('.cam-found-url').textContent = d.url;
    const form = li.querySelector('form');
    const st = form.querySelector('.cam-add-status');
    form.addEventListener('submit', async function (e) {
      e.preventDefault();
      const f = new FormData(form);
      const id = f.get('id'), user = f.get('username'), pass = f.get('password');
      st.textContent = t.tAdding;
      try {
        const r = await post('/cameras/onvif', { url: d.url, username: user, password: pass });
        if (!r.ok) throw new Error('onvif: ' + r.status);
        const info = await r.json();
        if (!info.main_url) throw new Error('no stream');
        const cam = { id: id, name: d.name || '', url: info.main_url, username: user, password: pass, onvif: { url: d.url } };
        if (info.sub_url) cam.sub_url = info.sub_url;
        const put = await fetch(form.closest('.cam-box') ? boxURL(form.closest('.cam-box').dataset.box) + '/cameras/' + encodeURIComponent(id) : '', {
          method: 'PUT',
          headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
          body: JSON.stringify(cam)
        });
        if (!put.ok) throw new Error('put: ' + put.status);
        window.location.reload();
      } catch (err) {
        st.textContent = t.tAddFailed;
        st.title = String(err);
      }
    });
    return li;
  }

  // Leaving the page ends every viewing, so the box frees its viewer
  // places and uplink at once instead of waiting for ICE to time out.
  window.addEventListener('pagehide', function () {
    Array.from(watching).forEach(function (s) { stop(s, '', true); });
  });

  root.querySelectorAll('.cam-box').forEach(function (sec) {
    loadBox(sec);
    discovery(sec);
  });
})();
