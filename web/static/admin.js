/* Admin pages: accounts, members, points, departments and the spreadsheet import of members. */
(function () {
  "use strict";
  const SL = window.SL;
  SL.extend({
    zh: {
      "adm.title": "系统管理", "adm.person": "姓名", "adm.sections": "管理栏目", "adm.accounts": "账号", "adm.members": "委员", "adm.points": "点位",
      "adm.departments": "部门", "adm.import": "批量导入", "adm.users_caption": "系统账号", "adm.username": "用户名",
      "adm.role": "角色", "adm.member": "关联委员", "adm.state": "状态", "adm.created": "创建时间", "adm.actions": "操作",
      "adm.new_user": "新建账号", "adm.password": "初始密码（至少 8 位）", "adm.member_opt": "关联委员（委员账号必填）", "adm.member_find": "查找委员（姓名、镇街或电话）", "adm.member_hits": "找到 {n} 名",
      "adm.create": "创建", "adm.members_caption": "委员名单（负载 = 待签 + 已签收 + 办理中）", "adm.name": "名称",
      "adm.level": "层级", "adm.town": "镇街", "adm.village": "村社区", "adm.load": "负载", "adm.capacity": "容量",
      "adm.categories": "擅长类别", "adm.categories_hint": "擅长类别（用 、 分隔，留空为全部）", "adm.duty": "在岗",
      "adm.on_duty": "在岗", "adm.new_member": "新增委员", "adm.phone": "电话", "adm.sector": "界别", "adm.email": "邮箱",
      "adm.points_caption": "点位与二维码", "adm.kind": "类型", "adm.qr": "二维码", "adm.new_point": "新增点位",
      "adm.departments_caption": "职能部门（个人诉求转办对象）", "adm.new_department": "新增部门",
      "adm.import_help": "上传 Excel（.xlsx）或 CSV（UTF-8 或 GBK）文件批量新增委员。请先“检查”，无误后再“导入”；任何一行有错都不会导入。",
      "adm.template": "下载导入模板（.xlsx）", "adm.file": "选择文件", "adm.check": "检查（不导入）", "adm.do_import": "导入",
      "adm.import_errors": "逐行错误", "adm.row": "行号", "adm.field": "列", "adm.error": "问题",
      "adm.reset_pw": "重置密码", "adm.new_password": "新密码（至少 8 位）", "adm.cancel": "取消", "adm.save": "保存",
      "adm.active": "启用", "adm.inactive": "已停用", "adm.deactivate": "停用", "adm.activate": "启用",
      "adm.you": "（本人）", "adm.on": "在岗", "adm.off": "离岗", "adm.set_off": "设为离岗", "adm.set_on": "设为在岗",
      "adm.rotate": "更换二维码", "adm.rotated": "已更换二维码：旧码将提示“已更换”。", "adm.poster": "A4海报",
      "adm.confirm_rotate": "为“{name}”更换二维码？旧海报将失效，需张贴新海报。", "adm.posters_town": "下载该镇街全部海报（PDF）",
      "adm.revoke": "作废", "adm.revoked": "已作废", "adm.valid": "有效", "adm.all": "全部类别",
      "adm.saved": "已保存。", "adm.created_ok": "已创建：{name}", "adm.pw_done": "已重置 {name} 的密码。",
      "adm.confirm_revoke": "作废点位“{name}”？二维码将失效。", "adm.confirm_off": "停用账号 {name}？",
      "adm.check_ok": "检查通过：共 {n} 行，可以导入。", "adm.import_ok": "导入成功：已创建 {n} 名委员。",
      "adm.check_bad": "发现 {n} 处错误，未导入任何数据。请修改文件后重新检查。", "adm.choose_file": "请先选择文件。",
      "adm.capacity_of": "{name} 的容量", "adm.categories_of": "{name} 的擅长类别",
      "role.admin": "管理员", "role.operator": "值班员", "role.supervisor": "督查人员", "role.member": "委员",
      "level.district": "区级", "level.town": "镇级", "level.village": "村级",
      "kind.consultation_room": "协商议事室", "kind.member_studio": "委员工作室", "kind.opinion_point": "社情民意联系点", "kind.other": "其他",
      "field.name": "姓名", "field.phone": "电话", "field.level": "层级", "field.sector": "界别", "field.town": "镇街",
      "field.village": "村社区", "field.categories": "擅长类别", "field.capacity": "容量", "field.on_duty": "在岗",
      "field.lat": "纬度", "field.lon": "经度", "field.coord_system": "坐标系",
      "adm.apikeys": "API 密钥", "adm.apikeys_caption": "API 密钥（Open311 应用、12345 平台、邮件网关）",
      "adm.key_prefix": "密钥前缀", "adm.scopes": "权限范围", "adm.new_apikey": "签发密钥", "adm.key_name": "名称（调用方）",
      "adm.scope_hotline": "12345 工单", "adm.scope_mail": "来信", "adm.issue": "签发",
      "adm.key_once": "新密钥只显示这一次，请立即复制保存：", "adm.new_key": "新密钥", "adm.copy": "复制", "adm.copied": "已复制。",
      "adm.key_issued": "已签发：{name}", "adm.confirm_revoke_key": "作废密钥“{name}”？使用它的调用将立即被拒绝。",
      "adm.key_revoked": "已作废密钥：{name}", "adm.no_scope": "请至少选择一项权限范围。", "adm.no_keys": "还没有 API 密钥。",
    },
    en: {
      "adm.title": "Administration", "adm.person": "Name", "adm.sections": "Sections", "adm.accounts": "Accounts", "adm.members": "Members", "adm.points": "Points",
      "adm.departments": "Departments", "adm.import": "Import", "adm.users_caption": "Accounts", "adm.username": "Username",
      "adm.role": "Role", "adm.member": "Member", "adm.state": "State", "adm.created": "Created", "adm.actions": "Actions",
      "adm.new_user": "New account", "adm.password": "Initial password (8+ characters)", "adm.member_opt": "Member (required for member accounts)", "adm.member_find": "Find a member (name, town or phone)", "adm.member_hits": "{n} found",
      "adm.create": "Create", "adm.members_caption": "Members (load = open offers + accepted + in progress)", "adm.name": "Name",
      "adm.level": "Level", "adm.town": "Town", "adm.village": "Village", "adm.load": "Load", "adm.capacity": "Capacity",
      "adm.categories": "Categories", "adm.categories_hint": "Categories (separated by 、 or comma; empty = all)", "adm.duty": "On duty",
      "adm.on_duty": "On duty", "adm.new_member": "New member", "adm.phone": "Phone", "adm.sector": "Sector", "adm.email": "Email",
      "adm.points_caption": "Points and QR codes", "adm.kind": "Kind", "adm.qr": "QR code", "adm.new_point": "New point",
      "adm.departments_caption": "Departments (individual claims are forwarded to them)", "adm.new_department": "New department",
      "adm.import_help": "Upload an Excel (.xlsx) or CSV (UTF-8 or GBK) file to add members. Check first, then import; if any row has an error nothing is imported.",
      "adm.template": "Download the template (.xlsx)", "adm.file": "File", "adm.check": "Check (no import)", "adm.do_import": "Import",
      "adm.import_errors": "Errors by row", "adm.row": "Row", "adm.field": "Column", "adm.error": "Problem",
      "adm.reset_pw": "Reset password", "adm.new_password": "New password (8+ characters)", "adm.cancel": "Cancel", "adm.save": "Save",
      "adm.active": "Active", "adm.inactive": "Deactivated", "adm.deactivate": "Deactivate", "adm.activate": "Activate",
      "adm.you": " (you)", "adm.on": "On duty", "adm.off": "Off duty", "adm.set_off": "Set off duty", "adm.set_on": "Set on duty",
      "adm.rotate": "New code", "adm.rotated": "New code issued: the old one now says it was replaced.", "adm.poster": "A4 poster",
      "adm.confirm_rotate": "Issue a new code for \"{name}\"? Old posters stop working; put up the new one.",
      "adm.posters_town": "Download all posters of the town (PDF)",
      "adm.revoke": "Revoke", "adm.revoked": "Revoked", "adm.valid": "Active", "adm.all": "All categories",
      "adm.saved": "Saved.", "adm.created_ok": "Created: {name}", "adm.pw_done": "Password of {name} reset.",
      "adm.confirm_revoke": "Revoke point \"{name}\"? Its QR code will stop working.", "adm.confirm_off": "Deactivate {name}?",
      "adm.check_ok": "Check passed: {n} rows ready to import.", "adm.import_ok": "Imported: {n} members created.",
      "adm.check_bad": "{n} error(s) found; nothing was imported. Fix the file and check again.", "adm.choose_file": "Choose a file first.",
      "adm.capacity_of": "Capacity of {name}", "adm.categories_of": "Categories of {name}",
      "role.admin": "Administrator", "role.operator": "Operator", "role.supervisor": "Supervisor", "role.member": "Member",
      "level.district": "District", "level.town": "Town", "level.village": "Village",
      "kind.consultation_room": "Consultation room", "kind.member_studio": "Member studio", "kind.opinion_point": "Opinion contact point", "kind.other": "Other",
      "field.name": "Name", "field.phone": "Phone", "field.level": "Level", "field.sector": "Sector", "field.town": "Town",
      "field.village": "Village", "field.categories": "Categories", "field.capacity": "Capacity", "field.on_duty": "On duty",
      "field.lat": "Latitude", "field.lon": "Longitude", "field.coord_system": "Coordinate system",
      "adm.apikeys": "API keys", "adm.apikeys_caption": "API keys (Open311 apps, the 12345 platform, mail gateways)",
      "adm.key_prefix": "Key prefix", "adm.scopes": "Scopes", "adm.new_apikey": "Issue a key", "adm.key_name": "Name (the caller)",
      "adm.scope_hotline": "12345 work orders", "adm.scope_mail": "Mail", "adm.issue": "Issue",
      "adm.key_once": "The new key is shown this once: copy it now.", "adm.new_key": "New key", "adm.copy": "Copy", "adm.copied": "Copied.",
      "adm.key_issued": "Issued: {name}", "adm.confirm_revoke_key": "Revoke the key \"{name}\"? Calls with it are refused at once.",
      "adm.key_revoked": "Key revoked: {name}", "adm.no_scope": "Choose at least one scope.", "adm.no_keys": "No API keys yet.",
    },
  });

  const $ = (id) => document.getElementById(id);
  const fmt = (key, vars) => SL.t(key).replace(/\{(\w+)\}/g, (_, k) => (vars[k] == null ? "" : vars[k]));
  const esc = SL.esc;
  const state = { me: null, users: [], members: [], points: [], departments: [], towns: [], villages: [], lastImport: null, apikeys: [] };
  const regionName = (code) => { const r = state.towns.concat(state.villages).find((x) => x.code === code); return r ? r.name : (code || "—"); };

  function status(msg, isError) {
    const el = $("adm-status");
    el.textContent = msg || "";
    el.className = "status " + (isError ? "error" : "ok");
  }
  async function run(fn) {
    try { await fn(); } catch (e) { status(e.message, true); }
  }

  // ---- tabs (WAI-ARIA tabs: arrow keys move, Home/End jump) ----
  function selectTab(tab, focus) {
    document.querySelectorAll('[role="tab"]').forEach((t) => {
      const on = t === tab;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute("aria-controls")).hidden = !on;
    });
    if (focus) tab.focus();
    status("");
    history.replaceState(null, "", "#" + tab.id.slice(4));
  }
  function initTabs() {
    const tabs = Array.from(document.querySelectorAll('[role="tab"]'));
    tabs.forEach((t, i) => {
      t.addEventListener("click", () => selectTab(t, false));
      t.addEventListener("keydown", (e) => {
        let j = null;
        if (e.key === "ArrowRight") j = (i + 1) % tabs.length;
        else if (e.key === "ArrowLeft") j = (i - 1 + tabs.length) % tabs.length;
        else if (e.key === "Home") j = 0;
        else if (e.key === "End") j = tabs.length - 1;
        if (j !== null) { e.preventDefault(); selectTab(tabs[j], true); }
      });
    });
    const initial = $("tab-" + location.hash.slice(1));
    if (initial) selectTab(initial, false);
  }

  // ---- regions ----
  function fillTowns() {
    document.querySelectorAll(".town-select").forEach((sel) => {
      sel.innerHTML = '<option value="">—</option>' + state.towns.map((t) => `<option value="${esc(t.code)}">${esc(t.name)}</option>`).join("");
    });
  }
  function fillVillages(sel, townCode) {
    const list = state.villages.filter((v) => !townCode || v.parent_code === townCode);
    sel.innerHTML = '<option value="">—</option>' + list.map((v) => `<option value="${esc(v.code)}">${esc(v.name)}</option>`).join("");
  }

  // ---- accounts ----
  async function loadUsers() { state.users = await SL.api("/api/users"); renderUsers(); }
  function renderUsers() {
    $("users-table").tBodies[0].innerHTML = state.users.map((u) => {
      const self = state.me && u.id === state.me.id;
      const member = u.member_id ? (state.members.find((m) => m.id === u.member_id) || {}).name || "#" + u.member_id : "—";
      const toggle = self ? "" : `<button type="button" data-act="toggle-user" data-id="${u.id}">${esc(SL.t(u.active ? "adm.deactivate" : "adm.activate"))}</button>`;
      return `<tr><th scope="row">${esc(u.username)}${self ? esc(SL.t("adm.you")) : ""}</th>
        <td>${esc(SL.t("role." + u.role, u.role))}</td><td>${esc(member)}</td>
        <td><span class="pill ${u.active ? "on" : "off"}">${esc(SL.t(u.active ? "adm.active" : "adm.inactive"))}</span></td>
        <td>${esc(SL.fmtTime(u.created_at, true))}</td>
        <td><div class="btns">${toggle}<button type="button" data-act="reset-pw" data-id="${u.id}">${esc(SL.t("adm.reset_pw"))}</button></div></td></tr>`;
    }).join("");
  }
  // the member of a member account: found by name, town or phone (the list shows at most 50 matches)
  function memberLabel(m) {
    return [m.name, m.town_code ? regionName(m.town_code) : "", SL.t("level." + m.level, m.level), m.phone].filter(Boolean).join(" · ");
  }
  function fillMemberSelect() {
    const sel = $("u-member"), keep = sel.value, q = $("u-member-find").value.trim().toLowerCase();
    const hits = state.members.filter((m) => !q || memberLabel(m).toLowerCase().includes(q));
    sel.innerHTML = `<option value="">${esc(q ? SL.t("adm.member_hits", "{n}").replace("{n}", hits.length) : "—")}</option>` +
      hits.slice(0, 50).map((m) => `<option value="${m.id}">${esc(memberLabel(m))}</option>`).join("");
    sel.value = hits.some((m) => String(m.id) === keep) ? keep : (q && hits.length ? String(hits[0].id) : "");
  }

  // ---- members ----
  async function loadMembers() { state.members = await SL.api("/api/members"); renderMembers(); fillMemberSelect(); }
  function renderMembers() {
    $("members-table").tBodies[0].innerHTML = state.members.map((m) => `<tr data-id="${m.id}">
      <th scope="row">${esc(m.name)}</th><td>${esc(SL.t("level." + m.level, m.level))}</td>
      <td>${esc(m.town_code ? regionName(m.town_code) : "—")}${m.village_code ? " · " + esc(regionName(m.village_code)) : ""}</td>
      <td class="num">${m.load}</td>
      <td><input type="number" min="0" max="1000" value="${m.capacity}" data-field="capacity" aria-label="${esc(fmt("adm.capacity_of", { name: m.name }))}"></td>
      <td><input value="${esc(m.categories.join("、"))}" placeholder="${esc(SL.t("adm.all"))}" data-field="categories" aria-label="${esc(fmt("adm.categories_of", { name: m.name }))}"></td>
      <td><span class="pill ${m.on_duty ? "on" : "off"}">${esc(SL.t(m.on_duty ? "adm.on" : "adm.off"))}</span></td>
      <td><div class="btns"><button type="button" data-act="save-member" data-id="${m.id}">${esc(SL.t("adm.save"))}</button>
        <button type="button" data-act="toggle-duty" data-id="${m.id}">${esc(SL.t(m.on_duty ? "adm.set_off" : "adm.set_on"))}</button></div></td></tr>`).join("");
  }
  const splitCats = (s) => s.split(/[、,，;；|｜]+/).map((x) => x.trim()).filter(Boolean);

  // ---- points ----
  async function loadPoints() { state.points = await SL.api("/api/points"); renderPoints(); }
  function renderPoints() {
    $("points-table").tBodies[0].innerHTML = state.points.map((p) => `<tr>
      <th scope="row">${esc(p.name)}</th><td>${esc(SL.t("kind." + p.kind, p.kind))}</td>
      <td>${esc(regionName(p.town_code))} · ${esc(regionName(p.village_code))}</td>
      <td><span class="pill ${p.active ? "on" : "off"}">${esc(SL.t(p.active ? "adm.valid" : "adm.revoked"))}</span></td>
      <td><a href="/api/points/${p.id}/qr.svg" target="_blank" rel="noopener">qr.svg</a> · <a href="/api/points/${p.id}/qr.png" download>qr.png</a>
        ${p.active ? ` · <a href="/api/points/${p.id}/poster.pdf" download>${esc(SL.t("adm.poster"))}</a>
        <br><a class="point-url" href="${esc(p.qr_url)}" target="_blank" rel="noopener">${esc(p.qr_url)}</a>` : ""}</td>
      <td>${p.active ? `<button type="button" data-act="rotate-point" data-id="${p.id}">${esc(SL.t("adm.rotate"))}</button>
        <button type="button" data-act="revoke-point" data-id="${p.id}">${esc(SL.t("adm.revoke"))}</button>` : ""}</td></tr>`).join("");
  }

  // ---- departments ----
  async function loadDepartments() { state.departments = await SL.api("/api/departments"); renderDepartments(); }
  function renderDepartments() {
    $("departments-table").tBodies[0].innerHTML = state.departments.map((d) =>
      `<tr><th scope="row">${esc(d.name)}</th><td>${esc(d.phone || "—")}</td><td>${esc(d.email || "—")}</td></tr>`).join("");
  }

  // ---- import ----
  async function doImport(dryRun) {
    const file = $("import-file").files[0];
    const out = $("import-result"), table = $("import-errors");
    if (!file) { out.textContent = SL.t("adm.choose_file"); out.className = "status error"; $("import-file").focus(); return; }
    const fd = new FormData();
    fd.append("file", file);
    fd.append("dry_run", dryRun ? "true" : "false");
    out.textContent = "…"; out.className = "status";
    let result;
    try {
      result = await SL.api("/api/members/import", { method: "POST", body: fd });
    } catch (e) {
      result = e.details && e.details.errors ? e.details : { errors: [{ row: "", field: "", message: e.message }] };
    }
    state.lastImport = result;
    renderImport();
    if (!dryRun && !result.errors.length) await loadMembers();
  }
  function renderImport() {
    const r = state.lastImport, out = $("import-result"), table = $("import-errors");
    if (!r) return;
    if (r.errors.length) {
      out.textContent = fmt("adm.check_bad", { n: r.errors.length });
      out.className = "status error";
    } else {
      out.textContent = fmt(r.dry_run ? "adm.check_ok" : "adm.import_ok", { n: r.created });
      out.className = "status ok";
    }
    table.hidden = !r.errors.length;
    // each error in the page's language (message_zh / message_en); the column's letter in the file with its name
    table.tBodies[0].innerHTML = r.errors.map((e) => {
      const name = e.field ? SL.t("field." + e.field, e.field) : "—";
      const where = e.column ? `${e.column} · ${name}` : name;
      const message = e["message_" + SL.lang] || e.message;
      return `<tr><th scope="row">${esc(e.row)}</th><td>${esc(where)}</td><td>${esc(message)}</td></tr>`;
    }).join("");
  }

  // ---- API keys ----
  async function loadApiKeys() { state.apikeys = await SL.api("/api/open311/keys"); renderApiKeys(); }
  function renderApiKeys() {
    if (!state.apikeys.length) {
      $("apikeys-table").tBodies[0].innerHTML = `<tr class="empty"><td colspan="6">${esc(SL.t("adm.no_keys"))}</td></tr>`;
      return;
    }
    $("apikeys-table").tBodies[0].innerHTML = state.apikeys.map((k) => `<tr>
      <th scope="row">${esc(k.name)}</th><td><code>${esc(k.prefix)}…</code></td><td>${esc(k.scopes.join(", "))}</td>
      <td><span class="pill ${k.active ? "on" : "off"}">${esc(SL.t(k.active ? "adm.valid" : "adm.revoked"))}</span></td>
      <td>${esc(SL.fmtTime(k.created_at, true))}</td>
      <td>${k.active ? `<button type="button" data-act="revoke-key" data-id="${k.id}">${esc(SL.t("adm.revoke"))}</button>` : ""}</td></tr>`).join("");
  }

  function renderAll() { renderUsers(); renderMembers(); renderPoints(); renderDepartments(); renderImport(); renderApiKeys(); }

  // ---- events ----
  function formJSON(form) {
    const out = {};
    new FormData(form).forEach((v, k) => { if (typeof v === "string" && v.trim() !== "") out[k] = v.trim(); });
    return out;
  }

  document.addEventListener("click", (e) => {
    const btn = e.target.closest("button[data-act]");
    if (!btn) return;
    const id = +btn.dataset.id;
    run(async () => {
      if (btn.dataset.act === "toggle-user") {
        const u = state.users.find((x) => x.id === id);
        if (u.active && !confirm(fmt("adm.confirm_off", { name: u.username }))) return;
        await SL.api(`/api/users/${id}`, { method: "PATCH", body: { active: !u.active } });
        await loadUsers(); status(SL.t("adm.saved"));
      } else if (btn.dataset.act === "reset-pw") {
        const u = state.users.find((x) => x.id === id);
        const dlg = $("pw-dialog");
        dlg.dataset.id = id;
        $("pw-user").textContent = u.username;
        $("pw-new").value = "";
        dlg.showModal();
        $("pw-new").focus();
      } else if (btn.dataset.act === "toggle-duty") {
        const m = state.members.find((x) => x.id === id);
        await SL.api(`/api/members/${id}`, { method: "PATCH", body: { on_duty: !m.on_duty } });
        await loadMembers(); status(SL.t("adm.saved"));
        const again = document.querySelector(`button[data-act="toggle-duty"][data-id="${id}"]`);
        if (again) again.focus();
      } else if (btn.dataset.act === "save-member") {
        const row = btn.closest("tr");
        const capacity = +row.querySelector('[data-field="capacity"]').value;
        const categories = splitCats(row.querySelector('[data-field="categories"]').value);
        await SL.api(`/api/members/${id}`, { method: "PATCH", body: { capacity, categories } });
        await loadMembers(); status(SL.t("adm.saved"));
      } else if (btn.dataset.act === "rotate-point") {
        const p = state.points.find((x) => x.id === id);
        if (!confirm(fmt("adm.confirm_rotate", { name: p.name }))) return;
        await SL.api(`/api/points/${id}/rotate`, { method: "POST" });
        await loadPoints(); status(SL.t("adm.rotated"));
      } else if (btn.dataset.act === "revoke-key") {
        const k = state.apikeys.find((x) => x.id === id);
        if (!confirm(fmt("adm.confirm_revoke_key", { name: k.name }))) return;
        await SL.api(`/api/open311/keys/${id}`, { method: "DELETE" });
        if (state.newKeyId === id) { $("apikey-new").hidden = true; $("apikey-raw").value = ""; state.newKeyId = null; }
        await loadApiKeys(); status(fmt("adm.key_revoked", { name: k.name }));
      } else if (btn.dataset.act === "revoke-point") {
        const p = state.points.find((x) => x.id === id);
        if (!confirm(fmt("adm.confirm_revoke", { name: p.name }))) return;
        await SL.api(`/api/points/${id}/revoke`, { method: "POST" });
        await loadPoints(); status(SL.t("adm.saved"));
      }
    });
  });

  function bindForms() {
    $("u-member-find").addEventListener("input", fillMemberSelect);
    $("user-form").addEventListener("submit", (e) => {
      e.preventDefault();
      run(async () => {
        const body = formJSON(e.target);
        if (body.member_id) body.member_id = +body.member_id;
        const u = await SL.api("/api/users", { method: "POST", body });
        e.target.reset();
        await loadUsers(); status(fmt("adm.created_ok", { name: u.username }));
      });
    });
    $("member-form").addEventListener("submit", (e) => {
      e.preventDefault();
      run(async () => {
        const body = formJSON(e.target);
        body.capacity = +($("m-capacity").value || 3);
        body.on_duty = $("m-duty").checked;
        body.categories = splitCats(body.categories || "");
        const m = await SL.api("/api/members", { method: "POST", body });
        e.target.reset(); fillVillages($("m-village"), "");
        await loadMembers(); status(fmt("adm.created_ok", { name: m.name }));
      });
    });
    $("point-form").addEventListener("submit", (e) => {
      e.preventDefault();
      run(async () => {
        const p = await SL.api("/api/points", { method: "POST", body: formJSON(e.target) });
        e.target.reset(); fillVillages($("p-village"), "");
        await loadPoints(); status(fmt("adm.created_ok", { name: p.name }));
      });
    });
    $("department-form").addEventListener("submit", (e) => {
      e.preventDefault();
      run(async () => {
        const d = await SL.api("/api/departments", { method: "POST", body: formJSON(e.target) });
        e.target.reset();
        await loadDepartments(); status(fmt("adm.created_ok", { name: d.name }));
      });
    });
    $("apikey-form").addEventListener("submit", (e) => {
      e.preventDefault();
      run(async () => {
        const scopes = Array.from(e.target.querySelectorAll('input[name="scopes"]:checked')).map((c) => c.value);
        if (!scopes.length) { status(SL.t("adm.no_scope"), true); return; }
        const k = await SL.api("/api/open311/keys", { method: "POST", body: { name: $("k-name").value.trim(), scopes } });
        $("k-name").value = "";
        $("apikey-raw").value = k.api_key;  // shown this once: only its hash is stored
        state.newKeyId = k.id;
        $("apikey-new").hidden = false;
        $("apikey-raw").focus(); $("apikey-raw").select();
        await loadApiKeys(); status(fmt("adm.key_issued", { name: k.name }));
      });
    });
    $("apikey-copy").addEventListener("click", () => run(async () => {
      const input = $("apikey-raw");
      try { await navigator.clipboard.writeText(input.value); } catch (err) { input.select(); document.execCommand("copy"); }
      status(SL.t("adm.copied"));
    }));
    $("m-town").addEventListener("change", (e) => fillVillages($("m-village"), e.target.value));
    $("p-town").addEventListener("change", (e) => fillVillages($("p-village"), e.target.value));
    $("import-form").addEventListener("submit", (e) => { e.preventDefault(); doImport(false); });
    $("import-check").addEventListener("click", () => doImport(true));
    $("import-file").addEventListener("change", () => { state.lastImport = null; $("import-result").textContent = ""; $("import-errors").hidden = true; });
    $("pw-cancel").addEventListener("click", () => $("pw-dialog").close());
    $("pw-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const dlg = $("pw-dialog"), id = +dlg.dataset.id;
      run(async () => {
        await SL.api(`/api/users/${id}`, { method: "PATCH", body: { password: $("pw-new").value } });
        dlg.close();
        status(fmt("adm.pw_done", { name: state.users.find((x) => x.id === id).username }));
      });
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    initTabs();
    bindForms();
    // the last status line was written in the other language: drop it rather than leave it untranslated
    document.addEventListener("sl:lang", () => { status(""); renderAll(); });
    run(async () => {
      state.me = await SL.api("/api/auth/me");
      const [towns, villages] = await Promise.all([SL.api("/api/regions?level=town"), SL.api("/api/regions?level=village")]);
      state.towns = towns; state.villages = villages;
      fillTowns(); fillVillages($("m-village"), ""); fillVillages($("p-village"), "");
      await loadMembers();
      await Promise.all([loadUsers(), loadPoints(), loadDepartments(), loadApiKeys()]);
      document.body.dataset.loaded = "1";
    });
  });
})();
