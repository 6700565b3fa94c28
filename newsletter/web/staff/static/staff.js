// The staff pages' only script: poll a JSON endpoint named by the page and act on it.
// data-poll-version: reload the page when the "version" it answers changes (the preview
// follows its record file). data-poll-progress: fill elements [data-field=NAME] with the
// answer's fields (the value of a <progress>), and show [data-when-status] elements only
// while the answer's "status" is one of the words they list.
(function () {
  "use strict";
  function poll(url, every, handle) {
    function tick() {
      fetch(url, { credentials: "same-origin", cache: "no-store" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) { if (data && handle(data) !== false) { setTimeout(tick, every); } })
        .catch(function () { setTimeout(tick, every * 2); });
    }
    setTimeout(tick, every);
  }
  var versioned = document.querySelector("[data-poll-version]");
  if (versioned) {
    var known = versioned.getAttribute("data-version");
    poll(versioned.getAttribute("data-poll-version"), 1500, function (data) {
      if (data.version !== known) { window.location.reload(); return false; }
      return true;
    });
  }
  var progress = document.querySelector("[data-poll-progress]");
  if (progress) {
    poll(progress.getAttribute("data-poll-progress"), 1000, function (data) {
      Object.keys(data).forEach(function (name) {
        document.querySelectorAll('[data-field="' + name + '"]').forEach(function (el) {
          if (el.tagName === "PROGRESS") { el.value = data[name]; }
          el.textContent = data[name] === null ? "–" : String(data[name]);
        });
      });
      document.querySelectorAll("[data-when-status]").forEach(function (el) {
        el.hidden = el.getAttribute("data-when-status").split(" ").indexOf(data.status) < 0;
      });
      if (!data.running) {
        document.querySelectorAll("[data-when-running]").forEach(function (el) { el.hidden = true; });
      }
      return true;
    });
  }
})();
