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
  // trainkit.numfmt.number's rule: up to 4 significant digits, whole numbers past 10,000.
  function number(v) {
    if (v == null) { return ""; }
    if (typeof v !== "number" || Number.isInteger(v) || !isFinite(v)) { return String(v); }
    if (Math.abs(v) >= 1e4) { return v.toFixed(0); }
    return String(Number(v.toPrecision(4)));
  }

  // Integer x values (epochs, steps) get integer ticks only. `points`: markers without lines (a scatter).
  var WHOLE = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6];
  function chart(el, title, xs, series, xlabel, points, logy) {
    var names = Object.keys(series);
    if (!names.length || !xs.length) { return null; }
    var div = document.createElement("div");
    div.className = "chart";
    el.appendChild(div);
    var whole = xs.every(function (x) { return Number.isInteger(x); });
    var xaxis = { label: xlabel, values: function (u, ticks) { return ticks.map(number); } };
    if (whole) { xaxis.incrs = WHOLE; }
    var opts = {
      title: title, width: Math.min(1400, div.clientWidth || el.clientWidth || 720), height: 260,
      scales: logy ? { x: { time: false }, y: { distr: 3 } } : { x: { time: false } },
      axes: [xaxis, { values: function (u, ticks) { return ticks.map(number); } }],
      series: [{ label: xlabel, value: function (u, v) { return number(v); } }].concat(names.map(function (n, i) {
        var s = { label: n, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true,
                  value: function (u, v) { return number(v); } };
        if (points) { s.paths = function () { return null; }; s.points = { show: true, size: 9, fill: COLORS[i % COLORS.length] }; }
        return s;
      }))
    };
    var u = new uPlot(opts, [xs].concat(names.map(function (n) { return series[n]; })), div);
    api.charts.push(u);
    return u;
  }

  // Series with x values of their own, as uPlot wants them: one sorted x array, each series
  // on it (null where it has no value). `tables`: [[xs, ys], ...], each xs ascending.
  function align(tables) {
    var seen = {}, xs = [];
    tables.forEach(function (t) { t[0].forEach(function (x) { if (!(x in seen)) { seen[x] = true; xs.push(x); } }); });
    xs.sort(function (a, b) { return a - b; });
    var at = {};
    xs.forEach(function (x, i) { at[x] = i; });
    return [xs].concat(tables.map(function (t) {
      var ys = xs.map(function () { return null; });
      t[0].forEach(function (x, i) { ys[at[x]] = t[1][i]; });
      return ys;
    }));
  }

  function groups(series) {
    var loss = {}, other = {};
    Object.keys(series).forEach(function (k) {
      if (k === "learning_rate" || k === "epoch_time_s") { return; }
      (k.indexOf("loss") >= 0 ? loss : other)[k] = series[k];
    });
    return [["loss", loss], ["metrics", other]];
  }

  // An exponential moving average (TensorBoard's smoothing): 0 = the values as they are.
  function smooth(values, s) {
    if (!s) { return values; }
    var last = null;
    return values.map(function (v) {
      if (v == null) { return null; }
      last = last == null ? v : s * last + (1 - s) * v;
      return last;
    });
  }

  // `view`: x = step | time, log y, smoothing; a log axis only for a chart whose values are all positive.
  function drawRun(h, view, chosen) {
    var el = document.getElementById("charts");
    el.textContent = "";
    api.charts = [];
    var label = view.x === "time" ? "seconds" : h.x;
    groups(h.series).forEach(function (g) {
      var names = Object.keys(g[1]).filter(function (k) { return chosen[k]; });
      var data = align(names.map(function (k) {
        return [view.x === "time" ? g[1][k].time : g[1][k].steps, smooth(g[1][k].values, view.smooth)];
      }));
      var picked = {}, positive = true;
      names.forEach(function (k, i) {
        picked[k] = data[i + 1];
        positive = positive && data[i + 1].every(function (v) { return v == null || v > 0; });
      });
      chart(el, g[0], data[0], picked, label, false, view.logy && positive);
    });
  }

  // The history so far and what came after it (the server answers from the offset it was asked for).
  function extend(h, more) {
    if (!h || more.reset) { return more; }
    Object.keys(more.series).forEach(function (k) {
      var old = h.series[k], add = more.series[k];
      if (!old) { h.series[k] = add; return; }
      ["steps", "time", "values"].forEach(function (f) { old[f] = old[f].concat(add[f]); });
    });
    h.offset = more.offset;
    h.elapsed = more.elapsed;
    return h;
  }

  function longest(h) {
    return Object.keys(h.series).reduce(function (n, k) { return Math.max(n, h.series[k].values.length); }, 0);
  }

  // Parts of a page kept fresh while something on it goes on: every 5 s the page is fetched again
  // and the elements with these ids are replaced by the server's new rendering of them; `going`
  // reads the new page and says whether to keep on; `after` runs after each refresh.
  function keepFresh(ids, going, after) {
    var timer = setInterval(function () {
      fetch(location.href).then(function (r) { return r.text(); }).then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        ids.forEach(function (id) {
          var now = document.getElementById(id), fresh = doc.getElementById(id);
          if (now && fresh) { now.replaceWith(document.adoptNode(fresh)); }
        });
        if (after) { after(doc); }
        if (!going(doc)) { clearInterval(timer); }
      }).catch(function () { /* the next tick tries again */ });
    }, api.refreshMs);
  }

  function dataOf(doc) {
    var el = doc.getElementById("page-data");
    return el ? JSON.parse(el.textContent) : {};
  }

  function runPage() {
    var d = pageData(), history = null, chosen = {};
    var xsel = document.getElementById("xaxis"), pick = document.getElementById("series");
    var logy = document.getElementById("logy"), smoothing = document.getElementById("smooth");
    function redraw() {
      if (history) { drawRun(history, { x: xsel.value, logy: logy.checked, smooth: +smoothing.value }, chosen); }
    }
    logy.onchange = redraw;
    smoothing.oninput = redraw;
    textPreviews();
    function addBoxes() {
      Object.keys(history.series).forEach(function (k) {
        if (k in chosen) { return; }
        chosen[k] = k !== "learning_rate" && k !== "epoch_time_s";
        var label = document.createElement("label");
        var box = document.createElement("input");
        box.type = "checkbox"; box.checked = chosen[k];
        box.onchange = function () { chosen[k] = box.checked; redraw(); };
        label.appendChild(box); label.appendChild(document.createTextNode(" " + k + " "));
        pick.appendChild(label);
      });
    }
    // System metrics (CPU %, memory, GPU) over elapsed seconds, in charts of their own.
    function loadSystem() {
      return getJSON("/api/runs/" + encodeURIComponent(d.id) + "/system").then(function (h) {
        var el = document.getElementById("system");
        el.textContent = "";
        [["CPU and GPU use (%)", /_percent$/], ["memory (MB)", /_mb$/]].forEach(function (g) {
          var names = Object.keys(h.series).filter(function (k) { return g[1].test(k); });
          var data = align(names.map(function (k) { return [h.series[k].time, h.series[k].values]; }));
          var picked = {};
          names.forEach(function (k, i) { picked[k] = data[i + 1]; });
          chart(el, g[0], data[0] || [], picked, "seconds");
        });
        if (!el.children.length) { el.textContent = "no system metrics recorded"; }
      }, function () {});
    }
    function loadHistory() {
      if (history && longest(history) > 4000) { history = null; }     // thinned afresh from the start
      var url = "/api/runs/" + encodeURIComponent(d.id) + "/history" +
        (history ? "?since=" + history.offset + "&t=" + history.elapsed : "");
      return getJSON(url).then(function (more) {
        history = api.history = extend(history, more);
        addBoxes();
        redraw();
      });
    }
    xsel.onchange = redraw;
    Promise.all([loadHistory(), loadSystem()]).then(ready, ready);
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
    if (d.status === "running" || d.status === "queued") {
      keepFresh(["run-head", "run-metrics", "run-env", "run-files"], function (doc) {
        var st = dataOf(doc).status;
        return st === "running" || st === "queued";
      }, function () { loadHistory(); loadSystem(); textPreviews(); });
    }
  }

  function runsPage() {
    var button = document.getElementById("compare"), picked = {};
    function update() {
      var ids = Object.keys(picked).filter(function (id) { return picked[id]; });
      button.disabled = ids.length < 2;
      button.onclick = function () { location.href = "/compare?ids=" + ids.map(encodeURIComponent).join(","); };
    }
    function bind() {   // the table's boxes, again after each refresh, keeping what was ticked
      Array.prototype.forEach.call(document.querySelectorAll("input.pick"), function (b) {
        b.checked = !!picked[b.value];
        b.onchange = function () { picked[b.value] = b.checked; update(); };
      });
      update();
    }
    bind();
    if (pageData().live) { keepFresh(["runs-table"], function (doc) { return dataOf(doc).live; }, bind); }
    ready();
  }

  function jobsPage() {
    if (pageData().live) { keepFresh(["jobs-table"], function (doc) { return dataOf(doc).live; }); }
    ready();
  }

  function comparePage() {
    var d = pageData();
    getJSON("/api/compare?ids=" + d.ids.map(encodeURIComponent).join(",")).then(function (c) {
      var el = document.getElementById("charts");
      var ids = Object.keys(c.histories), metrics = {}, label = {};
      c.runs.forEach(function (r) { label[r.id] = r.label || r.id; });
      ids.forEach(function (id) { Object.keys(c.histories[id].series).forEach(function (m) { metrics[m] = true; }); });
      Object.keys(metrics).filter(function (m) { return m !== "learning_rate" && m !== "epoch_time_s"; })
        .forEach(function (m) {
          var have = ids.filter(function (id) { return c.histories[id].series[m]; });
          var data = align(have.map(function (id) { return [c.histories[id].series[m].steps, c.histories[id].series[m].values]; }));
          var series = {};
          have.forEach(function (id, i) { series[label[id]] = data[i + 1]; });
          chart(el, m, data[0], series, "epoch / step");
        });
      scatter(c);
    }).then(ready, ready);
  }

  // A final metric against each numeric parameter that differs among the compared runs: one point
  // per run (the validation metric when there is one, else the first).
  function scatter(c) {
    var el = document.getElementById("scatter");
    var names = c.runs.length ? Object.keys(c.runs[0].metrics) : [];
    var metric = ["val_accuracy", "test_accuracy", "val_loss"].filter(function (m) { return names.indexOf(m) >= 0; })[0] || names[0];
    if (!el || !metric) { return; }
    Object.keys(c.differing_config).forEach(function (key) {
      var xs = c.differing_config[key];
      if (!xs.every(function (x) { return typeof x === "number"; })) { return; }
      var pairs = c.runs.map(function (r, i) { return [xs[i], r.metrics[metric]]; })
        .filter(function (p) { return typeof p[1] === "number"; })
        .sort(function (a, b) { return a[0] - b[0]; });
      var series = {};
      series[metric] = pairs.map(function (p) { return p[1]; });
      chart(el, metric + " against " + key, pairs.map(function (p) { return p[0]; }), series, key, true);
    });
  }

  // A text file's preview, read when its <details> opens (the first 20,000 characters).
  function textPreviews() {
    Array.prototype.forEach.call(document.querySelectorAll("details.text-preview"), function (d) {
      d.addEventListener("toggle", function () {
        var pre = d.querySelector("pre");
        if (!d.open || pre.textContent) { return; }
        fetch(d.getAttribute("data-src")).then(function (r) { return r.text(); })
          .then(function (t) { pre.textContent = t.length > 20000 ? t.slice(0, 20000) + "\n..." : t; });
      });
    });
  }

  // The sweep page: brushing on the parallel coordinates, and every trial's objective per epoch.
  function sweepPage() {
    var d = pageData(), svg = document.querySelector("svg.parallel");
    if (svg) { brushing(svg); }
    var ids = d.trials.slice(0, 50);
    Promise.all(ids.map(function (id) { return getJSON("/api/runs/" + encodeURIComponent(id) + "/history"); }))
      .then(function (hs) {
        var metric = d.metric;
        var logged = hs.some(function (h) { return h.series[metric]; });
        if (!logged && metric.indexOf("test_") === 0) { metric = "val_" + metric.slice(5); }   // measured once, at the end
        var have = [], tables = [];
        hs.forEach(function (h, i) {
          var s = h.series[metric];
          if (s) { have.push(ids[i]); tables.push([s.steps, s.values]); }
        });
        var data = align(tables), series = {};
        have.forEach(function (id, i) { series[d.labels[id] || id] = data[i + 1]; });
        chart(document.getElementById("charts"), metric + " per epoch, every trial", data[0] || [], series, "epoch / step");
      }).then(ready, ready);
  }

  // Drag along a parallel-coordinates axis to keep the trials passing through that range (several
  // axes: all of them); a click on an axis clears its range.
  function brushing(svg) {
    var ranges = {}, drag = null, NS = "http://www.w3.org/2000/svg";
    var trials = Array.prototype.slice.call(svg.querySelectorAll("polyline.trial"));
    function pos(ev, g) {   // 0 at the axis' bottom, 1 at its top
      var box = svg.getBoundingClientRect(), scale = svg.viewBox.baseVal.height / box.height;
      var top = +g.getAttribute("data-top"), height = +g.getAttribute("data-height");
      return Math.max(0, Math.min(1, 1 - ((ev.clientY - box.top) * scale - top) / height));
    }
    function apply() {
      trials.forEach(function (t) {
        var ys = t.getAttribute("data-y").split(",");
        var keep = Object.keys(ranges).every(function (k) {
          return ys[k] !== "" && +ys[k] >= ranges[k][0] && +ys[k] <= ranges[k][1];
        });
        t.classList.toggle("dim", !keep);
      });
      api.kept = trials.filter(function (t) { return !t.classList.contains("dim"); }).length;
    }
    function draw(g, rect, r) {
      var box = g.querySelector("rect.range");
      if (!r) { if (box) { box.remove(); } return; }
      if (!box) { box = document.createElementNS(NS, "rect"); box.setAttribute("class", "range"); g.appendChild(box); }
      var top = +g.getAttribute("data-top"), height = +g.getAttribute("data-height");
      box.setAttribute("x", rect.getAttribute("x"));
      box.setAttribute("width", rect.getAttribute("width"));
      box.setAttribute("y", top + (1 - r[1]) * height);
      box.setAttribute("height", Math.max(1, (r[1] - r[0]) * height));
    }
    Array.prototype.forEach.call(svg.querySelectorAll("g.brushes"), function (g) {
      var rect = g.querySelector("rect.brush");
      rect.addEventListener("mousedown", function (ev) {
        ev.preventDefault();
        drag = { g: g, rect: rect, k: g.getAttribute("data-axis"), from: pos(ev, g), moved: false };
      });
    });
    document.addEventListener("mousemove", function (ev) {
      if (!drag) { return; }
      var to = pos(ev, drag.g);
      drag.moved = true;
      ranges[drag.k] = [Math.min(drag.from, to), Math.max(drag.from, to)];
      draw(drag.g, drag.rect, ranges[drag.k]);
      apply();
    });
    document.addEventListener("mouseup", function () {
      if (drag && !drag.moved) { delete ranges[drag.k]; draw(drag.g, drag.rect, null); apply(); }
      drag = null;
    });
    apply();
  }

  // Pages say which of these to run (<body data-page=...>): no script is written into a page.
  // <body data-ready> tells a watcher (the browser tests) that the page's first work is done.
  function ready() { document.body.setAttribute("data-ready", "1"); }

  // `history`: the run page's history as drawn (for a look from the browser's console).
  // `refreshMs`: how often live parts of a page are re-read.
  // `charts`: every uPlot drawn on the page.
  var api = { runPage: runPage, runsPage: runsPage, comparePage: comparePage, chart: chart, align: align, history: null,
              refreshMs: 5000, charts: [] };
  var start = { runPage: runPage, runsPage: runsPage, jobsPage: jobsPage, sweepPage: sweepPage,
                comparePage: comparePage }[document.body.getAttribute("data-page")];
  if (start) { start(); } else { ready(); }
  return api;
})();
