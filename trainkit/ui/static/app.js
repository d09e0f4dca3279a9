// trainkit's dashboard: charts (uPlot), the live console (server-sent events) and run selection.
// The pages are complete without this file; it only adds what needs a browser.
"use strict";
var trainkit = (function () {
  var COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

  function pageData() {
    var el = document.getElementById("page-data");
    return el ? JSON.parse(el.textContent) : {};
  }

  function getJSON(url) {
    return fetch(url).then(function (r) {
      if (!r.ok) { return r.json().then(function (b) { throw new Error(b.error || r.statusText); }); }
      return r.json();
    });
  }

  // One chart: x values and named series (null gaps allowed); zoom by dragging, values on hover.
  function chart(el, title, xs, series, xlabel) {
    var names = Object.keys(series);
    if (!names.length || !xs.length) { return null; }
    var opts = {
      title: title, width: Math.min(720, el.clientWidth || 720), height: 260,
      scales: { x: { time: false } },
      axes: [{ label: xlabel }, {}],
      series: [{ label: xlabel }].concat(names.map(function (n, i) {
        return { label: n, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true,
                 value: function (u, v) { return v == null ? "" : v.toFixed(4); } };
      }))
    };
    var div = document.createElement("div");
    div.className = "chart";
    el.appendChild(div);
    return new uPlot(opts, [xs].concat(names.map(function (n) { return series[n]; })), div);
  }

  function groups(series) {
    var loss = {}, other = {};
    Object.keys(series).forEach(function (k) {
      if (k === "learning_rate" || k === "epoch_time_s") { return; }
      (k.indexOf("loss") >= 0 ? loss : other)[k] = series[k];
    });
    return [["loss", loss], ["metrics", other]];
  }

  function drawRun(h, xmode, chosen) {
    var el = document.getElementById("charts");
    el.innerHTML = "";
    var xs = xmode === "time" ? h.time : h.steps;
    var label = xmode === "time" ? "seconds" : h.x;
    groups(h.series).forEach(function (g) {
      var picked = {};
      Object.keys(g[1]).forEach(function (k) { if (!chosen || chosen[k]) { picked[k] = g[1][k]; } });
      chart(el, g[0], xs, picked, label);
    });
  }

  function runPage() {
    var d = pageData(), history = null, chosen = null;
    var xsel = document.getElementById("xaxis"), pick = document.getElementById("series");
    function redraw() { if (history) { drawRun(history, xsel.value, chosen); } }
    function loadHistory() {
      return getJSON("/api/runs/" + encodeURIComponent(d.id) + "/history").then(function (h) {
        history = h;
        if (chosen === null) {
          chosen = {};
          pick.innerHTML = "";
          Object.keys(h.series).forEach(function (k) {
            chosen[k] = k !== "learning_rate" && k !== "epoch_time_s";
            var label = document.createElement("label");
            var box = document.createElement("input");
            box.type = "checkbox"; box.checked = chosen[k];
            box.onchange = function () { chosen[k] = box.checked; redraw(); };
            label.appendChild(box); label.appendChild(document.createTextNode(" " + k + " "));
            pick.appendChild(label);
          });
        }
        redraw();
      });
    }
    xsel.onchange = redraw;
    loadHistory();
    var rank = document.getElementById("rank"), out = document.getElementById("console");
    var source = null;
    function follow() {
      if (source) { source.close(); }
      out.textContent = "";
      var url = "/api/runs/" + encodeURIComponent(d.id) + "/logs/stream" + (rank.value ? "?rank=" + rank.value : "");
      source = new EventSource(url);
      source.onmessage = function (ev) {
        out.textContent += ev.data + "\n";
        out.scrollTop = out.scrollHeight;
      };
      source.addEventListener("end", function (ev) {
        source.close();
        document.getElementById("live").textContent = "ended: " + ev.data;
        loadHistory();
      });
      source.onerror = function () { source.close(); };
    }
    rank.onchange = follow;
    follow();
    if (d.status === "running" || d.status === "queued") { setInterval(loadHistory, 5000); }
  }

  function runsPage() {
    var button = document.getElementById("compare");
    var boxes = document.querySelectorAll("input.pick");
    function update() {
      var picked = Array.prototype.filter.call(boxes, function (b) { return b.checked; });
      button.disabled = picked.length < 2;
      button.onclick = function () {
        location.href = "/compare?ids=" + picked.map(function (b) { return encodeURIComponent(b.value); }).join(",");
      };
    }
    Array.prototype.forEach.call(boxes, function (b) { b.onchange = update; });
    update();
  }

  function comparePage() {
    var d = pageData();
    getJSON("/api/compare?ids=" + d.ids.map(encodeURIComponent).join(",")).then(function (c) {
      var el = document.getElementById("charts");
      var metrics = {};
      Object.keys(c.histories).forEach(function (id) {
        Object.keys(c.histories[id].series).forEach(function (m) { metrics[m] = true; });
      });
      Object.keys(metrics).filter(function (m) { return m !== "learning_rate" && m !== "epoch_time_s"; })
        .forEach(function (m) {
          var longest = [];
          Object.keys(c.histories).forEach(function (id) {
            if (c.histories[id].steps.length > longest.length) { longest = c.histories[id].steps; }
          });
          var series = {};
          Object.keys(c.histories).forEach(function (id) {
            var h = c.histories[id], byStep = {};
            h.steps.forEach(function (s, i) { byStep[s] = h.series[m] ? h.series[m][i] : null; });
            series[id] = longest.map(function (s) { return s in byStep ? byStep[s] : null; });
          });
          chart(el, m, longest, series, "epoch / step");
        });
    });
  }

  return { runPage: runPage, runsPage: runsPage, comparePage: comparePage, chart: chart };
})();
