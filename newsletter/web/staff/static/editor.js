// The issue editor: rows that staff add, remove and reorder, and the live preview.
//
// Rows: a [data-rows=NAME] container holds [data-row] elements whose fields are named
// NAME-<number>-…; after every change the rows are renumbered in their order, so the
// server reads them as shown. New rows come from <template data-template=NAME>, numbered
// "__i__". The spare empty row the server adds (for use without this script) goes.
//
// Preview: a while after the last keystroke the form is posted to data-preview; the
// answer's errors are shown next to their fields, and the frames load the composed email
// by the key it gives. A photo chosen but not saved goes with the next preview at once,
// once: the server prepares it as a save would and answers with its name and a key to
// it ("pending"), which the form then carries in place of the file.
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
  form.addEventListener("change", function (event) {
    var input = event.target;
    if (input.type !== "file") { return; }
    if (!input.files.length) { forget(input); }
    clearTimeout(timer);
    refresh();
  });

  // Photos: which file each file input last had prepared, and the photo it replaced.
  function fileKey(file) { return [file.name, file.size, file.lastModified].join("/"); }
  function photoField(input) { return input.closest(".photo").querySelector('input[type="hidden"]'); }
  function forget(input) {
    // The choice was cleared: the speaker's photo is the one before it again.
    var hidden = photoField(input);
    if (hidden.hasAttribute("data-before")) {
      hidden.value = hidden.getAttribute("data-before");
      hidden.removeAttribute("data-before");
    }
    input.removeAttribute("data-sent");
  }
  function chosen(input, photo, key) {
    var hidden = photoField(input);
    if (!hidden.hasAttribute("data-before")) { hidden.setAttribute("data-before", hidden.value); }
    hidden.value = photo;
    input.setAttribute("data-sent", key);
  }
  // Files to send with this preview; a file over the size limit is refused here, as the
  // server would refuse the whole form.
  function addFiles(data, tooLarge) {
    var sent = [];
    form.querySelectorAll('input[type="file"]').forEach(function (input) {
      var file = input.files && input.files[0];
      if (!file || input.getAttribute("data-sent") === fileKey(file)) { return; }
      var max = parseInt(input.getAttribute("data-max-bytes") || "0", 10);
      if (max && file.size > max) {
        tooLarge[input.name.replace(/_file$/, "")] = file.name + " is larger than " + Math.floor(max / 1048576) + " MB: save a smaller copy as JPEG or PNG.";
        return;
      }
      data.append(input.name, file, file.name);
      sent.push({ name: input.name, input: input, key: fileKey(file) });
    });
    return sent;
  }

  // A photo prepared earlier whose key the server no longer keeps (it keeps a bounded
  // number): its file, still chosen, is sent again.
  function resendLost(errors, sent) {
    var lost = false;
    form.querySelectorAll('input[type="file"][data-sent]').forEach(function (input) {
      var justSent = sent.some(function (item) { return item.input === input; });
      if (!justSent && errors[input.name.replace(/_file$/, "")]) {
        input.removeAttribute("data-sent");
        lost = true;
      }
    });
    if (lost) { schedule(); }
  }

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
    var tooLarge = {};
    var sent = addFiles(data, tooLarge);
    var ticket = ++asked;
    status.textContent = "Updating…";
    fetch(form.getAttribute("data-preview"), { method: "POST", body: data, credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
      .then(function (answer) {
        if (ticket !== asked) { return; }  // a newer request is on its way (with the files)
        var photos = answer.photos || {};
        sent.forEach(function (item) {
          if (photos[item.name]) { chosen(item.input, photos[item.name], item.key); }
        });
        if (answer.pending) { form.querySelector('[name="pending"]').value = answer.pending; }
        // The address a save would give when the field is left empty.
        if (answer.slug) { form.querySelector('[name="slug"]').placeholder = answer.slug; }
        var errors = Object.assign({}, answer.errors || {}, tooLarge);
        showErrors(errors);
        resendLost(errors, sent);
        var checks = document.getElementById("preview-checks");
        checks.replaceChildren();
        if (!answer.ok) {
          var count = Object.keys(errors).length;
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
