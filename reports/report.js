// The findings browser: filter by rule, severity and text, a page of rows at a time. The data
// is gzip JSON in the page (base64); rows are written with textContent only, never as HTML.
// The page's HTML already holds the first page and the rule options exactly as drawn here, so
// filling the table after load moves nothing below it.
(function () {
  "use strict";
  var holder = document.getElementById("findings-data");
  if (!holder) return;
  var SEVERITIES = ["error", "warning", "info"];
  var tableElement = document.getElementById("findings-table");
  var PAGE = Number(tableElement.getAttribute("data-page")) || 50;
  var state = { rows: [], shown: [], page: 0, data: null };
  var table = tableElement.tBodies[0];
  var ruleSelect = document.getElementById("filter-rule");
  var sevSelect = document.getElementById("filter-severity");
  var search = document.getElementById("filter-text");
  var status = document.getElementById("filter-status");

  function decode(text) {
    var bytes = Uint8Array.from(atob(text), function (c) { return c.charCodeAt(0); });
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text().then(JSON.parse);
  }

  function cell(row, text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function draw() {
    var rows = state.shown, start = state.page * PAGE;
    var body = document.createDocumentFragment();
    for (var i = start; i < Math.min(rows.length, start + PAGE); i++) {
      var r = rows[i], tr = document.createElement("tr");
      var sev = cell(tr, "");
      var badge = document.createElement("span");
      badge.className = "sev " + SEVERITIES[r[1]];
      badge.textContent = SEVERITIES[r[1]];
      sev.appendChild(badge);
      var ruleCell = cell(tr, "");
      var link = document.createElement("a");
      link.href = "#rule-" + r[0];
      link.textContent = r[0];
      ruleCell.appendChild(link);
      var where = cell(tr, state.data.shown[r[2]] + (r[3] === null ? "" : ":" + r[3]), "where");
      where.title = state.data.paths[r[2]];
      cell(tr, r[4]);
      cell(tr, r[5]);
      body.appendChild(tr);
    }
    table.replaceChildren(body);
    var pages = Math.max(1, Math.ceil(rows.length / PAGE));
    status.textContent = rows.length.toLocaleString() + " of " + state.rows.length.toLocaleString() +
      " findings · page " + (state.page + 1).toLocaleString() + " of " + pages.toLocaleString();
  }

  function apply() {
    var rule = ruleSelect.value, sev = sevSelect.value, text = search.value.toLowerCase();
    state.shown = state.rows.filter(function (r) {
      if (rule && r[0] !== rule) return false;
      if (sev !== "" && String(r[1]) !== sev) return false;
      if (text && (r[5] + " " + r[4] + " " + r[0]).toLowerCase().indexOf(text) < 0) return false;
      return true;
    });
    state.page = 0;
    draw();
  }

  var timer = null;
  search.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(apply, 150); });
  ruleSelect.addEventListener("change", apply);
  sevSelect.addEventListener("change", apply);
  document.getElementById("page-prev").addEventListener("click", function () {
    if (state.page > 0) { state.page--; draw(); }
  });
  document.getElementById("page-next").addEventListener("click", function () {
    if ((state.page + 1) * PAGE < state.shown.length) { state.page++; draw(); }
  });

  decode(holder.textContent).then(function (data) {
    state.data = data;
    state.rows = data.rows;
    apply();
    document.body.setAttribute("data-findings-ready", "1");
  }).catch(function (error) {
    status.textContent = "could not read the findings: " + error;
  });
})();
