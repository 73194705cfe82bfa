// The only script: live countdowns and confirm dialogs. Pages work without it.
(function () {
  "use strict";

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function format(seconds, dayLabel) {
    var s = Math.max(0, Math.floor(seconds));
    var days = Math.floor(s / 86400); s -= days * 86400;
    var h = Math.floor(s / 3600); s -= h * 3600;
    var m = Math.floor(s / 60); s -= m * 60;
    var clock = pad(h) + ":" + pad(m) + ":" + pad(s);
    return days ? days + " " + dayLabel + " " + clock : clock;
  }

  function startCountdowns() {
    var nodes = document.querySelectorAll("[data-countdown]");
    if (!nodes.length) return;
    var started = Date.now();
    // Seconds left come from the server, so a wrong clock on the phone does not matter.
    var items = Array.prototype.map.call(nodes, function (node) {
      return { node: node, left: parseInt(node.getAttribute("data-countdown"), 10) || 0,
               label: node.getAttribute("data-day-label") || "d" };
    });
    function tick() {
      var elapsed = (Date.now() - started) / 1000;
      items.forEach(function (item) { item.node.textContent = format(item.left - elapsed, item.label); });
    }
    tick();
    window.setInterval(tick, 1000);
  }

  function confirmDialogs() {
    document.addEventListener("click", function (event) {
      var button = event.target.closest("[data-confirm]");
      if (button && !window.confirm(button.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () { startCountdowns(); confirmDialogs(); });
})();
