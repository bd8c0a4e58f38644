// calpush dashboard: the little script that makes a server-rendered page live. Without it every page still works
// (numbers as of when the page was made, forms that post and come back). With it:
// - the page follows its server-sent events stream (<body data-live="/live?…">) and puts each value of an update
//   into the element that names it: data-field (a value), data-list (a table body), data-meter (a <progress>);
// - the mailbox actions (<form data-action>) are sent in the background and their answer shown in the notice.
// Values are only ever set as text (textContent) and links only to paths of this site: nothing from an update is
// parsed as HTML.
'use strict';

(function () {
  var BADGE = /^[a-z-]+$/;

  function cell(value) {
    if (value.href && value.href.charAt(0) === '/' && value.href.charAt(1) !== '/') {
      var link = document.createElement('a');
      link.href = value.href;
      link.textContent = value.text;
      return link;
    }
    if (value.badge && BADGE.test(value.badge)) {
      var badge = document.createElement('span');
      badge.className = 'badge badge-' + value.badge;
      badge.textContent = value.text;
      return badge;
    }
    return document.createTextNode(value.text);
  }

  function setField(element, value) {
    element.replaceChildren(cell(value));
  }

  function setList(body, rows) {
    var columns = Number(body.getAttribute('data-columns')) || 1;
    var fresh = [];
    if (!rows.length) {
      var empty = document.createElement('tr');
      var td = document.createElement('td');
      td.colSpan = columns;
      td.textContent = body.getAttribute('data-empty') || '';
      empty.appendChild(td);
      fresh.push(empty);
    }
    rows.forEach(function (row) {
      var tr = document.createElement('tr');
      row.forEach(function (value) {
        var td = document.createElement('td');
        td.appendChild(cell(value));
        tr.appendChild(td);
      });
      fresh.push(tr);
    });
    body.replaceChildren.apply(body, fresh);
  }

  function apply(update) {
    document.querySelectorAll('[data-field]').forEach(function (element) {
      var value = update.fields && update.fields[element.getAttribute('data-field')];
      if (value) setField(element, value);
    });
    document.querySelectorAll('[data-list]').forEach(function (body) {
      var rows = update.lists && update.lists[body.getAttribute('data-list')];
      if (rows) setList(body, rows);
    });
    document.querySelectorAll('progress[data-meter]').forEach(function (element) {
      var meter = update.meters && update.meters[element.getAttribute('data-meter')];
      if (!meter) return;
      element.max = meter.max;
      element.value = meter.value;
      element.textContent = meter.value + ' of ' + meter.max;
    });
  }

  function follow(url) {
    var status = document.getElementById('live-status');
    var say = function (text) {
      if (status) status.textContent = text;
    };
    if (!('EventSource' in window)) return;
    var source = new EventSource(url);
    source.addEventListener('open', function () {
      say('Live: updated as things change.');
    });
    source.addEventListener('update', function (event) {
      apply(JSON.parse(event.data));
      say('Live: updated ' + new Date().toLocaleTimeString() + '.');
    });
    source.addEventListener('signed-out', function () {
      source.close();
      window.location.assign('/sign-in?next=' + encodeURIComponent(window.location.pathname + window.location.search));
    });
    source.addEventListener('error', function () {
      say('Live updates interrupted; trying again.');
    });
  }

  function enhanceActions() {
    var notice = document.getElementById('notice');
    document.querySelectorAll('form[data-action]').forEach(function (form) {
      form.addEventListener('submit', function (event) {
        event.preventDefault();
        var button = form.querySelector('button');
        if (button) button.disabled = true;
        fetch(form.action, {
          method: 'POST',
          headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams(new FormData(form)).toString(),
          credentials: 'same-origin',
        })
          .then(function (response) {
            if (response.status === 401) {
              window.location.assign('/sign-in');
              return null;
            }
            return response.ok ? response.json() : { notice: 'That did not work (HTTP ' + response.status + '); reload the page and try again.' };
          })
          .then(function (answer) {
            if (!answer || !notice) return;
            notice.textContent = answer.notice;
            notice.hidden = false;
          })
          .catch(function () {
            if (notice) {
              notice.textContent = 'calpush did not answer; try again.';
              notice.hidden = false;
            }
          })
          .finally(function () {
            if (button) button.disabled = false;
          });
      });
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    var live = document.body.getAttribute('data-live');
    if (live && live.charAt(0) === '/') follow(live);
    enhanceActions();
  });
})();
