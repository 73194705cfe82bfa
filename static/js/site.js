// The only script: live countdowns and confirm dialogs. Pages work without it.
(function () {
  "use strict";

  // After a countdown reaches zero the beat's sweep makes the refund (within SWEEP_INTERVAL_SECONDS): the page
  // reloads to show it, soon after the moment, then now and then while a request still shows as due.
  var RELOAD_AFTER_ZERO_MS = 4000, RELOAD_WHILE_DUE_MS = 15000;

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function format(seconds, dayLabel) {
    var s = Math.max(0, Math.floor(seconds));
    var days = Math.floor(s / 86400); s -= days * 86400;
    var h = Math.floor(s / 3600); s -= h * 3600;
    var m = Math.floor(s / 60); s -= m * 60;
    var clock = pad(h) + ":" + pad(m) + ":" + pad(s);
    return days ? days + " " + dayLabel + " " + clock : clock;
  }

  function typing() {
    // Never reload away what someone is writing (a retention message, an amount).
    var el = document.activeElement;
    return el && /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName) && el.value;
  }

  function reloadLater(ms) {
    window.setTimeout(function () {
      if (typing()) { reloadLater(ms); } else { window.location.reload(); }
    }, ms);
  }

  function startCountdowns() {
    var nodes = document.querySelectorAll("[data-countdown]");
    if (!nodes.length) return;
    var started = Date.now(), timer = null, reloading = false;
    // Seconds left come from the server, so a wrong clock on the phone does not matter.
    var items = Array.prototype.map.call(nodes, function (node) {
      return { node: node, left: parseInt(node.getAttribute("data-countdown"), 10) || 0,
               label: node.getAttribute("data-day-label") || "d", done: false };
    });
    function finish(item) {
      // At zero: say what happens now instead of a clock stuck at 00:00:00, and drop the "… in" before it.
      item.done = true;
      var line = item.node.closest("[data-countdown-line]");
      if (line) {
        Array.prototype.forEach.call(line.querySelectorAll("[data-countdown-lead]"), function (lead) {
          lead.hidden = true;
        });
      }
      item.node.textContent = item.node.getAttribute("data-done-label") || format(0, item.label);
      item.node.classList.add("countdown-done");
      if (!reloading) {
        reloading = true;
        reloadLater(item.left > 0 ? RELOAD_AFTER_ZERO_MS : RELOAD_WHILE_DUE_MS);
      }
    }
    function tick() {
      var elapsed = (Date.now() - started) / 1000, running = 0;
      items.forEach(function (item) {
        if (item.done) return;
        if (item.left - elapsed <= 0) { finish(item); return; }
        running += 1;
        item.node.textContent = format(item.left - elapsed, item.label);
      });
      if (!running && timer) { window.clearInterval(timer); }
    }
    tick();
    timer = window.setInterval(tick, 1000);
  }

  function confirmDialogs() {
    // One dialog per action: a double click queues a second click behind the (modal) first dialog, so a button
    // whose dialog is open, or whose form is on its way, ignores clicks; it is disabled once its form is sent.
    document.addEventListener("click", function (event) {
      var button = event.target.closest("[data-confirm]");
      if (!button) return;
      if (button.getAttribute("data-busy")) { event.preventDefault(); return; }
      button.setAttribute("data-busy", "1");
      button.setAttribute("aria-disabled", "true");
      if (window.confirm(button.getAttribute("data-confirm"))) {
        if (button.form) {
          button.form.addEventListener("submit", function () {
            window.setTimeout(function () { button.disabled = true; }, 0);
          }, { once: true });
        }
      } else {
        event.preventDefault();
        // After the clicks already queued behind the dialog have been ignored.
        window.setTimeout(function () {
          button.removeAttribute("data-busy");
          button.removeAttribute("aria-disabled");
        }, 500);
      }
    });
    // Back from the browser's cache (bfcache): the button works again.
    window.addEventListener("pageshow", function () {
      Array.prototype.forEach.call(document.querySelectorAll("[data-confirm][data-busy]"), function (button) {
        button.removeAttribute("data-busy");
        button.removeAttribute("aria-disabled");
        button.disabled = false;
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { startCountdowns(); confirmDialogs(); });
})();
