/* The callback (回访) desk: open tasks, live from the board socket; the script; claim and record the call. */
(function () {
  "use strict";
  const SL = window.SL;
  const $ = (id) => document.getElementById(id);
  const root = $("callbacks");
  if (!root) return;
  const canAct = root.dataset.role === "operator" || root.dataset.role === "admin";
  const actor = root.dataset.actor;

  SL.extend({
    zh: {
      "cb.title": "回访工作台", "cb.open": "待回访", "cb.reason": "回访原因", "cb.all": "全部",
      "cb.reason.resolved": "办结回访", "cb.reason.unrated": "逾期未评价", "cb.empty": "暂无待回访任务。",
      "cb.task": "回访任务", "cb.due": "回访时限", "cb.state": "任务状态", "cb.name": "群众姓名", "cb.phone": "联系电话",
      "cb.category": "分类", "cb.content": "诉求内容", "cb.reply": "办理结果", "cb.script": "回访话术",
      "cb.claim": "认领任务", "cb.outcome": "回访结果", "cb.o.reached": "已联系上", "cb.o.unreachable": "无法联系",
      "cb.o.refused": "拒绝回访", "cb.score": "满意度（已联系上时必填）", "cb.note": "回访记录（选填）",
      "cb.submit": "提交回访结果", "cb.st.open": "待认领", "cb.st.claimed": "已认领", "cb.st.done": "已完成",
      "cb.st.cancelled": "已取消", "cb.by": "认领人", "cb.mine": "我", "cb.late": "已超时",
      "cb.need.outcome": "请选择回访结果。", "cb.need.score": "已联系上群众，请选择满意度。",
      "cb.saved": "回访已记录", "cb.case_now": "案件状态", "cb.claimed_ok": "已认领，请按话术回访。",
      "cb.none": "（无）",
    },
    en: {
      "cb.title": "Callback desk", "cb.open": "To call", "cb.reason": "Reason", "cb.all": "All",
      "cb.reason.resolved": "Resolved", "cb.reason.unrated": "Unrated", "cb.empty": "No callbacks to make.",
      "cb.task": "Callback", "cb.due": "Due", "cb.state": "Task status", "cb.name": "Resident", "cb.phone": "Phone",
      "cb.category": "Category", "cb.content": "Issue", "cb.reply": "Reply given", "cb.script": "Script",
      "cb.claim": "Claim", "cb.outcome": "Outcome", "cb.o.reached": "Reached", "cb.o.unreachable": "Unreachable",
      "cb.o.refused": "Refused", "cb.score": "Satisfaction (required when reached)", "cb.note": "Notes (optional)",
      "cb.submit": "Record the call", "cb.st.open": "Open", "cb.st.claimed": "Claimed", "cb.st.done": "Done",
      "cb.st.cancelled": "Cancelled", "cb.by": "Claimed by", "cb.mine": "me", "cb.late": "overdue",
      "cb.need.outcome": "Choose the outcome.", "cb.need.score": "The resident was reached: choose the satisfaction.",
      "cb.saved": "Callback recorded", "cb.case_now": "Case status", "cb.claimed_ok": "Claimed: call using the script.",
      "cb.none": "(none)",
    },
  });

  let tasks = [], selected = null, loadTimer = null;

  function say(el, msg) { el.textContent = msg || ""; el.hidden = !msg; }
  const err = (m) => say($("cb-error"), m);
  const ok = (m) => say($("cb-ok"), m);

  function stateText(t) {
    const s = SL.t("cb.st." + t.status, t.status);
    if (t.status !== "claimed") return s;
    return s + " · " + SL.t("cb.by") + " " +
      (t.claimed_by === actor ? SL.t("cb.mine") : SL.actor({ actor: t.claimed_by, actor_name: t.claimed_by_name }));
  }

  function renderList() {
    const now = Date.now();
    $("cb-count").textContent = String(tasks.length);
    $("cb-empty").hidden = tasks.length > 0;
    $("cb-list").innerHTML = tasks.map((t) => {
      const late = new Date(t.due_at).getTime() < now;
      return `<li><button type="button" data-id="${t.id}" aria-current="${selected === t.id}">` +
        `<strong>${SL.esc(t.case.tracking_no)}</strong>` +
        `<span>${SL.esc(SL.t("cb.reason." + t.reason, t.reason))}</span>` +
        `<span class="muted">${SL.esc(SL.fmtTime(t.due_at, true))}` +
        (late ? ` <span class="late">${SL.esc(SL.t("cb.late"))}</span>` : "") + `</span>` +
        `<span>${SL.esc(stateText(t))}</span></button></li>`;
    }).join("");
  }

  function renderDetail() {
    const t = tasks.find((x) => x.id === selected);
    $("cb-detail").hidden = !t;
    if (!t) return;
    const c = t.case;
    $("d-no").textContent = c.tracking_no;
    $("d-reason").textContent = SL.t("cb.reason." + t.reason, t.reason);
    $("d-due").textContent = SL.fmtTime(t.due_at, true);
    $("d-state").textContent = stateText(t);
    $("d-name").textContent = c.reporter_name || SL.t("cb.none");
    $("d-phone").textContent = c.reporter_phone || SL.t("cb.none");
    $("d-category").textContent = SL.category(c.category, true) || SL.t("cb.none");
    $("d-content").textContent = c.content || "";
    $("d-reply").textContent = c.resolution || SL.t("cb.none");
    $("d-script").textContent = SL.lang === "en" ? t.script.en : t.script.zh;
    const mineOrOpen = t.status === "open" || t.claimed_by === actor;
    $("d-claim-row").hidden = !canAct || t.status !== "open";
    $("d-form").hidden = !canAct || !mineOrOpen;
  }

  async function load() {
    const reason = $("cb-reason").value;
    try {
      tasks = await SL.api("/api/callbacks" + (reason ? "?reason=" + encodeURIComponent(reason) : ""));
      err("");
    } catch (ex) { err(ex.message); return; }
    if (selected && !tasks.some((t) => t.id === selected)) selected = null;
    renderList();
    renderDetail();
  }
  function loadSoon() { clearTimeout(loadTimer); loadTimer = setTimeout(load, 150); }

  $("cb-list").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-id]");
    if (!b) return;
    selected = Number(b.dataset.id);
    $("d-form").reset();
    ok("");
    renderList();
    renderDetail();
    $("cb-detail").scrollIntoView({ block: "nearest" });
  });
  $("cb-reason").addEventListener("change", load);
  $("cb-filter").addEventListener("submit", (e) => { e.preventDefault(); load(); });

  $("d-claim").addEventListener("click", async () => {
    const b = $("d-claim");
    b.disabled = true;
    try {
      const t = await SL.api(`/api/callbacks/${selected}/claim`, { method: "POST" });
      tasks = tasks.map((x) => (x.id === t.id ? t : x));
      err(""); ok(SL.t("cb.claimed_ok"));
      renderList(); renderDetail();
    } catch (ex) { err(ex.message); loadSoon(); }
    finally { b.disabled = false; }
  });

  $("d-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target;
    const outcome = f.elements.outcome.value, score = f.elements.score.value;
    if (!outcome) { err(SL.t("cb.need.outcome")); return; }
    if (outcome === "reached" && !score) { err(SL.t("cb.need.score")); return; }
    const body = { outcome, score: outcome === "reached" ? score : null, note: f.elements.note.value.trim() || null };
    const btn = f.querySelector("button[type=submit]");
    btn.disabled = true;
    try {
      const t = await SL.api(`/api/callbacks/${selected}/complete`, { method: "POST", body });
      err("");
      ok(`${SL.t("cb.saved")}：${t.case.tracking_no}` +
        (t.score ? " · " + SL.t("score." + t.score, t.score) : " · " + SL.t("cb.o." + t.outcome, t.outcome)) +
        ` · ${SL.t("cb.case_now")}：${SL.t("status." + t.case.status, t.case.status)}`);
      selected = null;
      f.reset();
      await load();
    } catch (ex) { err(ex.message); loadSoon(); }
    finally { btn.disabled = false; }
  });

  // the score applies only when the resident was reached
  $("d-form").addEventListener("change", (e) => {
    if (e.target.name !== "outcome") return;
    const reached = e.target.value === "reached";
    $("d-score").disabled = !reached;
    if (!reached) $("d-form").querySelectorAll("input[name=score]").forEach((i) => { i.checked = false; });
  });

  document.addEventListener("sl:lang", () => { renderList(); renderDetail(); });

  function onStatus(up) {
    SL.liveStatus(up);
    if (up) loadSoon(); // whatever happened while offline
  }
  SL.live("/ws/board", (ev) => { if (ev.type && ev.type.startsWith("callback.")) loadSoon(); }, onStatus);
  setInterval(() => { if (!document.hidden) load(); }, 60000); // due times turn late; a missed event heals
  load();
})();
