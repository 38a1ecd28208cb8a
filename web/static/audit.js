/* The admins' audit page: filters → GET /api/admin/audit, one page at a time. */
(function () {
  "use strict";
  SL.extend({
    zh: { "aud.title": "操作审计", "aud.intro": "工作人员、委员和接口密钥的每一次写操作，以及个人信息的导出和下载。",
          "aud.actor": "操作人", "aud.role": "角色", "aud.method": "方法", "aud.path": "路径前缀", "aud.status": "状态码",
          "aud.from": "起", "aud.to": "止", "aud.search": "查询", "aud.any": "全部", "aud.caption": "审计记录（最新在前）",
          "aud.at": "时间", "aud.target": "对象", "aud.ip": "地址", "aud.summary": "摘要", "aud.pages": "分页",
          "aud.prev": "上一页", "aud.next": "下一页", "aud.count": "共 {n} 条", "aud.none": "没有符合条件的记录",
          "aud.failed": "加载失败：" },
    en: { "aud.title": "Audit log", "aud.intro": "Every write by staff, members and API keys, and every export or download of personal data.",
          "aud.actor": "Actor", "aud.role": "Role", "aud.method": "Method", "aud.path": "Path prefix", "aud.status": "Status",
          "aud.from": "From", "aud.to": "To", "aud.search": "Search", "aud.any": "All", "aud.caption": "Audit entries (newest first)",
          "aud.at": "Time", "aud.target": "Target", "aud.ip": "Address", "aud.summary": "Summary", "aud.pages": "Pages",
          "aud.prev": "Previous", "aud.next": "Next", "aud.count": "{n} entries", "aud.none": "No matching entries",
          "aud.failed": "Could not load: " },
  });
  const form = document.getElementById("audit-filters");
  const body = document.querySelector("#audit-table tbody");
  const status = document.getElementById("audit-status");
  const pageLabel = document.getElementById("audit-page");
  const prev = document.getElementById("audit-prev"), next = document.getElementById("audit-next");
  let page = 1, pages = 1, last = null;

  function shanghaiMidnight(day) { return day ? day + "T00:00:00+08:00" : ""; }
  function nextDay(day) {
    if (!day) return "";
    const d = new Date(day + "T00:00:00Z"); d.setUTCDate(d.getUTCDate() + 1);
    return d.toISOString().slice(0, 10) + "T00:00:00+08:00";
  }

  function query() {
    const f = new FormData(form), q = new URLSearchParams();
    for (const name of ["actor", "role", "method", "path", "status"]) { const v = (f.get(name) || "").trim(); if (v) q.set(name, v); }
    if (f.get("from")) q.set("from", shanghaiMidnight(f.get("from")));
    if (f.get("to")) q.set("to", nextDay(f.get("to")));
    q.set("page", String(page));
    return q;
  }

  function render(data) {
    last = data;
    pages = Math.max(1, Math.ceil(data.total / data.page_size));
    body.innerHTML = data.items.map((e) => "<tr>" +
      "<td>" + SL.esc(SL.fmtTime(e.at, true)) + "</td>" +
      "<td>" + SL.esc(e.actor_name || (e.actor_kind + ":" + e.actor_id)) + "</td>" +
      "<td>" + SL.esc(e.actor_role) + "</td><td>" + SL.esc(e.method) + "</td>" +
      "<td><code>" + SL.esc(e.path) + "</code></td>" +
      "<td>" + SL.esc(e.target_type ? e.target_type + " " + e.target_id : "") + "</td>" +
      "<td>" + SL.esc(e.status) + "</td><td>" + SL.esc(e.client_ip) + "</td>" +
      "<td class=\"summary\">" + SL.esc(e.summary) + "</td></tr>").join("");
    status.textContent = data.total ? SL.t("aud.count").replace("{n}", data.total) : SL.t("aud.none");
    pageLabel.textContent = page + " / " + pages;
    prev.disabled = page <= 1; next.disabled = page >= pages;
  }

  async function load() {
    try { render(await SL.api("/api/admin/audit?" + query().toString())); }
    catch (err) { status.textContent = SL.t("aud.failed") + err.message; }
  }

  form.addEventListener("submit", (e) => { e.preventDefault(); page = 1; load(); });
  prev.addEventListener("click", () => { if (page > 1) { page -= 1; load(); } });
  next.addEventListener("click", () => { if (page < pages) { page += 1; load(); } });
  document.addEventListener("sl:lang", () => { if (last) render(last); });
  load();
})();
