// What an official reads when a call to the API fails: the sentence for
// the answer's code, from #error-codes (rendered by the server in the
// official's language), never the API's English message, which goes to
// the element's title for engineers. Page scripts use window.dalaba:
//
//   const p = await dalaba.problem(resp);   // {status, code, message, fields}
//   dalaba.show(el, p, {labels: {name: 'Name'}, over: {'box.refused': '…'}});
(function () {
  'use strict';
  const list = document.getElementById('error-codes');

  function sentence(code) {
    if (!list) {
      return '';
    }
    const all = list.querySelectorAll('li');
    let unknown = '';
    for (let i = 0; i < all.length; i++) {
      if (all[i].dataset.code === code) {
        return all[i].textContent;
      }
      if (all[i].dataset.code === '') {
        unknown = all[i].textContent;
      }
    }
    return unknown;
  }

  // problem reads a failed answer; one that is not the API's JSON (a
  // proxy's error page, a network failure) has no code.
  async function problem(resp) {
    let data = null;
    try {
      data = await resp.json();
    } catch (e) {
      data = null;
    }
    return fromData(resp.status, data);
  }

  function fromData(status, data) {
    const d = data && typeof data === 'object' ? data : {};
    return {
      status: status,
      code: typeof d.code === 'string' ? d.code : '',
      message: typeof d.error === 'string' ? d.error : String(status),
      fields: Array.isArray(d.fields) ? d.fields : [],
    };
  }

  // fromResult is a command's result the box refused (ok false) as a
  // problem: box.refused, with the box's own words as the message.
  function fromResult(res) {
    return fromData(200, { code: 'box.refused', error: (res && res.error) || '' });
  }

  // lastName is the last name of a JSON path: "name" of
  // "broadcast.schedules[2].name".
  function lastName(path) {
    const parts = String(path || '').replace(/\[\d+\]/g, '').split('.');
    return parts[parts.length - 1];
  }

  // explain is the sentence for p: the page's own for its code (opts.over)
  // or the code's, then which of the form's fields to check (opts.labels:
  // the last name of a field's path → the field's label).
  function explain(p, opts) {
    const o = opts || {};
    let s = (o.over && o.over[p.code]) || sentence(p.code);
    const labels = o.labels || {};
    const names = [];
    (p.fields || []).forEach(function (f) {
      const l = labels[lastName(f.path)];
      if (l && names.indexOf(l) < 0) {
        names.push(l);
      }
    });
    if (names.length && list) {
      s += ' ' + list.dataset.check.split('{x}').join(names.join(list.dataset.sep));
    }
    return s;
  }

  // show puts p's sentence into el as its text, the API's message as its
  // title and the code as data-code.
  function show(el, p, opts) {
    if (!el) {
      return;
    }
    el.textContent = explain(p, opts);
    el.title = p.message || '';
    el.dataset.code = p.code;
  }

  window.dalaba = { problem: problem, fromData: fromData, fromResult: fromResult, explain: explain, show: show };
})();
