// The issue editor: rows that staff add, remove and reorder, and the live preview.
//
// Rows: a [data-rows=NAME] container holds [data-row] elements whose fields are named
// NAME-<number>-…; after every change the rows are renumbered in their order, so the
// server reads them as shown. New rows come from <template data-template=NAME>, numbered
// "__i__". The spare empty row the server adds (for use without this script) goes.
//
// Preview: a while after the last keystroke the form (without its files) is posted to
// data-preview; the answer's errors are shown next to their fields, and the frames load
// the composed email by the key it gives.
(function () {
  "use strict";
  var form = document.getElementById("issue-form");
  if (!form) { return; }
  document.querySelectorAll("[data-js-only]").forEach(function (el) { el.hidden = false; });
  document.querySelectorAll("[data-spare]").forEach(function (el) { el.remove(); });

  function renumber(container) {
    var name = container.getAttribute("data-rows");
    var pattern = new RegExp("^(f-)?" + name + "-(\\d+|__i__)");
    var errorPattern = new RegExp("(error|help)-" + name + "-(\\d+|__i__)", "g");
    container.querySelectorAll(":scope > [data-row]").forEach(function (row, index) {
      row.querySelectorAll("[name],[id],[for],[data-error-for],[aria-describedby],[data-tools-for]").forEach(function (el) {
        ["name", "id", "for", "data-error-for", "data-tools-for"].forEach(function (attr) {
          var value = el.getAttribute(attr);
          if (value) { el.setAttribute(attr, value.replace(pattern, "$1" + name + "-" + index)); }
        });
        var described = el.getAttribute("aria-describedby");
        if (described) { el.setAttribute("aria-describedby", described.replace(errorPattern, "$1-" + name + "-" + index)); }
      });
      var number = row.querySelector("[data-number]");
      if (number) { number.textContent = String(index + 1); }
    });
  }

  form.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    if (!button) { return; }
    var add = button.getAttribute("data-add");
    var action = button.getAttribute("data-action");
    if (add) {
      var container = form.querySelector('[data-rows="' + add + '"]');
      var max = parseInt(button.getAttribute("data-max") || "0", 10);
      if (max && container.querySelectorAll(":scope > [data-row]").length >= max) { return; }
      var template = form.querySelector('template[data-template="' + add + '"]');
      var row = template.content.firstElementChild.cloneNode(true);
      row.querySelectorAll("[data-js-only]").forEach(function (el) { el.hidden = false; });
      container.appendChild(row);
      renumber(container);
      var first = row.querySelector("input:not([type=hidden]), textarea");
      if (first) { first.focus(); }
    } else if (action) {
      var current = button.closest("[data-row]");
      var rows = current.parentElement;
      if (action === "remove") {
        current.remove();
      } else if (action === "up" && current.previousElementSibling) {
        rows.insertBefore(current, current.previousElementSibling);
      } else if (action === "down" && current.nextElementSibling) {
        rows.insertBefore(current.nextElementSibling, current);
      }
      renumber(rows);
      schedule();
    }
  });

  // Views
  var pane = document.querySelector(".preview-pane");
  pane.querySelectorAll("[data-view]").forEach(function (button) {
    button.addEventListener("click", function () {
      var view = button.getAttribute("data-view");
      pane.querySelectorAll("[data-view]").forEach(function (other) {
        var on = other === button;
        other.setAttribute("aria-pressed", on ? "true" : "false");
        other.classList.toggle("secondary", !on);
      });
      pane.querySelectorAll(".frames > *").forEach(function (el) {
        el.hidden = !el.classList.contains("view-" + view);
      });
    });
  });

  // The live preview
  var status = document.getElementById("preview-status");
  var timer = null;
  var asked = 0;
  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 500);
  }
  form.addEventListener("input", function (event) {
    if (event.target.type !== "file") { schedule(); }
  });

  function showErrors(errors) {
    form.querySelectorAll("[data-error-for]").forEach(function (el) {
      var name = el.getAttribute("data-error-for");
      var message = errors[name] || "";
      el.textContent = message;
      el.hidden = !message;
      var input = form.querySelector('[name="' + name + '"]:not([type=hidden])') || form.querySelector('[name="' + name + '_file"]');
      if (input) {
        if (message) { input.setAttribute("aria-invalid", "true"); } else { input.removeAttribute("aria-invalid"); }
      }
    });
  }

  function item(text, kind) {
    var li = document.createElement("li");
    li.className = kind;
    li.textContent = text;
    return li;
  }

  function refresh() {
    var data = new FormData(form);
    Array.from(data.keys()).forEach(function (key) {
      if (data.get(key) instanceof File) { data.delete(key); }
    });
    var ticket = ++asked;
    status.textContent = "Updating…";
    fetch(form.getAttribute("data-preview"), { method: "POST", body: data, credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
      .then(function (answer) {
        if (ticket !== asked) { return; }  // a newer request is on its way
        showErrors(answer.errors || {});
        var checks = document.getElementById("preview-checks");
        checks.replaceChildren();
        if (!answer.ok) {
          var count = Object.keys(answer.errors || {}).length;
          status.textContent = count ? count + " field(s) need fixing before the email can be shown." : "The email cannot be shown:";
          (answer.problems || []).forEach(function (p) { checks.appendChild(item(p, "problem")); });
          pane.querySelector(".frames").classList.add("stale");
          return;
        }
        pane.querySelector(".frames").classList.remove("stale");
        var empty = document.getElementById("preview-empty");
        if (empty) { empty.remove(); }
        var src = form.getAttribute("data-email") + "?key=" + encodeURIComponent(answer.key);
        pane.querySelectorAll("iframe[data-frame]").forEach(function (frame) {
          frame.src = src + (frame.getAttribute("data-frame") === "dark" ? "&mode=dark" : "");
        });
        document.getElementById("preview-subject").textContent = answer.subject;
        document.getElementById("preview-preheader").textContent = answer.preheader;
        document.getElementById("preview-text").textContent = answer.text;
        var size = "HTML size " + answer.html_bytes.toLocaleString("en") + " bytes; Gmail clips over about " + answer.clip_limit.toLocaleString("en") + ".";
        checks.appendChild(item(size, answer.html_bytes > answer.clip_limit ? "problem" : "ok"));
        answer.checks.forEach(function (c) { checks.appendChild(item(c, "problem")); });
        if (!answer.checks.length) { checks.appendChild(item("No images without alt text, no bad links, unsubscribe links present.", "ok")); }
        status.textContent = "Up to date.";
      })
      .catch(function () {
        if (ticket === asked) { status.textContent = "The preview could not be updated; it tries again as you type."; }
      });
  }
})();
