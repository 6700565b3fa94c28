// The "Insert field" control beside the editor's texts ([data-tools-for=TEXTAREA-ID]):
// a field from the subscribers' attributes (asked of data-merge-fields, default
// ../merge-fields next to the page) and a fallback, written into the text at the cursor
// as {{ field | default("fallback") }}. The text's input event then fires, so the live
// preview follows.
(function () {
  "use strict";
  var places = document.querySelectorAll(".field-tools[data-tools-for]");
  if (!places.length) { return; }
  var script = document.currentScript || document.querySelector("script[src$='merge_fields.js']");
  var url = script.getAttribute("src").replace(/static\/merge_fields\.js.*$/, "merge-fields");

  function written(name, fallback) {
    if (!fallback) { return "{{ " + name + " }}"; }
    // A fallback holding both quotes keeps its apostrophes as typographic ones.
    var quote = fallback.indexOf('"') >= 0 ? "'" : '"';
    if (quote === "'") { fallback = fallback.replace(/'/g, "\u2019"); }
    return "{{ " + name + " | default(" + quote + fallback + quote + ") }}";
  }

  function insert(area, text) {
    var start = area.selectionStart, end = area.selectionEnd;
    if (typeof start !== "number") { start = end = area.value.length; }
    area.value = area.value.slice(0, start) + text + area.value.slice(end);
    area.selectionStart = area.selectionEnd = start + text.length;
    area.focus();
    area.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function control(place, fields, number) {
    var select = document.createElement("select");
    var fallback = document.createElement("input");
    var button = document.createElement("button");
    var id = "merge-" + number;
    select.id = id + "-field";
    select.setAttribute("aria-label", "Merge field");
    fields.forEach(function (field) {
      var option = document.createElement("option");
      option.value = field.name;
      option.textContent = field.label + (field.label === field.name ? "" : " (" + field.name + ")");
      select.appendChild(option);
    });
    fallback.type = "text";
    fallback.placeholder = "Fallback, e.g. friend";
    fallback.setAttribute("aria-label", "Fallback when the subscriber has no value");
    fallback.maxLength = 200;
    button.type = "button";
    button.className = "secondary small";
    button.textContent = "Insert field";
    button.addEventListener("click", function () {
      // Rows are renumbered as they move: find the text by the current attribute.
      var area = document.getElementById(place.getAttribute("data-tools-for"));
      if (area) { insert(area, written(select.value, fallback.value.trim())); }
    });
    place.append(select, fallback, button);
  }

  fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
    .then(function (response) { return response.ok ? response.json() : { fields: [] }; })
    .then(function (data) {
      var fields = data.fields || [];
      if (!fields.length) { return; }
      var made = 0;
      function fill() {
        document.querySelectorAll(".field-tools[data-tools-for]:empty").forEach(function (place) {
          control(place, fields, made++);
        });
      }
      fill();
      // Rows staff add (a speaker) come from a template with the place empty.
      new MutationObserver(fill).observe(document.body, { childList: true, subtree: true });
    })
    .catch(function () { /* the text can still be typed by hand */ });
})();
