/* Supervisors' inspection report: per-town figures, overdue cases, two charts, printable on A4. */
(function () {
  "use strict";
  const SL = window.SL;
  SL.extend({
    zh: {
      "ins.title": "督查报告", "ins.filters": "筛选", "ins.from": "起始日期", "ins.to": "截止日期", "ins.town": "镇街",
      "ins.all_towns": "全部镇街", "ins.apply": "查询", "ins.print": "打印", "ins.overview": "总体情况",
      "ins.by_town": "分镇街统计", "ins.towns_caption": "各镇街受理、办结、按期办结与满意情况",
      "ins.charts": "图表", "ins.chart_intake": "各镇街受理量", "ins.chart_rates": "各镇街办结率、按期办结率、满意率",
      "ins.overdue": "超期工单", "ins.overdue_caption": "已超过办理时限、尚未办结的工单（按到期时间排序）",
      "ins.coverage": "协商覆盖", "ins.coverage_caption": "{year} 年各镇街协商开展情况（示范点每年至少 {target} 次）",
      "ins.col.points": "点位", "ins.col.demo_points": "示范点", "ins.col.held": "已开展协商", "ins.col.target": "示范点目标",
      "ins.col.met": "达标", "ins.met_yes": "达标", "ins.met_no": "未达标",
      "ins.no_overdue": "当前没有超期工单。", "ins.no_cases": "该时段内没有受理工单。",
      "ins.col.town": "镇街", "ins.col.intake": "受理量", "ins.col.resolved": "办结量", "ins.col.resolution_rate": "办结率",
      "ins.col.on_time_rate": "按期办结率", "ins.col.satisfaction_rate": "满意率", "ins.col.overdue": "超期未办",
      "ins.col.tracking_no": "工单编号", "ins.col.status": "状态", "ins.col.category": "分类", "ins.col.assignee": "承办委员",
      "ins.col.due_at": "办理时限", "ins.col.hours_over": "超期（小时）", "ins.total": "合计", "ins.unlocated": "（未定位）",
      "ins.period": "统计期间：{from} 至 {to} · {town}", "ins.printed": "生成时间：{at}",
      "ins.kpi.intake": "受理量", "ins.kpi.overdue_now": "当前超期", "ins.kpi.cases": "件",
      "ins.aria_intake": "柱状图，各镇街受理量：{items}。合计 {total} 件。",
      "ins.aria_rates": "柱状图，各镇街办结率、按期办结率、满意率：{items}。",
      "ins.aria_empty": "图表：该时段内没有数据。", "ins.bad_period": "请选择有效的起止日期（最长一年）。",
      "ins.member": "委员 #{id}", "ins.unassigned": "未分派",
      "ins.download_pdf": "下载 PDF", "ins.download_xlsx": "下载 Excel", "ins.cases_behind": "查看构成该数字的工单",
    },
    en: {
      "ins.title": "Inspection report", "ins.filters": "Filters", "ins.from": "From", "ins.to": "To", "ins.town": "Town",
      "ins.all_towns": "All towns", "ins.apply": "Apply", "ins.print": "Print", "ins.overview": "Overview",
      "ins.by_town": "By town", "ins.towns_caption": "Intake, resolution, on-time resolution and satisfaction per town",
      "ins.charts": "Charts", "ins.chart_intake": "Intake per town", "ins.chart_rates": "Resolution, on-time and satisfaction rates per town",
      "ins.overdue": "Overdue cases", "ins.overdue_caption": "Open cases past their deadline (earliest deadline first)",
      "ins.coverage": "Consultation coverage",
      "ins.coverage_caption": "Consultations held per town in {year} (demonstration points: at least {target} a year)",
      "ins.col.points": "Points", "ins.col.demo_points": "Demonstration points", "ins.col.held": "Held",
      "ins.col.target": "Target", "ins.col.met": "Met", "ins.met_yes": "Met", "ins.met_no": "Not met",
      "ins.no_overdue": "No case is overdue.", "ins.no_cases": "No case was received in this period.",
      "ins.col.town": "Town", "ins.col.intake": "Intake", "ins.col.resolved": "Resolved", "ins.col.resolution_rate": "Resolution rate",
      "ins.col.on_time_rate": "On-time rate", "ins.col.satisfaction_rate": "Satisfaction", "ins.col.overdue": "Overdue",
      "ins.col.tracking_no": "Tracking no.", "ins.col.status": "Status", "ins.col.category": "Category", "ins.col.assignee": "Member",
      "ins.col.due_at": "Due", "ins.col.hours_over": "Hours overdue", "ins.total": "Total", "ins.unlocated": "(not located)",
      "ins.period": "Period: {from} to {to} · {town}", "ins.printed": "Generated {at}",
      "ins.kpi.intake": "Intake", "ins.kpi.overdue_now": "Overdue now", "ins.kpi.cases": "",
      "ins.aria_intake": "Bar chart of intake per town: {items}. {total} in total.",
      "ins.aria_rates": "Bar chart of resolution, on-time and satisfaction rates per town: {items}.",
      "ins.aria_empty": "Chart: no data in this period.", "ins.bad_period": "Choose a valid period (at most a year).",
      "ins.member": "Member #{id}", "ins.unassigned": "Unassigned",
      "ins.download_pdf": "Download PDF", "ins.download_xlsx": "Download Excel", "ins.cases_behind": "Cases behind this figure",
    },
  });

  const $ = (id) => document.getElementById(id);
  const fmt = (key, vars) => SL.t(key).replace(/\{(\w+)\}/g, (_, k) => (vars[k] == null ? "" : vars[k]));
  const pct = (r) => (r == null ? "—" : (r * 100).toFixed(1) + "%");
  const RATES = ["resolution_rate", "on_time_rate", "satisfaction_rate"];
  const COLORS = ["#b3261e", "#0b57d0", "#1b6e20"];
  let towns = [];
  let report = null;
  let coverage = null;
  const charts = {};

  function shanghaiToday() {
    return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
  }
  function addDays(iso, n) {
    const d = new Date(iso + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + n);
    return d.toISOString().slice(0, 10);
  }
  function townName(code) {
    if (!code) return SL.t("ins.unlocated");
    const t = towns.find((x) => x.code === code);
    return t ? t.name : code;
  }
  function rowName(r) { return r.town_code ? r.town_name : SL.t("ins.unlocated"); }

  async function loadTowns() {
    towns = await SL.api("/api/regions?level=town");
    const sel = $("f-town");
    for (const t of towns) {
      const o = document.createElement("option");
      o.value = t.code; o.textContent = t.name;
      sel.appendChild(o);
    }
  }

  function readQuery() {
    const q = new URLSearchParams(location.search);
    const end = q.get("end") || shanghaiToday();
    $("f-end").value = end;
    $("f-start").value = q.get("start") || addDays(end, -29);
    $("f-town").value = q.get("town_code") || "";
  }

  async function load() {
    const start = $("f-start").value, end = $("f-end").value, town = $("f-town").value;
    $("ins-error").textContent = "";
    if (!start || !end || start > end) { $("ins-error").textContent = SL.t("ins.bad_period"); return; }
    const q = new URLSearchParams({ start, end });
    if (town) q.set("town_code", town);
    history.replaceState(null, "", location.pathname + "?" + q.toString());
    $("dl-pdf").href = "/api/reports/inspection.pdf?" + q.toString();
    $("dl-xlsx").href = "/api/reports/inspection.xlsx?" + q.toString();
    try {
      [report, coverage] = await Promise.all([
        SL.api("/api/reports/towns?" + q.toString()),
        SL.api("/api/consultations/coverage?year=" + end.slice(0, 4)),
      ]);
    } catch (e) {
      $("ins-error").textContent = e.message;
      return;
    }
    document.body.dataset.loaded = "1";
    render();
  }

  function render() {
    if (!report) return;
    const townLabel = report.town_code ? townName(report.town_code) : SL.t("ins.all_towns");
    $("period").textContent = fmt("ins.period", { from: report.from, to: report.to, town: townLabel });
    $("printed").textContent = fmt("ins.printed", { at: SL.fmtTime(new Date().toISOString(), true) });
    renderKpis();
    renderTowns();
    renderOverdue();
    renderCharts();
    renderCoverage();
  }

  function renderCoverage() {
    if (!coverage) return;
    const town = $("f-town").value;
    const rows = coverage.towns.filter((r) => !town || r.town_code === town);
    $("coverage-caption").textContent = fmt("ins.coverage_caption", { year: coverage.year, target: coverage.target_per_demonstration_point });
    const met = (v) => v === null || v === undefined ? "—" : SL.t(v ? "ins.met_yes" : "ins.met_no");
    $("coverage-table").tBodies[0].innerHTML = rows.map((r) => `<tr data-town="${SL.esc(r.town_code)}">
      <th scope="row">${SL.esc(r.name || r.town_code)}</th><td class="num">${r.points}</td>
      <td class="num">${r.demonstration_points}</td><td class="num">${r.held}</td><td class="num">${r.target || "—"}</td>
      <td>${SL.esc(met(r.met))}</td></tr>`).join("");
  }

  function renderKpis() {
    const tot = report.total;
    const items = [
      ["ins.kpi.intake", String(tot.intake)],
      ["ins.col.resolution_rate", pct(tot.resolution_rate)],
      ["ins.col.on_time_rate", pct(tot.on_time_rate)],
      ["ins.col.satisfaction_rate", pct(tot.satisfaction_rate)],
      ["ins.kpi.overdue_now", String(report.overdue.length)],
    ];
    $("kpis").innerHTML = items.map(([k, v]) =>
      `<div class="kpi"><dt>${SL.esc(SL.t(k))}</dt><dd>${SL.esc(v)}</dd></div>`).join("");
  }

  function behind(kpi, town) {
    const q = new URLSearchParams({ kpi, start: report.from, end: report.to });
    if (town !== undefined) { q.set("by", "town"); q.set("slice", town || "_null"); }
    if (report.town_code) q.set("town_code", report.town_code);
    return "/api/reports/cases?" + q.toString();
  }

  function cells(r, town) {
    const link = `<a href="${SL.esc(behind("received", town))}" title="${SL.esc(SL.t("ins.cases_behind"))}">${r.intake}</a>`;
    return `<td class="num">${link}</td><td class="num">${r.resolved}</td>` +
      RATES.map((k) => `<td class="num">${pct(r[k])}</td>`).join("") + `<td class="num">${r.overdue}</td>`;
  }

  function renderTowns() {
    const body = $("towns-table").tBodies[0];
    if (!report.towns.length) {
      body.innerHTML = `<tr><td colspan="7" class="muted">${SL.esc(SL.t("ins.no_cases"))}</td></tr>`;
    } else {
      body.innerHTML = report.towns.map((r) =>
        `<tr data-town="${SL.esc(r.town_code || "")}"><th scope="row">${SL.esc(rowName(r))}</th>${cells(r, r.town_code)}</tr>`).join("");
    }
    $("towns-table").tFoot.innerHTML = `<tr class="total"><th scope="row">${SL.esc(SL.t("ins.total"))}</th>${cells(report.total)}</tr>`;
  }

  function renderOverdue() {
    const rows = report.overdue;
    $("overdue-empty").hidden = rows.length > 0;
    $("overdue-table").hidden = rows.length === 0;
    $("overdue-table").tBodies[0].innerHTML = rows.map((c) => `<tr>
      <th scope="row">${SL.esc(c.tracking_no)}</th>
      <td>${SL.esc(SL.t("status." + c.status, c.status))}</td>
      <td>${SL.esc(townName(c.town_code))}</td>
      <td>${SL.esc(SL.category(c.category, true) || "—")}</td>
      <td>${SL.esc(c.assignee_id ? fmt("ins.member", { id: c.assignee_id }) : SL.t("ins.unassigned"))}</td>
      <td>${SL.esc(SL.fmtTime(c.due_at, true))}</td>
      <td class="num">${c.hours_over.toFixed(1)}</td></tr>`).join("");
  }

  function chart(id) {
    if (!window.echarts) return null;
    if (!charts[id]) charts[id] = window.echarts.init($(id), null, { renderer: "svg" });
    return charts[id];
  }

  function renderCharts() {
    const rows = report.towns;
    const names = rows.map(rowName);
    const intakeEl = $("chart-intake"), ratesEl = $("chart-rates");
    if (!rows.length) {
      intakeEl.setAttribute("aria-label", SL.t("ins.aria_empty"));
      ratesEl.setAttribute("aria-label", SL.t("ins.aria_empty"));
    } else {
      const sep = SL.lang === "en" ? "; " : "；";
      intakeEl.setAttribute("aria-label", fmt("ins.aria_intake", {
        items: rows.map((r) => `${rowName(r)} ${r.intake}`).join(sep), total: report.total.intake,
      }));
      ratesEl.setAttribute("aria-label", fmt("ins.aria_rates", {
        items: rows.map((r) => rowName(r) + " " + RATES.map((k) => SL.t("ins.col." + k) + " " + pct(r[k])).join(SL.lang === "en" ? ", " : "，")).join(sep),
      }));
    }
    const base = {
      animation: false,
      textStyle: { fontFamily: getComputedStyle(document.body).fontFamily },
      grid: { left: 48, right: 16, top: 40, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: names, axisLabel: { interval: 0, rotate: names.length > 6 ? 35 : 0, color: "#1a1a1a" } },
    };
    const a = chart("chart-intake");
    if (a) {
      a.setOption(Object.assign({}, base, {
        yAxis: { type: "value", minInterval: 1, name: SL.t("ins.col.intake") },
        series: [{ type: "bar", name: SL.t("ins.col.intake"), data: rows.map((r) => r.intake), itemStyle: { color: COLORS[0] },
                   label: { show: true, position: "top", color: "#1a1a1a" }, barMaxWidth: 48 }],
      }), true);
    }
    const b = chart("chart-rates");
    if (b) {
      b.setOption(Object.assign({}, base, {
        legend: { top: 0, textStyle: { color: "#1a1a1a" } },
        tooltip: { trigger: "axis", valueFormatter: (v) => (v == null || v === "-" ? "—" : v + "%") },
        yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
        series: RATES.map((k, i) => ({
          type: "bar", name: SL.t("ins.col." + k), itemStyle: { color: COLORS[i] }, barMaxWidth: 28,
          data: rows.map((r) => (r[k] == null ? "-" : +(r[k] * 100).toFixed(1))),
        })),
      }), true);
    }
  }

  function resizeCharts() { Object.values(charts).forEach((c) => c.resize()); }

  document.addEventListener("DOMContentLoaded", async () => {
    readQuery();
    $("filters").addEventListener("submit", (e) => { e.preventDefault(); load(); });
    $("print").addEventListener("click", () => window.print());
    document.addEventListener("sl:lang", render);
    window.addEventListener("resize", resizeCharts);
    window.addEventListener("beforeprint", resizeCharts);
    window.addEventListener("afterprint", resizeCharts);
    const mq = window.matchMedia("print");
    if (mq.addEventListener) mq.addEventListener("change", resizeCharts);
    try {
      await loadTowns();
      readQuery();
    } catch (e) {
      $("ins-error").textContent = e.message;
    }
    load();
  });
})();
