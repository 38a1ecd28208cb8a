/* The think tank page (/consult/experts): the experts by group, field and town; add, edit, deactivate; import. */
(function () {
  "use strict";
  const root = document.getElementById("experts-page");
  if (!root) return;
  const X = "/api/consultations/experts";
  const KINDS = ["policy", "department", "law", "trade", "notable"];
  const COLUMNS = ["name", "phone", "organisation", "title", "kind", "fields", "town", "conflict_towns", "active"];

  SL.extend({
    zh: {
      "x.title": "协商智库", "x.intro": "政策专家、部门业务骨干、法律人士、行业人士和乡贤组成协商智库，协商时按领域随机抽取。",
      "x.list": "专家名录", "x.count": "共 {n} 人", "x.search": "查找（姓名、单位、领域）", "x.kind": "类别", "x.all": "全部",
      "x.field": "擅长领域", "x.town": "所在镇街", "x.all_towns": "全部镇街", "x.state": "状态", "x.active_only": "在库",
      "x.inactive_only": "已停用", "x.filter": "筛选", "x.name": "姓名", "x.org": "单位与职务", "x.phone": "电话",
      "x.actions": "操作", "x.none": "没有符合条件的专家。", "x.add": "添加专家", "x.edit_title": "编辑专家：{name}",
      "x.name_req": "姓名（必填）", "x.org_only": "工作单位", "x.title_only": "职务或职称", "x.no_town": "不限",
      "x.fields_req": "擅长领域（必填，多个用顿号或逗号分隔）",
      "x.fields_hint": "抽取专家按领域进行，例如：城乡建设、法律咨询、人民调解。",
      "x.conflicts": "须回避的镇街（利益相关，不会被抽到这些镇街的议题）", "x.active_label": "在库（可被抽取）",
      "x.save_new": "添加专家", "x.save_edit": "保存修改", "x.cancel": "取消编辑", "x.edit": "编辑", "x.edit_named": "编辑 {name}",
      "x.deactivate": "停用", "x.deactivate_named": "停用 {name}", "x.activate": "恢复在库", "x.activate_named": "恢复 {name} 在库",
      "x.st.active": "在库", "x.st.inactive": "已停用", "x.added": "已添加专家：{name}", "x.saved": "已保存：{name}",
      "x.deactivated": "已停用：{name}（不再被抽取）", "x.activated": "已恢复在库：{name}",
      "x.import": "批量导入",
      "x.import_help": "上传 Excel（.xlsx）或 CSV（UTF-8 或 GBK）文件批量添加专家。请先“检查”，无误后再“导入”；任何一行有错都不会导入。",
      "x.template": "下载导入模板（.xlsx）", "x.file": "选择文件", "x.check": "检查（不导入）", "x.do_import": "导入",
      "x.import_errors": "逐行错误", "x.row": "行号", "x.column": "列", "x.problem": "问题", "x.choose_file": "请先选择文件。",
      "x.check_ok": "检查通过：共 {n} 行，可以导入。", "x.import_ok": "导入成功：已添加 {n} 名专家。",
      "x.check_bad": "发现 {n} 处错误，未导入任何专家。请修改文件后重新检查。", "x.ro": "督查人员只能查看。",
      "x.kind.policy": "政策专家", "x.kind.department": "部门业务骨干", "x.kind.law": "法律人士", "x.kind.trade": "行业人士",
      "x.kind.notable": "乡贤",
      "x.col.name": "姓名", "x.col.phone": "电话", "x.col.organisation": "单位", "x.col.title": "职务职称", "x.col.kind": "类别",
      "x.col.fields": "擅长领域", "x.col.town": "镇街", "x.col.conflict_towns": "回避地区", "x.col.active": "在库",
    },
    en: {
      "x.title": "Think tank", "x.intro": "Policy experts, departments' specialists, legal professionals, trade experts and local notables make up the think tank; consultations draw them at random by field.",
      "x.list": "Experts", "x.count": "{n} in all", "x.search": "Search (name, organisation, field)", "x.kind": "Group", "x.all": "All",
      "x.field": "Fields", "x.town": "Town", "x.all_towns": "All towns", "x.state": "Status", "x.active_only": "Active",
      "x.inactive_only": "Deactivated", "x.filter": "Filter", "x.name": "Name", "x.org": "Organisation and title", "x.phone": "Phone",
      "x.actions": "Actions", "x.none": "No expert matches.", "x.add": "Add an expert", "x.edit_title": "Edit expert: {name}",
      "x.name_req": "Name (required)", "x.org_only": "Organisation", "x.title_only": "Title or position", "x.no_town": "Any",
      "x.fields_req": "Fields (required; separate several with commas)",
      "x.fields_hint": "Experts are drawn by field, e.g. 城乡建设 (urban and rural construction), 法律咨询 (legal advice), 人民调解 (mediation).",
      "x.conflicts": "Towns to stay away from (a conflict of interest: never drawn for their topics)", "x.active_label": "Active (may be drawn)",
      "x.save_new": "Add expert", "x.save_edit": "Save changes", "x.cancel": "Cancel editing", "x.edit": "Edit", "x.edit_named": "Edit {name}",
      "x.deactivate": "Deactivate", "x.deactivate_named": "Deactivate {name}", "x.activate": "Reactivate", "x.activate_named": "Reactivate {name}",
      "x.st.active": "Active", "x.st.inactive": "Deactivated", "x.added": "Expert added: {name}", "x.saved": "Saved: {name}",
      "x.deactivated": "Deactivated: {name} (no longer drawn)", "x.activated": "Reactivated: {name}",
      "x.import": "Import",
      "x.import_help": "Upload an Excel (.xlsx) or CSV (UTF-8 or GBK) file to add experts. Check first, then import; if any row has an error nothing is imported.",
      "x.template": "Download the template (.xlsx)", "x.file": "File", "x.check": "Check (no import)", "x.do_import": "Import",
      "x.import_errors": "Errors by row", "x.row": "Row", "x.column": "Column", "x.problem": "Problem", "x.choose_file": "Choose a file first.",
      "x.check_ok": "Check passed: {n} rows ready to import.", "x.import_ok": "Imported: {n} experts added.",
      "x.check_bad": "{n} error(s) found; nothing was imported. Fix the file and check again.", "x.ro": "Supervisors can read only.",
      "x.kind.policy": "Policy expert", "x.kind.department": "Department specialist", "x.kind.law": "Legal professional",
      "x.kind.trade": "Trade expert", "x.kind.notable": "Local notable",
      "x.col.name": "Name", "x.col.phone": "Phone", "x.col.organisation": "Organisation", "x.col.title": "Title", "x.col.kind": "Group",
      "x.col.fields": "Fields", "x.col.town": "Town", "x.col.conflict_towns": "Regions to stay away from", "x.col.active": "Active",
    },
  });

  const $ = (id) => document.getElementById(id);
  const esc = SL.esc;
  const canRun = root.dataset.canRun === "true";
  const tr = (key, fb) => `<span data-i18n="${esc(key)}">${esc(SL.t(key, fb))}</span>`;
  const fmt = (key, vars) => Object.entries(vars).reduce((s, [k, v]) => s.replace("{" + k + "}", v), SL.t(key));
  const msg = (ex) => {
    const m = (ex && ex.message) || String(ex);
    const parts = m.split(" / ");
    return parts.length >= 2 ? (SL.lang === "en" ? parts.slice(1).join(" / ") : parts[0]) : m;
  };
  let towns = [], rows = [], lastImport = null, lastFlash = null;
  const townName = (code) => (towns.find((x) => x.code === code) || {}).name || "";

  function flash(make, bad) {
    lastFlash = { make, bad };
    const err = $("x-error"), ok = $("x-ok");
    const text = make();
    if (bad) { err.textContent = text; err.hidden = false; ok.hidden = true; }
    else { err.hidden = true; ok.hidden = false; ok.textContent = text; }
  }

  function query() {
    const q = new URLSearchParams(new FormData($("x-filters")));
    for (const [k, v] of [...q.entries()]) if (v === "") q.delete(k);
    return q.toString();
  }

  async function load() {
    try {
      const q = query();
      rows = await SL.api(X + (q ? "?" + q : ""));
    } catch (ex) { flash(() => msg(ex), true); return; }
    render();
  }

  function render() {
    $("x-count").textContent = "(" + fmt("x.count", { n: rows.length }) + ")";
    $("x-table").querySelector("tbody").innerHTML = rows.map((e) => `<tr data-expert-id="${e.id}">
      <th scope="row">${esc(e.name)}</th>
      <td>${tr("x.kind." + e.kind)}</td>
      <td>${esc(e.organisation || "")}${e.title ? ` <span class="muted">· ${esc(e.title)}</span>` : ""}</td>
      <td>${esc((e.fields || []).join("、"))}</td>
      <td>${esc(townName(e.town_code))}</td>
      <td>${esc(e.phone || "")}</td>
      <td><span class="pill ${e.active ? "done" : "stop"}">${tr(e.active ? "x.st.active" : "x.st.inactive")}</span></td>
      ${canRun ? `<td class="acts"><button type="button" class="edit" data-id="${e.id}"
          aria-label="${esc(fmt("x.edit_named", { name: e.name }))}">${tr("x.edit")}</button>
        <button type="button" class="toggle" data-id="${e.id}" data-active="${e.active}"
          aria-label="${esc(fmt(e.active ? "x.deactivate_named" : "x.activate_named", { name: e.name }))}">${tr(e.active ? "x.deactivate" : "x.activate")}</button></td>` : ""}
    </tr>`).join("");
    $("x-empty").hidden = rows.length > 0;
  }

  async function loadFields() {
    const fields = await SL.api(X + "/fields").catch(() => []);
    const sel = $("xf-field"), cur = sel.value;
    sel.innerHTML = `<option value="">${esc(SL.t("x.all"))}</option>` + fields.map((f) => `<option value="${esc(f)}">${esc(f)}</option>`).join("");
    sel.value = cur;
    const list = $("xe-fields-list");
    if (list) list.innerHTML = fields.map((f) => `<option value="${esc(f)}">`).join("");
  }

  function kindOptions(sel, withAll) {
    const cur = sel.value;
    sel.innerHTML = (withAll ? `<option value="">${esc(SL.t("x.all"))}</option>` : "") +
      KINDS.map((k) => `<option value="${k}">${esc(SL.t("x.kind." + k))}</option>`).join("");
    if (cur) sel.value = cur;
  }

  // ---- add and edit
  function resetForm() {
    const f = $("x-form");
    f.reset();
    $("xe-id").value = "";
    $("x-form-title").textContent = SL.t("x.add");
    $("xe-save").textContent = SL.t("x.save_new");
    $("xe-cancel").hidden = true;
  }
  function editExpert(e) {
    $("xe-id").value = e.id;
    $("xe-name").value = e.name;
    $("xe-kind").value = e.kind;
    $("xe-phone").value = e.phone || "";
    $("xe-org").value = e.organisation || "";
    $("xe-title").value = e.title || "";
    $("xe-town").value = e.town_code || "";
    $("xe-fields").value = (e.fields || []).join("、");
    $("xe-active").checked = e.active;
    document.querySelectorAll("#xe-conflicts input").forEach((c) => { c.checked = (e.conflict_towns || []).includes(c.value); });
    $("x-form-title").textContent = fmt("x.edit_title", { name: e.name });
    $("xe-save").textContent = SL.t("x.save_edit");
    $("xe-cancel").hidden = false;
    $("xe-name").focus();
  }
  async function save(ev) {
    ev.preventDefault();
    const id = $("xe-id").value;
    const body = {
      name: $("xe-name").value.trim(),
      kind: $("xe-kind").value,
      phone: $("xe-phone").value.trim() || null,
      organisation: $("xe-org").value.trim() || null,
      title: $("xe-title").value.trim() || null,
      town_code: $("xe-town").value || null,
      fields: $("xe-fields").value.split(/[、,，;；|/\n]+/).map((s) => s.trim()).filter(Boolean),
      conflict_towns: [...document.querySelectorAll("#xe-conflicts input:checked")].map((c) => c.value),
      active: $("xe-active").checked,
    };
    const btn = $("xe-save");
    btn.disabled = true;
    try {
      const out = await SL.api(id ? `${X}/${id}` : X, { method: id ? "PATCH" : "POST", body });
      flash(() => fmt(id ? "x.saved" : "x.added", { name: out.name }));
      resetForm();
      await Promise.all([load(), loadFields()]);
    } catch (ex) { flash(() => msg(ex), true); } finally { btn.disabled = false; }
  }

  // ---- import
  async function doImport(dry) {
    const file = $("xi-file").files[0];
    const out = $("xi-result");
    if (!file) { out.textContent = SL.t("x.choose_file"); out.className = "status error"; $("xi-file").focus(); return; }
    const fd = new FormData();
    fd.append("file", file);
    fd.append("dry_run", dry ? "true" : "false");
    for (const b of [$("xi-check"), $("xi-run")]) b.disabled = true;
    try {
      lastImport = await SL.api(X + "/import", { method: "POST", body: fd });
      if (!dry) await Promise.all([load(), loadFields()]);
    } catch (ex) {
      lastImport = ex.details && ex.details.errors ? ex.details : { error: msg(ex) };
    } finally { for (const b of [$("xi-check"), $("xi-run")]) b.disabled = false; }
    renderImport();
  }
  function renderImport() {
    const r = lastImport, out = $("xi-result"), table = $("xi-errors");
    if (!r) { out.textContent = ""; table.hidden = true; return; }
    if (r.error) { out.textContent = r.error; out.className = "status error"; table.hidden = true; return; }
    if (r.errors.length) {
      out.textContent = fmt("x.check_bad", { n: r.errors.length });
      out.className = "status error";
      table.querySelector("tbody").innerHTML = r.errors.map((e) => `<tr><td class="num">${e.row}</td>
        <td>${e.field ? esc(SL.t("x.col." + e.field, COLUMNS.includes(e.field) ? e.field : "")) : ""}</td>
        <td>${esc(SL.lang === "en" ? e.message_en || e.message : e.message_zh || e.message)}</td></tr>`).join("");
      table.hidden = false;
    } else {
      out.textContent = fmt(r.dry_run ? "x.check_ok" : "x.import_ok", { n: r.dry_run ? r.rows : r.created });
      out.className = "status ok";
      table.hidden = true;
    }
  }

  function relabel() {
    kindOptions($("xf-kind"), true);
    if (canRun) {
      kindOptions($("xe-kind"), false);
      if (!$("xe-id").value) { $("x-form-title").textContent = SL.t("x.add"); $("xe-save").textContent = SL.t("x.save_new"); }
      else { $("xe-save").textContent = SL.t("x.save_edit"); }
      renderImport();
    }
    if (lastFlash) flash(lastFlash.make, lastFlash.bad);
    loadFields();
    render();
  }

  (async function start() {
    kindOptions($("xf-kind"), true);
    try { towns = await SL.api("/api/regions?level=town"); } catch (ex) { towns = []; }
    const townOpts = towns.map((r) => `<option value="${esc(r.code)}">${esc(r.name)}</option>`).join("");
    $("xf-town").insertAdjacentHTML("beforeend", townOpts);
    $("x-filters").addEventListener("submit", (e) => { e.preventDefault(); load(); });
    if (canRun) {
      kindOptions($("xe-kind"), false);
      $("xe-town").insertAdjacentHTML("beforeend", townOpts);
      $("xe-conflicts").innerHTML = towns.map((r) => `<label class="check" for="xc-${esc(r.code)}">
        <input type="checkbox" id="xc-${esc(r.code)}" value="${esc(r.code)}"> ${esc(r.name)}</label>`).join("");
      $("x-form").addEventListener("submit", save);
      $("xe-cancel").addEventListener("click", resetForm);
      $("x-import").addEventListener("submit", (e) => { e.preventDefault(); doImport(false); });
      $("xi-check").addEventListener("click", () => doImport(true));
      $("xi-file").addEventListener("change", () => { lastImport = null; renderImport(); });
      $("x-table").addEventListener("click", async (e) => {
        const b = e.target.closest("button");
        if (!b) return;
        const expert = rows.find((x) => String(x.id) === b.dataset.id);
        if (!expert) return;
        if (b.classList.contains("edit")) { editExpert(expert); return; }
        if (b.classList.contains("toggle")) {
          const active = b.dataset.active !== "true";
          try {
            const out = await SL.api(`${X}/${expert.id}`, { method: "PATCH", body: { active } });
            flash(() => fmt(active ? "x.activated" : "x.deactivated", { name: out.name }));
            await Promise.all([load(), loadFields()]);
          } catch (ex) { flash(() => msg(ex), true); }
        }
      });
    }
    document.addEventListener("sl:lang", relabel);
    await Promise.all([load(), loadFields()]);
  })();
})();
