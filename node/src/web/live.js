// Kith's page script, a small help on top of a page that works without it: it moves focus
// to a form's problems, shows "Print" buttons, and follows the node's event stream to
// refresh the parts of a page marked data-live (never under the reader's keyboard focus:
// then it offers a "Show it" button instead). Plain ES5, for old tablets.
(function () {
  'use strict';

  var problems = document.getElementById('problems');
  if (problems) {
    problems.focus();
  }

  var prints = document.querySelectorAll('[data-print]');
  for (var i = 0; i < prints.length; i++) {
    prints[i].hidden = false;
    prints[i].addEventListener('click', function () { window.print(); });
  }
  var hides = document.querySelectorAll('.js-hide');
  for (var j = 0; j < hides.length; j++) {
    hides[j].hidden = true;
  }

  // Browser notifications of new "For you" items: off unless the reader turns them on here.
  var notify = document.getElementById('notify-toggle');
  var canNotify = !!window.Notification && !!window.localStorage;
  function notifying() {
    return canNotify && window.localStorage.getItem('kith-notify') === 'on' && Notification.permission === 'granted';
  }
  if (notify && canNotify) {
    notify.hidden = false;
    var label = function () {
      notify.textContent = notifying() ? 'Stop notifications on this computer' : 'Show a notification when something new arrives';
    };
    label();
    notify.addEventListener('click', function () {
      if (notifying()) {
        window.localStorage.setItem('kith-notify', 'off');
        label();
        return;
      }
      Notification.requestPermission().then(function (answer) {
        window.localStorage.setItem('kith-notify', answer === 'granted' ? 'on' : 'off');
        label();
      });
    });
  }

  if (!window.EventSource || !window.fetch || !window.DOMParser) {
    return;
  }
  var regions = document.querySelectorAll('[data-live]');
  var news = document.getElementById('live-news');
  if (!regions.length || !news) {
    return;
  }

  var timer = null;
  var busy = false;
  var again = false;
  var held = [];

  function focusInside(element) {
    var active = document.activeElement;
    return active && active !== document.body && element.contains(active);
  }

  function say(text) {
    news.textContent = '';
    var p = document.createElement('p');
    p.textContent = text;
    news.appendChild(p);
  }

  function mark(element) {
    element.classList.remove('fresh');
    void element.offsetWidth;
    element.classList.add('fresh');
  }

  function showHeld() {
    var first = null;
    for (var k = 0; k < held.length; k++) {
      held[k][0].innerHTML = held[k][1];
      mark(held[k][0]);
      if (!first) { first = held[k][0]; }
    }
    held = [];
    news.textContent = '';
    if (first) {
      first.setAttribute('tabindex', '-1');
      first.focus();
    }
  }

  function offer(messages) {
    news.textContent = '';
    var p = document.createElement('p');
    p.appendChild(document.createTextNode(messages.join(' ') + ' '));
    var button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Show it';
    button.addEventListener('click', showHeld);
    p.appendChild(button);
    news.appendChild(p);
  }

  function unread(element) {
    var found = element.textContent.match(/\((\d+) new\)/);
    return found ? parseInt(found[1], 10) : 0;
  }

  function apply(text) {
    var doc = new DOMParser().parseFromString(text, 'text/html');
    var changed = [];
    var waiting = [];
    for (var k = 0; k < regions.length; k++) {
      var region = regions[k];
      var fresh = region.id ? doc.getElementById(region.id) : null;
      if (!fresh || fresh.innerHTML === region.innerHTML) {
        continue;
      }
      var message = region.getAttribute('data-live');
      if (region.id === 'inbox-count' && notifying() && unread(fresh) > unread(region)) {
        try { new Notification('Kith', { body: fresh.textContent.replace(/\s+/g, ' ').trim() }); } catch (e) {}
      }
      if (focusInside(region)) {
        held.push([region, fresh.innerHTML]);
        if (message) { waiting.push(message); }
      } else {
        region.innerHTML = fresh.innerHTML;
        if (message) { changed.push(message); mark(region); }
      }
    }
    if (held.length) {
      offer(waiting.length ? waiting : ['Something new arrived.']);
    } else if (changed.length) {
      say(changed.join(' '));
    }
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(window.location.href, { credentials: 'same-origin', headers: { 'X-Kith-Live': '1' } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (text) { if (text) { apply(text); } })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) { again = false; schedule(); }
      });
  }

  function schedule() {
    if (timer) { window.clearTimeout(timer); }
    timer = window.setTimeout(refresh, 300);
  }

  var source = new EventSource('/events');
  source.addEventListener('entry', schedule);
  source.addEventListener('peer', schedule);
  window.addEventListener('pagehide', function () { source.close(); });
})();
