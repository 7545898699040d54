// The broadcast page: a village's clip library, announcements spoken by
// the township's TTS, schedules and the calendar of their playbacks,
// play and stop now, and emergency broadcasts to several villages. All of
// it goes through the API bridge (/ui/api/…), which checks the session,
// the CSRF token and the role; the words come from data- attributes of
// #broadcast, rendered by the server in the official's language.
(function () {
  'use strict';
  const root = document.getElementById('broadcast');
  if (!root) {
    return;
  }
  const T = root.dataset;
  const box = T.box;
  const defaultZone = T.zone;
  const canManage = T.manage === 'true';
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const zh = document.documentElement.lang.indexOf('zh') === 0;
  const listSep = zh ? '、' : ', ';

  let clips = []; // the library, newest first
  let plan = {};  // the box's protocol.Broadcast

  function $(id) { return document.getElementById(id); }

  // fill puts x (and d) where a message has {x} ({d}).
  function fill(msg, x, d) {
    return msg.split('{x}').join(x).split('{d}').join(d === undefined ? '' : d);
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  // api calls /api/v1/<path> through the bridge; a non-2xx answer throws
  // an Error carrying the answer's problem (errors.js).
  async function api(method, path, body) {
    const init = { method: method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (method !== 'GET') {
      init.headers['X-CSRF-Token'] = csrf;
    }
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const resp = await fetch('/ui/api/' + path, init);
    if (!resp.ok) {
      const p = await dalaba.problem(resp);
      const err = new Error(p.message);
      err.problem = p;
      throw err;
    }
    try {
      return await resp.json();
    } catch (e) {
      return null; // an empty answer
    }
  }

  function boxPath(rest) { return 'boxes/' + encodeURIComponent(box) + '/' + rest; }

  // problemOf is the problem of a failed call: the API's answer, or a
  // network failure (no code).
  function problemOf(err) {
    return err.problem || dalaba.fromData(0, { error: String(err) });
  }

  // fieldLabels name the schedule form's fields by the last name of the
  // paths the API's problems give.
  const fieldLabels = {
    name: T.tLName, media: T.tLClip, zones: T.tLZones, rule: T.tLRule, priority: T.tLPriority,
  };

  function say(node, text, kind) {
    if (!node) { return; }
    node.textContent = text;
    node.title = '';
    delete node.dataset.code;
    node.className = 'status' + (kind ? ' ' + kind : '');
  }

  // sayFailed shows what the official reads for a failed call.
  function sayFailed(node, err) {
    if (!node) { return; }
    dalaba.show(node, problemOf(err), { labels: fieldLabels });
    node.className = 'status error';
  }

  // refusal is a command the box answered with ok false, as a problem.
  function refusal(res) {
    return dalaba.fromResult(res);
  }

  function clipName(sha) {
    const c = clips.find(function (x) { return x.sha256 === sha; });
    return c ? c.name : sha.slice(0, 8);
  }

  function zoneName(id) {
    const z = (plan.zones || []).find(function (x) { return x.id === id; });
    return z && z.name ? z.name : id;
  }

  function zonesText(ids) {
    return ids && ids.length ? ids.map(zoneName).join(listSep) : T.tEveryZone;
  }

  function seconds(ms) { return fill(T.tSeconds, (ms / 1000).toFixed(1)); }

  // --- clips -----------------------------------------------------------

  const audio = $('bc-audio');

  function listen(sha) {
    audio.src = '/ui/api/media/' + encodeURIComponent(sha);
    audio.play().catch(function () {
      // Autoplay refused: the controls are there to press play.
    });
  }

  function renderLibrary() {
    const ul = $('bc-library');
    if (!ul) { return; }
    const frag = document.createDocumentFragment();
    if (clips.length === 0) {
      frag.appendChild(el('li', 'muted', T.tNoClips));
    }
    clips.forEach(function (c) {
      const li = el('li');
      li.dataset.sha = c.sha256;
      li.appendChild(el('span', 'name', c.name));
      li.appendChild(el('span', 'muted', seconds(c.duration_ms)));
      const b = el('button', 'secondary small', T.tListen);
      b.type = 'button';
      b.addEventListener('click', function () { listen(c.sha256); });
      li.appendChild(b);
      frag.appendChild(li);
    });
    ul.replaceChildren(frag);
  }

  // fillClipSelects lists the library in every clip picker, choosing pick
  // (a clip just made) or keeping each one's choice. The emergency picker
  // keeps a choice already made: what reaches every village at once must
  // not change under the official's hand.
  function fillClipSelects(pick) {
    document.querySelectorAll('select.bc-clip-select').forEach(function (sel) {
      const keep = sel.id === 'bc-em-clip' ? sel.value || pick : pick || sel.value;
      const frag = document.createDocumentFragment();
      clips.forEach(function (c) {
        const o = el('option', '', c.name + ' (' + seconds(c.duration_ms) + ')');
        o.value = c.sha256;
        frag.appendChild(o);
      });
      sel.replaceChildren(frag);
      if (keep && clips.some(function (c) { return c.sha256 === keep; })) {
        sel.value = keep;
      }
    });
  }

  async function loadClips(pick) {
    clips = await api('GET', 'media');
    renderLibrary();
    fillClipSelects(pick);
  }

  function setupAnnounce() {
    const form = $('bc-speak-form');
    const status = $('bc-speak-status');
    if (form) {
      form.addEventListener('submit', async function (e) {
        e.preventDefault();
        const text = $('bc-text').value.trim();
        if (!text) {
          say(status, T.tNoText, 'error');
          return;
        }
        // The clip's name: what was typed, or the start of the text.
        const name = $('bc-clip-name').value.trim() || Array.from(text.replace(/\s+/g, ' ')).slice(0, 24).join('');
        const btn = $('bc-preview');
        btn.disabled = true;
        say(status, T.tSpeaking, '');
        try {
          const clip = await api('POST', 'media/speech', { name: name, text: text });
          say(status, fill(T.tSpoken, clip.name), 'ok');
          await loadClips(clip.sha256);
          listen(clip.sha256);
        } catch (err) {
          sayFailed(status, err);
        } finally {
          btn.disabled = false;
        }
      });
    }
    const up = $('bc-upload-form');
    if (up) {
      up.addEventListener('submit', async function (e) {
        e.preventDefault();
        const file = $('bc-file').files[0];
        if (!file) {
          say(status, T.tNoFile, 'error');
          return;
        }
        const body = new FormData();
        body.append('file', file, file.name);
        const btn = $('bc-upload');
        btn.disabled = true;
        say(status, T.tUploading, '');
        try {
          const clip = await api('POST', 'media', body);
          say(status, fill(T.tUploaded, clip.name), 'ok');
          up.reset();
          await loadClips(clip.sha256);
          listen(clip.sha256);
        } catch (err) {
          sayFailed(status, err);
        } finally {
          btn.disabled = false;
        }
      });
    }
  }

  // --- zones and schedules ---------------------------------------------

  function renderZones() {
    const ul = $('bc-zone-list');
    const zones = plan.zones || [];
    const speakers = {};
    (plan.speakers || []).forEach(function (s) { speakers[s.id] = s.name || s.id; });
    const frag = document.createDocumentFragment();
    if (zones.length === 0) {
      frag.appendChild(el('li', 'muted', T.tNoZones));
    }
    zones.forEach(function (z) {
      const li = el('li');
      li.dataset.zone = z.id;
      li.appendChild(el('span', 'name', z.name || z.id));
      li.appendChild(el('span', 'muted', (z.speakers || []).map(function (s) { return speakers[s] || s; }).join(listSep)));
      frag.appendChild(li);
    });
    ul.replaceChildren(frag);
    // The zone pickers of the forms.
    ['bc-sched-zones', 'bc-play-zones'].forEach(function (id) {
      const fs = $(id);
      if (!fs) { return; }
      const ticked = checkedValues(fs);
      fs.querySelectorAll('label').forEach(function (l) { l.remove(); });
      zones.forEach(function (z) {
        const l = el('label', 'check');
        const cb = el('input');
        cb.type = 'checkbox';
        cb.value = z.id;
        cb.checked = ticked.indexOf(z.id) >= 0;
        l.appendChild(cb);
        l.appendChild(document.createTextNode(' ' + (z.name || z.id)));
        fs.appendChild(l);
      });
    });
  }

  function checkedValues(container) {
    return Array.from(container.querySelectorAll('input[type=checkbox]:checked')).map(function (c) { return c.value; });
  }

  function ruleText(r) {
    if (r.once) {
      return fill(T.tRuleOnce, r.once.slice(0, 10) + ' ' + r.once.slice(11, 16));
    }
    const at = (r.at || []).join(listSep);
    const names = T.tWeekdayNames.split(',');
    let s;
    if (r.weekdays && r.weekdays.length) {
      s = fill(T.tRuleWeekly, at, r.weekdays.map(function (w) { return names[w - 1] || w; }).join(listSep));
    } else if (r.month_days && r.month_days.length) {
      s = fill(T.tRuleMonthly, at, r.month_days.map(function (d) { return d === -1 ? T.tLastDay : d; }).join(listSep));
    } else {
      s = fill(T.tRuleDaily, at);
    }
    if (r.start) { s += ' ' + fill(T.tRuleFrom, r.start); }
    if (r.end) { s += ' ' + fill(T.tRuleUntil, r.end); }
    if (r.zone && r.zone !== defaultZone) { s += ' (' + r.zone + ')'; }
    return s;
  }

  function prioText(p) {
    return T['tPrio' + (p || 'scheduled').replace(/^./, function (c) { return c.toUpperCase(); })] || p;
  }

  function renderSchedules() {
    const ul = $('bc-schedules');
    const list = plan.schedules || [];
    const frag = document.createDocumentFragment();
    if (list.length === 0) {
      frag.appendChild(el('li', 'muted', T.tNoSchedules));
    }
    list.forEach(function (s) {
      const li = el('li', 'bc-schedule');
      li.dataset.schedule = s.id;
      const what = el('div', 'what');
      what.appendChild(el('span', 'name', s.name || s.id));
      what.appendChild(el('span', 'rule', ruleText(s.rule || {})));
      li.appendChild(what);
      li.appendChild(el('div', 'muted', [
        zonesText(s.zones), (s.media || []).map(clipName).join(listSep), prioText(s.priority),
      ].join(' · ')));
      if (canManage) {
        li.appendChild(deleteButton(s.id));
      }
      frag.appendChild(li);
    });
    ul.replaceChildren(frag);
  }

  // deleteButton asks once more before deleting: a stray tap on a phone
  // must not take a village's schedule away.
  function deleteButton(id) {
    const b = el('button', 'secondary small bc-delete', T.tDelete);
    b.type = 'button';
    let timer = 0;
    b.addEventListener('click', async function () {
      const status = $('bc-schedules-status');
      if (!b.classList.contains('armed')) {
        b.classList.add('armed');
        b.textContent = T.tConfirmDel;
        timer = window.setTimeout(function () {
          b.classList.remove('armed');
          b.textContent = T.tDelete;
        }, 5000);
        return;
      }
      window.clearTimeout(timer);
      b.disabled = true;
      try {
        await api('DELETE', boxPath('schedules/' + encodeURIComponent(id)));
        say(status, T.tDeleted, 'ok');
        await refreshPlan();
      } catch (err) {
        sayFailed(status, err);
        b.disabled = false;
      }
    });
    return b;
  }

  // --- time zones ------------------------------------------------------

  // parts reads the wall clock of instant ms in zone.
  function parts(zone, ms) {
    const f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    const o = {};
    f.formatToParts(new Date(ms)).forEach(function (p) { o[p.type] = p.value; });
    return o;
  }

  function dateIn(zone, ms) {
    const p = parts(zone, ms);
    return p.year + '-' + p.month + '-' + p.day;
  }

  // offsetMin is zone's offset from UTC at instant ms, in minutes.
  function offsetMin(zone, ms) {
    const p = parts(zone, ms);
    return Math.round((Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - ms) / 60000);
  }

  function pad(n) { return (n < 10 ? '0' : '') + n; }

  // instant writes a datetime-local value, a wall time in zone, as RFC
  // 3339 with the zone's offset then, as a once rule wants it.
  function instant(local, zone) {
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(local);
    if (!m) { return ''; }
    const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
    let off = offsetMin(zone, wall);
    off = offsetMin(zone, wall - off * 60000); // once more, near a change of offset
    const a = Math.abs(off);
    return m[1] + '-' + m[2] + '-' + m[3] + 'T' + m[4] + ':' + m[5] + ':00' +
      (off < 0 ? '-' : '+') + pad(Math.floor(a / 60)) + ':' + pad(a % 60);
  }

  function nextDate(d) {
    const t = new Date(Date.UTC(+d.slice(0, 4), +d.slice(5, 7) - 1, +d.slice(8, 10) + 1, 12));
    return t.toISOString().slice(0, 10);
  }

  function dayLabel(d) {
    const t = new Date(Date.UTC(+d.slice(0, 4), +d.slice(5, 7) - 1, +d.slice(8, 10), 12));
    return new Intl.DateTimeFormat(document.documentElement.lang, {
      timeZone: 'UTC', weekday: 'short', month: 'numeric', day: 'numeric',
    }).format(t);
  }

  function villageZone() { return plan.tz || defaultZone; }

  // --- the schedule form -----------------------------------------------

  function setupScheduleForm() {
    const form = $('bc-sched-form');
    if (!form) { return; }
    const kind = $('bc-sched-kind');
    const days = $('bc-sched-days');
    T.tWeekdayNames.split(',').forEach(function (n, i) {
      const l = el('label', 'check');
      const cb = el('input');
      cb.type = 'checkbox';
      cb.value = String(i + 1);
      l.appendChild(cb);
      l.appendChild(document.createTextNode(' ' + n));
      days.appendChild(l);
    });
    function show() {
      $('bc-sched-at').hidden = kind.value === 'once';
      days.hidden = kind.value !== 'weekly';
      $('bc-sched-once-row').hidden = kind.value !== 'once';
    }
    kind.addEventListener('change', show);
    show();

    const status = $('bc-sched-status');
    form.addEventListener('submit', async function (e) {
      e.preventDefault();
      const clip = $('bc-sched-clip').value;
      if (!clip) {
        say(status, T.tChooseClip, 'error');
        return;
      }
      const rule = {};
      if (kind.value === 'once') {
        rule.once = instant($('bc-sched-once').value, villageZone());
        if (!rule.once) {
          say(status, T.tNeedTime, 'error');
          return;
        }
      } else {
        const at = $('bc-sched-time').value;
        if (!at) {
          say(status, T.tNeedTime, 'error');
          return;
        }
        rule.at = [at];
        if (kind.value === 'weekly') {
          rule.weekdays = checkedValues(days).map(Number);
          if (rule.weekdays.length === 0) {
            say(status, T.tNeedDays, 'error');
            return;
          }
        }
      }
      if (plan.tz && plan.tz !== defaultZone) {
        rule.zone = plan.tz; // read the times where the village is
      }
      // Ids are for machines (a-z, 0-9, '-'); the name is the official's.
      const id = 's-' + Date.now().toString(36);
      const body = {
        id: id, name: $('bc-sched-name').value.trim(), media: [clip],
        zones: checkedValues($('bc-sched-zones')), rule: rule, priority: $('bc-sched-prio').value,
      };
      const btn = $('bc-sched-add');
      btn.disabled = true;
      say(status, T.tSending, '');
      try {
        await api('PUT', boxPath('schedules/' + id), body);
        say(status, T.tAdded, 'ok');
        $('bc-sched-name').value = '';
        await refreshPlan();
      } catch (err) {
        sayFailed(status, err);
      } finally {
        btn.disabled = false;
      }
    });
  }

  // --- the calendar ----------------------------------------------------

  function renderCalendar(u) {
    const zone = villageZone();
    const byDay = new Map();
    const last = dateIn(zone, Date.parse(u.to));
    let d = dateIn(zone, Date.parse(u.from));
    for (let i = 0; i < 40 && d <= last; i++, d = nextDate(d)) {
      byDay.set(d, []);
    }
    (u.items || []).forEach(function (it) {
      // The instant as written is in the rule's zone: its wall time is
      // the village's, whatever zone the browser is in.
      const day = it.at.slice(0, 10);
      if (!byDay.has(day)) { byDay.set(day, []); }
      byDay.get(day).push(it);
    });
    const frag = document.createDocumentFragment();
    Array.from(byDay.keys()).sort().forEach(function (day, i) {
      const items = byDay.get(day);
      const col = el('div', 'bc-day' + (items.length ? '' : ' empty') + (i === 0 ? ' today' : ''));
      col.dataset.date = day;
      col.appendChild(el('h3', '', dayLabel(day)));
      const ol = el('ol');
      if (items.length === 0) {
        ol.appendChild(el('li', 'muted', T.tNothing));
      }
      items.forEach(function (it) {
        const li = el('li', 'bc-item' + (it.quiet ? ' quiet' : '') + (it.priority === 'background' ? ' background' : ''));
        li.dataset.date = day;
        li.dataset.time = it.at.slice(11, 16);
        li.dataset.schedule = it.schedule_id;
        const tm = el('time', 'at', it.at.slice(11, 16));
        tm.dateTime = it.at;
        li.appendChild(tm);
        li.appendChild(el('span', 'what', it.name || (it.media || []).map(clipName).join(listSep) || it.schedule_id));
        li.appendChild(el('span', 'zones muted', zonesText(it.zones)));
        if (it.quiet) {
          li.appendChild(el('span', 'flag', T.tQuiet));
        }
        ol.appendChild(li);
      });
      col.appendChild(ol);
      frag.appendChild(col);
    });
    $('bc-calendar').replaceChildren(frag);
    $('bc-truncated').hidden = !u.truncated;
  }

  async function loadCalendar() {
    const status = $('bc-calendar-status');
    try {
      renderCalendar(await api('GET', boxPath('upcoming?days=7')));
      say(status, '', '');
    } catch (err) {
      sayFailed(status, err);
    }
  }

  async function refreshPlan() {
    const p = await api('GET', boxPath('broadcast'));
    plan = p.broadcast || {};
    renderZones();
    renderSchedules();
    await loadCalendar();
  }

  // --- play and stop now -----------------------------------------------

  function setupPlay() {
    const form = $('bc-play-form');
    if (!form) { return; }
    const status = $('bc-play-status');
    // outcome reads a command's answer: the box may refuse (ok false).
    function outcome(res, done) {
      if (res && res.ok === false) {
        dalaba.show(status, refusal(res));
        status.className = 'status error';
      } else {
        say(status, done, 'ok');
      }
    }
    form.addEventListener('submit', async function (e) {
      e.preventDefault();
      const clip = $('bc-play-clip').value;
      if (!clip) {
        say(status, T.tChooseClip, 'error');
        return;
      }
      const args = {
        media: [clip], zones: checkedValues($('bc-play-zones')), priority: $('bc-play-prio').value,
        repeat: Number($('bc-play-repeat').value) || 1, name: clipName(clip),
      };
      say(status, T.tSending, '');
      try {
        outcome(await api('POST', boxPath('play'), args), T.tPlayed);
      } catch (err) {
        sayFailed(status, err);
      }
    });
    $('bc-stop').addEventListener('click', async function () {
      say(status, T.tSending, '');
      try {
        outcome(await api('POST', boxPath('stop'), { zones: checkedValues($('bc-play-zones')) }), T.tStopped);
      } catch (err) {
        sayFailed(status, err);
      }
    });
  }

  // --- emergency broadcast to several villages -------------------------

  function setupEmergency() {
    const form = $('bc-em-form');
    if (!form) { return; }
    const btn = $('bc-em-send');
    const status = $('bc-em-status');
    let timer = 0;
    function disarm() {
      btn.classList.remove('armed');
      btn.textContent = T.tEmergSend;
    }
    form.addEventListener('submit', async function (e) {
      e.preventDefault();
      const boxes = Array.from(form.querySelectorAll('input[name=village]:checked'));
      const clip = $('bc-em-clip').value;
      if (boxes.length === 0) {
        say(status, T.tNoneChosen, 'error');
        return;
      }
      if (!clip) {
        say(status, T.tChooseClip, 'error');
        return;
      }
      // A second press confirms: an emergency interrupts whole villages.
      if (!btn.classList.contains('armed')) {
        btn.classList.add('armed');
        btn.textContent = T.tEmergConfirm;
        timer = window.setTimeout(disarm, 8000);
        return;
      }
      window.clearTimeout(timer);
      disarm();
      btn.disabled = true;
      say(status, T.tSending, '');
      const ul = $('bc-em-results');
      const args = {
        media: [clip], priority: 'emergency', repeat: Number($('bc-em-repeat').value) || 1, name: clipName(clip),
      };
      ul.replaceChildren();
      // One play per village, all at once: an offline box holds its own
      // answer for the command timeout, not the others'.
      await Promise.all(boxes.map(async function (cb) {
        const li = el('li', 'pending');
        li.dataset.box = cb.value;
        li.appendChild(el('span', 'name', cb.dataset.name));
        const res = el('span', 'result', T.tSending);
        li.appendChild(res);
        ul.appendChild(li);
        let result = 'delivered';
        let p = null;
        try {
          const r = await api('POST', 'boxes/' + encodeURIComponent(cb.value) + '/play', args);
          if (r && r.ok === false) {
            result = 'failed';
            p = refusal(r);
          }
        } catch (err) {
          p = problemOf(err);
          result = p.code === 'box.no_answer' ? 'not-delivered' : 'failed';
        }
        li.dataset.result = result;
        li.className = result === 'delivered' ? 'ok' : 'bad';
        if (p) {
          dalaba.show(res, p);
        } else {
          res.textContent = T.tDelivered;
        }
      }));
      say(status, '', '');
      btn.disabled = false;
    });
  }

  // --- start -----------------------------------------------------------

  if ($('bc-village')) {
    $('bc-village').addEventListener('change', function () { $('bc-pick').submit(); });
  }
  setupAnnounce();
  setupScheduleForm();
  setupPlay();
  setupEmergency();
  (async function () {
    try {
      await loadClips();
      if (box) {
        await refreshPlan();
      }
    } catch (err) {
      sayFailed($('bc-schedules-status') || $('bc-em-status'), err);
    }
  })();
})();
