// Live paging (喊话): the microphone goes to the box over WebRTC. Only
// G.711 is offered, so the box can forward the frames to its horns as
// they are; the offer is sent once ICE gathering is complete (the box
// does not trickle).
(function () {
  "use strict";
  const root = document.getElementById("paging");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const boxSel = document.getElementById("paging-box");
  const zonesBox = document.getElementById("paging-zones");
  const startBtn = document.getElementById("paging-start");
  const stopBtn = document.getElementById("paging-stop");
  const statusEl = document.getElementById("paging-status");
  const level = document.getElementById("paging-level");
  const clock = document.getElementById("paging-clock");
  const text = root.dataset;

  let call = null; // {pc, stream, location, audio, timer}

  // status shows the call's state; detail (for engineers) goes to the
  // title, never into what the official reads.
  function status(state, msg, detail) {
    statusEl.dataset.state = state;
    statusEl.textContent = msg;
    statusEl.title = detail || "";
    delete statusEl.dataset.code;
  }

  // refused shows a failed answer of the API (errors.js).
  function refused(p) {
    status("failed", "");
    dalaba.show(statusEl, p);
  }

  // apiFailure is thrown for an answer of the API other than the one
  // expected, carrying its problem.
  function apiFailure(p) {
    const e = new Error(p.message);
    e.problem = p;
    return e;
  }

  function showZones(zones) {
    zonesBox.querySelectorAll("label, p").forEach(function (n) { n.remove(); });
    if (!zones.length) {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = text.nozones;
      zonesBox.appendChild(p);
      return;
    }
    zones.forEach(function (z) {
      const l = document.createElement("label");
      const cb = document.createElement("input");
      cb.type = "checkbox";
      cb.name = "zone";
      cb.value = z.id;
      cb.checked = true;
      l.appendChild(cb);
      l.appendChild(document.createTextNode(z.name || z.id));
      zonesBox.appendChild(l);
    });
  }

  async function loadZones() {
    const box = boxSel.value;
    if (!box) {
      showZones([]);
      return;
    }
    const resp = await fetch("/ui/api/boxes/" + encodeURIComponent(box) + "/broadcast", { headers: { Accept: "application/json" } });
    if (!resp.ok) {
      refused(await dalaba.problem(resp));
      return;
    }
    const plan = await resp.json();
    showZones(((plan.broadcast && plan.broadcast.zones) || []).map(function (z) { return { id: z.id, name: z.name }; }));
  }

  function gathered(pc) {
    if (pc.iceGatheringState === "complete") {
      return Promise.resolve();
    }
    return new Promise(function (resolve) {
      const done = function () {
        if (pc.iceGatheringState === "complete") {
          pc.removeEventListener("icegatheringstatechange", done);
          resolve();
        }
      };
      pc.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, 3000); // go with what has been gathered
    });
  }

  function meter(stream) {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) {
      return null;
    }
    const ac = new Ctx();
    const an = ac.createAnalyser();
    an.fftSize = 512;
    ac.createMediaStreamSource(stream).connect(an);
    const buf = new Float32Array(an.fftSize);
    const tick = function () {
      if (ac.state === "closed") {
        return;
      }
      an.getFloatTimeDomainData(buf);
      let sum = 0;
      for (let i = 0; i < buf.length; i++) {
        sum += buf[i] * buf[i];
      }
      level.value = Math.min(1, Math.sqrt(sum / buf.length) * 4);
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
    return ac;
  }

  function hangUp(state, msg, detail) {
    if (!call) {
      return;
    }
    const c = call;
    call = null;
    if (c.location) {
      fetch(c.location, { method: "DELETE", headers: { "X-CSRF-Token": csrf }, keepalive: true }).catch(function () {});
    }
    c.pc.close();
    c.stream.getTracks().forEach(function (t) { t.stop(); });
    if (c.audio) {
      c.audio.close();
    }
    clearInterval(c.timer);
    level.value = 0;
    startBtn.disabled = false;
    stopBtn.disabled = true;
    status(state, msg, detail);
  }

  async function start() {
    const box = boxSel.value;
    if (!box) {
      status("failed", text.choosebox);
      return;
    }
    if (!navigator.mediaDevices || !window.RTCPeerConnection) {
      status("failed", text.needstls);
      return;
    }
    const zones = Array.from(zonesBox.querySelectorAll('input[name="zone"]:checked')).map(function (cb) { return cb.value; });
    startBtn.disabled = true;
    status("dialing", text.dialing);
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
    } catch (e) {
      startBtn.disabled = false;
      status("failed", text.nomic, String(e));
      return;
    }
    const pc = new RTCPeerConnection();
    call = { pc: pc, stream: stream, location: "", audio: meter(stream), timer: 0 };
    try {
      const tr = pc.addTransceiver(stream.getAudioTracks()[0], { direction: "sendonly", streams: [stream] });
      const caps = RTCRtpSender.getCapabilities ? RTCRtpSender.getCapabilities("audio") : null;
      const g711 = caps ? caps.codecs.filter(function (c) { return /^audio\/(PCMA|PCMU)$/i.test(c.mimeType); }) : [];
      if (!g711.length || !tr.setCodecPreferences) {
        hangUp("failed", text.nog711);
        return;
      }
      // A-law first: the horns of Chinese paging systems take PCMA.
      g711.sort(function (a, b) { return (a.mimeType.toUpperCase() === "AUDIO/PCMA" ? 0 : 1) - (b.mimeType.toUpperCase() === "AUDIO/PCMA" ? 0 : 1); });
      tr.setCodecPreferences(g711);
      pc.addEventListener("connectionstatechange", function () {
        if (!call || call.pc !== pc) {
          return;
        }
        if (pc.connectionState === "connected") {
          status("onair", text.air + " (" + (call.codec || "G.711") + ")");
          stopBtn.disabled = false;
          const t0 = Date.now();
          call.timer = setInterval(function () {
            const s = Math.floor((Date.now() - t0) / 1000);
            clock.textContent = Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
          }, 500);
        } else if (pc.connectionState === "failed" || pc.connectionState === "closed") {
          hangUp("failed", text.failed, "connection " + pc.connectionState);
        }
      });
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      let url = "/ui/api/boxes/" + encodeURIComponent(box) + "/paging";
      if (zones.length) {
        url += "?zones=" + zones.map(encodeURIComponent).join(",");
      }
      const resp = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/sdp", "X-CSRF-Token": csrf, Accept: "application/json" },
        body: pc.localDescription.sdp,
      });
      if (resp.status !== 201) {
        throw apiFailure(await dalaba.problem(resp));
      }
      call.location = (resp.headers.get("Location") || "").replace(/^\/api\/v1\//, "/ui/api/");
      call.codec = resp.headers.get("X-Paging-Codec") || "";
      await pc.setRemoteDescription({ type: "answer", sdp: await resp.text() });
      stopBtn.disabled = false;
    } catch (e) {
      hangUp("failed", text.failed, String(e));
      if (e.problem) {
        refused(e.problem);
      }
    }
  }

  boxSel.addEventListener("change", function () { loadZones().catch(function (e) { status("failed", text.failed, String(e)); }); });
  if (startBtn) {
    startBtn.addEventListener("click", start);
    stopBtn.addEventListener("click", function () { hangUp("ended", text.ended); });
  }
  window.addEventListener("pagehide", function () { hangUp("ended", text.ended); });
})();
