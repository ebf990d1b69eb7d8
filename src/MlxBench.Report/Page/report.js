// Filters of the MlxBench report: suite, then task and metric narrowed to what the suite has (as the upstream
// viewer's dropdowns are). Panels say what they belong to in data-suite / data-task / data-metric; a panel without
// one of them shows for every value. The selection lives in the URL hash so a view can be linked.
(function () {
  "use strict";
  var index = JSON.parse(document.getElementById("report-index").textContent);
  var suite = document.getElementById("filter-suite");
  var task = document.getElementById("filter-task");
  var metric = document.getElementById("filter-metric");
  var panels = Array.prototype.slice.call(document.querySelectorAll(".panel"));
  var empty = document.getElementById("empty");

  function fill(select, values, wanted) {
    select.innerHTML = "";
    values.forEach(function (v) {
      var option = document.createElement("option");
      option.value = v;
      option.textContent = v;
      select.appendChild(option);
    });
    for (var i = 0; i < wanted.length; i++) {
      if (values.indexOf(wanted[i]) >= 0) { select.value = wanted[i]; return; }
    }
    select.value = values.length ? values[0] : "";
  }

  function tasksOf(s) { return Object.keys((index.suites[s] || { tasks: {} }).tasks).sort(); }
  function metricsOf(s, t) { return ((index.suites[s] || { tasks: {} }).tasks[t] || []).slice(); }

  function matches(panel, key, value) {
    var want = panel.getAttribute("data-" + key);
    return want === null || want === value;
  }

  function apply() {
    var shown = 0;
    panels.forEach(function (p) {
      var visible = matches(p, "suite", suite.value) && matches(p, "task", task.value) && matches(p, "metric", metric.value);
      p.hidden = !visible;
      if (visible) shown++;
    });
    empty.hidden = shown > 0;
    var hash = "suite=" + encodeURIComponent(suite.value) + "&task=" + encodeURIComponent(task.value) + "&metric=" + encodeURIComponent(metric.value);
    if (history.replaceState) history.replaceState(null, "", "#" + hash);
  }

  function onTask(preferred) {
    fill(metric, metricsOf(suite.value, task.value), [preferred, metric.value, index.default.metric]);
    apply();
  }

  // Switching suite opens that suite's own default (its headline metric), unless a link asked for more.
  function onSuite(preferredTask, preferredMetric) {
    var own = index.suites[suite.value] || {};
    fill(task, tasksOf(suite.value), [preferredTask, own.task, index.default.task]);
    onTask(preferredMetric || (task.value === own.task ? own.metric : null));
  }

  var fromHash = {};
  location.hash.replace(/^#/, "").split("&").forEach(function (pair) {
    var kv = pair.split("=");
    if (kv.length === 2) fromHash[kv[0]] = decodeURIComponent(kv[1]);
  });
  fill(suite, Object.keys(index.suites).sort(), [fromHash.suite, index.default.suite]);
  onSuite(fromHash.task || index.default.task, fromHash.metric || index.default.metric);

  suite.addEventListener("change", function () { onSuite(null, null); });
  task.addEventListener("change", function () { onTask(null); });
  metric.addEventListener("change", apply);
  document.documentElement.setAttribute("data-ready", "true");
})();
