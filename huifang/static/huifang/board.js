/* The board's trend chart (ECharts, vendored). The figures come from <script type="application/json"
   id="board-trend-data"> (json_script): data, not code, so the Content-Security-Policy holds. The
   same figures are in the table under the chart for screen readers and printing. */
(function () {
  "use strict";

  function draw() {
    var el = document.getElementById("board-trend");
    var source = document.getElementById("board-trend-data");
    if (!el || !source || !window.echarts) {
      return;
    }
    var points = JSON.parse(source.textContent || "[]");
    var d = el.dataset;
    var existing = window.echarts.getInstanceByDom(el);
    if (existing) {
      existing.dispose();
    }
    var chart = window.echarts.init(el, null, { renderer: "svg" });
    function series(name, key, color) {
      return {
        name: name,
        type: "line",
        connectNulls: false,
        symbolSize: 6,
        itemStyle: { color: color },
        data: points.map(function (p) { return p[key]; })
      };
    }
    var success = series(d.labelSuccess, "success_rate", "#206bc4");
    success.markLine = {
      silent: true,
      symbol: "none",
      lineStyle: { type: "dashed", color: "#2fb344" },
      label: { position: "insideEndTop", formatter: d.labelTarget + " " + d.target + "%" },
      data: [{ yAxis: Number(d.target) }]
    };
    var letter = series(d.labelLetter, "letter_visit_share", "#f76707");
    letter.markLine = {
      silent: true,
      symbol: "none",
      lineStyle: { type: "dashed", color: "#d63939" },
      label: { position: "insideEndTop", formatter: d.labelLimit + " " + d.limit + "%" },
      data: [{ yAxis: Number(d.limit) }]
    };
    chart.setOption({
      animation: false,
      tooltip: { trigger: "axis", valueFormatter: function (v) { return v == null ? "—" : v + "%"; } },
      legend: { top: 0 },
      grid: { left: 48, right: 24, top: 48, bottom: 30 },
      xAxis: { type: "category", data: points.map(function (p) { return p.bucket; }) },
      yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
      series: [success, series(d.labelCooling, "cooling_off", "#4299e1"), letter]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
