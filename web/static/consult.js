/* Consultation pages for operators and supervisors: the topic list (/consult) and one topic (/consult/{id}). */
(function () {
  "use strict";
  const T = "/api/consultations/topics";
  const STAGES = ["proposed", "screened", "participants_set", "scheduled", "held", "reported", "implementing",
    "reviewed", "evaluated", "closed"];
  const PRINCIPLES = ["political", "group_interest", "forward_looking", "democratic", "feasible"];
  const CRITERIA = ["implementation", "participation", "satisfaction"];
  // cases a topic may be formed from: open ones, and resolved or closed ones (topics often come from those)
  const LINKABLE = new Set(["new", "offered", "assigned", "in_progress", "reopened", "escalated", "resolved", "closed"]);

  SL.extend({
    zh: {
      "c.nav": "协商议事", "c.list.title": "协商议题", "c.topics": "议题列表", "c.status": "状态", "c.all": "全部",
      "c.town": "镇街", "c.all_towns": "全部镇街", "c.filter": "筛选", "c.col.title": "议题", "c.col.source": "来源",
      "c.col.updated": "更新时间", "c.no_topics": "暂无议题。", "c.new": "由所选案件新建议题",
      "c.cases_town": "案件所在镇街", "c.choose_town": "请选择镇街", "c.open_cases": "案件（含已办结，勾选形成议题）",
      "c.pick_town": "选择镇街后列出案件。", "c.no_cases": "该镇街暂无可形成议题的案件。", "c.topic_title": "议题名称（必填）",
      "c.description": "议题说明", "c.create": "新建议题", "c.need_cases": "请至少勾选一件案件。",
      "c.coverage": "协商覆盖情况", "c.coverage_caption": "各镇街本年度已召开协商次数与示范点目标",
      "c.cov.points": "点位数", "c.cov.demo": "示范点", "c.cov.held": "已召开", "c.cov.target": "目标", "c.cov.met": "达标",
      "c.yes": "是", "c.no": "否", "c.none": "—",
      "c.src.cases": "案件聚类", "c.src.proposal": "委员提案", "c.src.plan": "年度计划",
      "c.st.proposed": "待审核", "c.st.screened": "已立题", "c.st.participants_set": "主体已确定", "c.st.scheduled": "已安排",
      "c.st.held": "已协商", "c.st.reported": "成果已报送", "c.st.implementing": "落实中", "c.st.reviewed": "已回头看",
      "c.st.evaluated": "已评估", "c.st.closed": "已办结", "c.st.rejected": "不予立题", "c.st.forwarded": "已转交部门",
      "c.back": "← 协商议题列表", "c.loading": "加载中…", "c.refresh": "刷新", "c.steps": "议题进程", "c.next": "下一步可以",
      "c.nothing_next": "无（流程已结束）", "c.cases": "关联案件", "c.no_linked": "无关联案件。",
      "c.screening": "议题审核（五项原则）",
      "c.p.political": "政治性：符合党的路线方针政策", "c.p.group_interest": "群体性：涉及群众共同利益而非个人诉求",
      "c.p.forward_looking": "前瞻性：着眼长远、具有示范意义", "c.p.democratic": "民主性：适合多方协商、能够广泛参与",
      "c.p.feasible": "可行性：在本级职权范围内、具备实施条件",
      "c.p.political.short": "政治性", "c.p.group_interest.short": "群体性", "c.p.forward_looking.short": "前瞻性",
      "c.p.democratic.short": "民主性", "c.p.feasible.short": "可行性", "c.p.note": "说明",
      "c.screen_note": "审核意见", "c.accept": "通过，立为议题", "c.reject": "不予立题",
      "c.screened_by": "审核结论", "c.decision.accept": "通过", "c.decision.reject": "不予立题",
      "c.met": "符合", "c.not_met": "不符合", "c.all_five": "立题须五项原则全部符合；如有不符合，请选择“不予立题”。",
      "c.forward_title": "个人诉求：转交部门办理", "c.department": "部门", "c.note": "备注", "c.forward": "转交部门",
      "c.participants": "参与主体", "c.no_parts": "尚未确定参与方。", "c.add_part": "增加参与方", "c.kind": "类别",
      "c.kind.member": "政协委员", "c.kind.department": "职能部门", "c.kind.resident": "群众代表", "c.kind.expert": "智库专家",
      "c.kind.official": "部门干部", "c.member": "委员", "c.res_name": "姓名", "c.res_phone": "电话", "c.add": "增加",
      "c.draw_title": "从协商智库随机抽取专家", "c.field": "领域", "c.count": "人数", "c.seed_opt": "随机种子（可留空）",
      "c.draw": "抽取", "c.draws": "抽取记录", "c.seed": "随机种子", "c.pool": "候选池", "c.picks": "抽中",
      "c.redraw_of": "重抽，替换", "c.reason": "原因", "c.redraw": "重新抽取", "c.redraw_reason": "重抽原因（必填）",
      "c.confirm": "确定参与主体", "c.meetings": "协商活动", "c.no_meetings": "尚未安排协商活动。",
      "c.schedule": "安排协商活动", "c.mkind": "形式", "c.mkind.bench": "板凳议事", "c.mkind.roundtable": "圆桌协商",
      "c.mkind.onsite": "现场协商", "c.mkind.online": "网上议事", "c.starts": "时间（北京时间）", "c.point": "地点（点位）",
      "c.online_url": "会议链接", "c.agenda": "议程", "c.schedule_btn": "安排并通知参与委员",
      "c.checkin_qr": "签到二维码", "c.checkin_link": "签到链接", "c.attendance": "签到情况", "c.no_attendance": "尚无人签到。",
      "c.refresh_att": "刷新签到", "c.minutes": "会议纪要", "c.save_minutes": "保存纪要", "c.held": "标记为已召开", "c.early_reason": "提前召开的原因（未到开始时间，必填）",
      "c.early_hint": "尚未到开始时间：如确已提前召开，请填写原因，将记入议题记录。", "c.experts_link": "智库专家", "c.experts_manage": "管理智库专家",
      "c.held_at": "召开于", "c.place": "地点", "c.time": "时间",
      "c.outcomes": "协商成果与落实台账", "c.no_outcomes": "尚无成果。", "c.add_outcome": "登记成果",
      "c.outcome_text": "成果内容", "c.resp_dept": "责任部门", "c.due": "完成期限", "c.report": "报送成果",
      "c.progress": "落实进度", "c.ledger": "台账", "c.ledger_note": "进展说明", "c.percent": "完成百分比",
      "c.milestone": "里程碑", "c.add_ledger": "登记进展",
      "c.followups": "回头看", "c.no_followups": "尚未安排回头看。", "c.fu_at": "回头看时间（北京时间）",
      "c.fu_schedule": "安排回头看", "c.fu.scheduled": "待到期", "c.fu.due": "已到期，待记录", "c.fu.recorded": "已记录",
      "c.fu_result": "回头看结果", "c.fu_record": "记录结果",
      "c.evaluation": "评估质效", "c.average": "平均分", "c.scorer": "评估人", "c.scorer_kind": "身份",
      "c.crit.implementation": "落实情况", "c.crit.participation": "参与程度", "c.crit.satisfaction": "群众满意",
      "c.comment": "意见", "c.score": "提交评分", "c.count_n": "共 {n} 份", "c.close_note": "办结说明", "c.close": "办结议题",
      "c.trail": "全过程记录", "c.act.participant_added": "增加参与方", "c.act.participant_removed": "移除参与方",
      "c.act.experts_drawn": "抽取专家", "c.act.expert_redrawn": "重新抽取专家", "c.act.checked_in": "委员签到",
      "c.act.minutes": "记录纪要", "c.act.outcome_added": "登记成果", "c.act.ledger": "台账进展",
      "c.act.follow_up_scheduled": "安排回头看", "c.act.follow_up_due": "回头看到期", "c.act.evaluation": "评估打分", "c.done": "已保存。", "c.ro": "督查账号只读。",
      "c.cand": "候选议题（研判热点）", "c.cand.caption": "研判发现的相似诉求聚集，可一键立为议题", "c.cand.size": "诉求件数",
      "c.cand.words": "关键词", "c.cand.span": "时间", "c.cand.action": "操作", "c.cand.none": "暂无候选议题。",
      "c.cand.make": "立为议题", "c.cand.make_named": "将“{title}”立为议题",
    },
    en: {
      "c.nav": "Consultations", "c.list.title": "Consultation topics", "c.topics": "Topics", "c.status": "Status", "c.all": "All",
      "c.town": "Town", "c.all_towns": "All towns", "c.filter": "Filter", "c.col.title": "Topic", "c.col.source": "Source",
      "c.col.updated": "Updated", "c.no_topics": "No topics yet.", "c.new": "New topic from selected cases",
      "c.cases_town": "Town of the cases", "c.choose_town": "Choose a town", "c.open_cases": "Cases, resolved ones included (tick to form a topic)",
      "c.pick_town": "Choose a town to list its cases.", "c.no_cases": "No cases in this town to form a topic from.",
      "c.topic_title": "Topic title (required)", "c.description": "Description", "c.create": "Create topic",
      "c.need_cases": "Tick at least one case.", "c.coverage": "Consultation coverage",
      "c.coverage_caption": "Consultations held this year per town against the demonstration points' target",
      "c.cov.points": "Points", "c.cov.demo": "Demonstration", "c.cov.held": "Held", "c.cov.target": "Target", "c.cov.met": "Met",
      "c.yes": "Yes", "c.no": "No", "c.none": "—",
      "c.src.cases": "Case cluster", "c.src.proposal": "Member's proposal", "c.src.plan": "Yearly plan",
      "c.st.proposed": "Proposed", "c.st.screened": "Accepted", "c.st.participants_set": "Participants set",
      "c.st.scheduled": "Scheduled", "c.st.held": "Held", "c.st.reported": "Reported", "c.st.implementing": "Implementing",
      "c.st.reviewed": "Reviewed", "c.st.evaluated": "Evaluated", "c.st.closed": "Closed", "c.st.rejected": "Rejected",
      "c.st.forwarded": "Forwarded", "c.back": "← Consultation topics", "c.loading": "Loading…", "c.refresh": "Refresh",
      "c.steps": "Topic progress", "c.next": "Next steps", "c.nothing_next": "None (finished)", "c.cases": "Linked cases",
      "c.no_linked": "No linked cases.", "c.screening": "Screening (five principles)",
      "c.p.political": "Political: in line with the Party's policies",
      "c.p.group_interest": "Group interest: a shared concern, not an individual claim",
      "c.p.forward_looking": "Forward-looking: lasting, sets an example",
      "c.p.democratic": "Democratic: suits consultation among many parties",
      "c.p.feasible": "Feasible: within this level's powers and practicable",
      "c.p.political.short": "Political", "c.p.group_interest.short": "Group interest",
      "c.p.forward_looking.short": "Forward-looking", "c.p.democratic.short": "Democratic", "c.p.feasible.short": "Feasible",
      "c.p.note": "Note", "c.screen_note": "Screening opinion", "c.accept": "Accept as a topic", "c.reject": "Reject",
      "c.screened_by": "Decision", "c.decision.accept": "Accepted", "c.decision.reject": "Rejected",
      "c.met": "met", "c.not_met": "not met",
      "c.all_five": "All five principles must be met to accept; otherwise choose Reject.",
      "c.forward_title": "Individual claim: forward to a department", "c.department": "Department", "c.note": "Note",
      "c.forward": "Forward", "c.participants": "Participants", "c.no_parts": "No participants yet.",
      "c.add_part": "Add a participant", "c.kind": "Kind", "c.kind.member": "CPPCC member", "c.kind.department": "Department",
      "c.kind.resident": "Resident representative", "c.kind.expert": "Think-tank expert", "c.kind.official": "Official",
      "c.member": "Member", "c.res_name": "Name", "c.res_phone": "Phone", "c.add": "Add",
      "c.draw_title": "Draw experts at random from the think tank", "c.field": "Field", "c.count": "How many",
      "c.seed_opt": "Seed (optional)", "c.draw": "Draw", "c.draws": "Draws", "c.seed": "Seed", "c.pool": "Pool",
      "c.picks": "Drawn", "c.redraw_of": "Redraw, replacing", "c.reason": "Reason", "c.redraw": "Redraw",
      "c.redraw_reason": "Reason for the redraw (required)", "c.confirm": "Confirm participants",
      "c.meetings": "Meetings", "c.no_meetings": "No meeting scheduled yet.", "c.schedule": "Schedule a meeting",
      "c.mkind": "Format", "c.mkind.bench": "Bench talk", "c.mkind.roundtable": "Round table", "c.mkind.onsite": "On site",
      "c.mkind.online": "Online", "c.starts": "Time (Beijing)", "c.point": "Place (point)", "c.online_url": "Meeting link",
      "c.agenda": "Agenda", "c.schedule_btn": "Schedule and notify members", "c.checkin_qr": "Check-in QR code",
      "c.checkin_link": "Check-in link", "c.attendance": "Attendance", "c.no_attendance": "Nobody has checked in yet.",
      "c.refresh_att": "Refresh attendance", "c.minutes": "Minutes", "c.save_minutes": "Save minutes",
      "c.held": "Mark as held", "c.early_reason": "Why it was held early (before its start time; required)",
      "c.early_hint": "The start time has not come yet: if the meeting really was held early, give the reason; it goes on the topic's record.",
      "c.experts_link": "Think tank", "c.experts_manage": "Manage the think tank's experts", "c.held_at": "Held at", "c.place": "Place", "c.time": "Time",
      "c.outcomes": "Outcomes and implementation ledger", "c.no_outcomes": "No outcomes yet.", "c.add_outcome": "Record outcome",
      "c.outcome_text": "Outcome", "c.resp_dept": "Responsible department", "c.due": "Due date", "c.report": "Report outcomes",
      "c.progress": "Progress", "c.ledger": "Ledger", "c.ledger_note": "Progress note", "c.percent": "Percent done",
      "c.milestone": "Milestone", "c.add_ledger": "Record progress", "c.followups": "Follow-up review",
      "c.no_followups": "No follow-up scheduled.", "c.fu_at": "Review time (Beijing)", "c.fu_schedule": "Schedule review",
      "c.fu.scheduled": "Scheduled", "c.fu.due": "Due, awaiting result", "c.fu.recorded": "Recorded",
      "c.fu_result": "Review result", "c.fu_record": "Record result", "c.evaluation": "Evaluation",
      "c.average": "Average", "c.scorer": "Scorer", "c.scorer_kind": "Role", "c.crit.implementation": "Implementation",
      "c.crit.participation": "Participation", "c.crit.satisfaction": "Satisfaction", "c.comment": "Comment",
      "c.score": "Submit scores", "c.count_n": "{n} sheets", "c.close_note": "Closing note", "c.close": "Close topic",
      "c.trail": "Audit trail", "c.act.participant_added": "Participant added",
      "c.act.participant_removed": "Participant removed", "c.act.experts_drawn": "Experts drawn",
      "c.act.expert_redrawn": "Expert redrawn", "c.act.checked_in": "Member checked in", "c.act.minutes": "Minutes recorded",
      "c.act.outcome_added": "Outcome recorded", "c.act.ledger": "Ledger progress", "c.act.follow_up_scheduled": "Review scheduled",
      "c.act.follow_up_due": "Review due", "c.act.evaluation": "Scores recorded", "c.done": "Saved.", "c.ro": "Supervisors can read only.",
      "c.cand": "Candidate topics (hotspots)", "c.cand.caption": "Clusters of similar cases found by the analysis; one click makes a topic",
      "c.cand.size": "Cases", "c.cand.words": "Keywords", "c.cand.span": "Time", "c.cand.action": "Action",
      "c.cand.none": "No candidate topics.", "c.cand.make": "Make it a topic", "c.cand.make_named": "Make “{title}” a topic",
    },
  });

  const $ = (id) => document.getElementById(id);
  const esc = SL.esc;
  // an actor in words ("operator:2" → 值班员 / Operator), not the raw identifier
  const who = (e) => (SL.actor ? SL.actor(e) : (typeof e === "string" ? e : e.actor));
  const tr = (key, fb) => `<span data-i18n="${esc(key)}">${esc(SL.t(key, fb))}</span>`;
  const st = (s) => `<span class="pill ${s === "closed" ? "done" : (s === "rejected" || s === "forwarded") ? "stop" : ""}" data-status="${esc(s)}">${tr("c.st." + s, s)}</span>`;
  const msg = (ex) => {
    const m = (ex && ex.message) || String(ex);
    const parts = m.split(" / ");
    return parts.length === 2 ? (SL.lang === "en" ? parts[1] : parts[0]) : m;
  };
  function flash(text, bad) {
    const err = $("c-error"), ok = $("c-ok");
    if (bad) { err.textContent = text; err.hidden = false; if (ok) ok.textContent = ""; }
    else { err.hidden = true; if (ok) { ok.hidden = false; ok.textContent = text; } }
  }
  const form = (f) => Object.fromEntries(new FormData(f).entries());
  const localIso = (v) => (v.length === 16 ? v + ":00" : v) + "+08:00";
  function options(sel, rows, label, keep) {
    const cur = sel.value;
    sel.innerHTML = (keep || "") + rows.map((r) => `<option value="${esc(r.id ?? r.code)}">${esc(label(r))}</option>`).join("");
    if (cur) sel.value = cur;
  }
  async function act(fn, okKey) {
    try { await fn(); flash(SL.t(okKey || "c.done")); return true; } catch (ex) { flash(msg(ex), true); return false; }
  }

  // ------------------------------------------------------------------------------------------ the list page
  const listRoot = $("consult-list");
  if (listRoot) {
    let towns = [];
    const townName = (code) => (towns.find((x) => x.code === code) || {}).name || code || "";
    async function loadTopics() {
      const q = new URLSearchParams(form($("topic-filters")));
      for (const [k, v] of [...q.entries()]) if (!v) q.delete(k);
      try {
        const rows = await SL.api(T + (q.toString() ? "?" + q : ""));
        $("topics-table").querySelector("tbody").innerHTML = rows.map((r) => `<tr>
          <td>${r.id}</td><td><a href="/consult/${r.id}">${esc(r.title)}</a></td><td>${st(r.status)}</td>
          <td>${tr("c.src." + r.source, r.source)}</td><td>${esc(townName(r.town_code))}</td>
          <td>${esc(SL.fmtTime(r.updated_at, true))}</td></tr>`).join("");
        $("topics-empty").hidden = rows.length > 0;
      } catch (ex) { flash(msg(ex), true); }
    }
    async function loadCandidates() {
      const canMake = listRoot.dataset.role !== "supervisor";
      try {
        const rows = await SL.api("/api/hotspots");
        const body = $("cand-table").querySelector("tbody");
        body.innerHTML = rows.map((h) => `<tr data-hotspot-id="${h.id}">
          <td>${esc(h.title)}</td><td>${esc(h.place || townName(h.town_code))}</td><td class="num">${h.size}</td>
          <td>${esc((h.keywords || []).join("、"))}</td>
          <td>${esc(SL.fmtTime(h.first_at, true))} – ${esc(SL.fmtTime(h.last_at, true))}</td>
          ${canMake ? `<td><button type="button" class="primary make-topic" data-hotspot-id="${h.id}"
            aria-label="${esc(SL.t("c.cand.make_named").replace("{title}", h.title))}">${tr("c.cand.make")}</button></td>` : ""}</tr>`).join("");
        $("cand-empty").hidden = rows.length > 0;
        $("cand-wrap").hidden = !rows.length;
        body.querySelectorAll("button.make-topic").forEach((b) => b.addEventListener("click", async () => {
          b.disabled = true;
          try {
            const out = await SL.api(`/api/hotspots/${b.dataset.hotspotId}/topic`, { method: "POST" });
            location.href = "/consult/" + out.topic.id;
          } catch (ex) { b.disabled = false; flash(msg(ex), true); loadCandidates(); }
        }));
      } catch (ex) { flash(msg(ex), true); }
    }
    async function loadCoverage() {
      try {
        const cov = await SL.api("/api/consultations/coverage");
        $("cov-year").textContent = `(${cov.year})`;
        $("coverage-table").querySelector("tbody").innerHTML = cov.towns.map((r) => `<tr>
          <th scope="row">${esc(r.name || townName(r.town_code))}</th><td class="num">${r.points}</td>
          <td class="num">${r.demonstration_points}</td><td class="num">${r.held}</td><td class="num">${r.target || "—"}</td>
          <td>${r.met == null ? tr("c.none", "—") : tr(r.met ? "c.yes" : "c.no")}</td></tr>`).join("");
      } catch (ex) { flash(msg(ex), true); }
    }
    async function loadCases(town) {
      const box = $("n-cases");
      if (!town) { box.innerHTML = `<p class="muted">${tr("c.pick_town")}</p>`; return; }
      try {
        const rows = (await SL.api("/api/cases?town_code=" + encodeURIComponent(town))).filter((c) => LINKABLE.has(c.status));
        box.innerHTML = rows.length ? rows.map((c) => `<label class="check" for="case-${c.id}">
            <input type="checkbox" id="case-${c.id}" name="case_ids" value="${c.id}">
            <span><strong>${esc(c.tracking_no)}</strong> ${esc((c.title || c.content || "").slice(0, 60))}
            <span class="muted">· ${esc(SL.t("status." + c.status, c.status))}</span></span></label>`).join("")
          : `<p class="muted">${tr("c.no_cases")}</p>`;
      } catch (ex) { flash(msg(ex), true); }
    }
    (async function start() {
      const sel = $("f-status");
      sel.innerHTML += [...STAGES, "rejected", "forwarded"].map((s) => `<option value="${s}" data-i18n="c.st.${s}">${esc(SL.t("c.st." + s))}</option>`).join("");
      try { towns = await SL.api("/api/regions?level=town"); } catch (ex) { towns = []; }
      for (const id of ["f-town", "n-town"]) {
        const el = $(id);
        if (el) options(el, towns, (r) => r.name, el.options[0].outerHTML);
      }
      $("topic-filters").addEventListener("submit", (e) => { e.preventDefault(); loadTopics(); });
      const nf = $("new-topic");
      if (nf) {
        $("n-town").addEventListener("change", (e) => loadCases(e.target.value));
        nf.addEventListener("submit", async (e) => {
          e.preventDefault();
          const ids = [...nf.querySelectorAll("input[name=case_ids]:checked")].map((x) => Number(x.value));
          if (!ids.length) { flash(SL.t("c.need_cases"), true); return; }
          try {
            const topic = await SL.api(T, { body: { title: $("n-title").value.trim(), description: $("n-desc").value,
              source: "cases", case_ids: ids, town_code: $("n-town").value || null } });
            location.href = "/consult/" + topic.id;
          } catch (ex) { flash(msg(ex), true); }
        });
      }
      document.addEventListener("sl:lang", () => { loadTopics(); loadCoverage(); loadCandidates(); });
      loadTopics(); loadCoverage(); loadCandidates();
    })();
    return;
  }

  // ------------------------------------------------------------------------------------------ the topic page
  const root = $("consult-topic");
  if (!root) return;
  const tid = Number(root.dataset.topicId);
  const canRun = root.dataset.canRun === "true";
  const base = `${T}/${tid}`;
  let topic = null, experts = {}, members = [], depts = [], points = [], cases = {};
  const expertName = (id) => (experts[id] ? experts[id].name : "#" + id);

  async function loadRefs() {
    const get = (p) => SL.api(p).catch(() => []);
    const [ex, ms, ds, ps] = await Promise.all([get("/api/consultations/experts"), get("/api/members"),
      get("/api/departments"), get("/api/points")]);
    experts = Object.fromEntries(ex.map((e) => [e.id, e]));
    members = ms; depts = ds; points = ps;
    options($("pt-member"), members, (m) => m.name);
    document.querySelectorAll("select.depts").forEach((s) => options(s, depts, (d) => d.name));
    options($("mt-point"), points, (p) => p.name);
    const fields = await get("/api/consultations/experts/fields");
    $("fields-list").innerHTML = fields.map((f) => `<option value="${esc(f)}">`).join("");
  }

  async function loadCasesOf(ids) {
    const missing = ids.filter((id) => !cases[id]);
    await Promise.all(missing.map((id) => SL.api("/api/cases/" + id).then((c) => { cases[id] = c; }).catch(() => {})));
  }

  function renderHead(t) {
    document.title = t.title + " · 有事好商量";
    $("t-title").textContent = t.title;
    $("t-title").removeAttribute("data-i18n");
    $("t-status").outerHTML = `<span id="t-status">${st(t.status)}</span>`;
    $("t-meta").innerHTML = `· ${tr("c.src." + t.source, t.source)} · #${t.id}`;
    $("t-desc").textContent = t.description || "";
    const at = STAGES.indexOf(t.status);
    $("t-steps").innerHTML = STAGES.map((s, i) => `<li class="${i < at ? "done" : i === at ? "now" : ""}"
      ${i === at ? 'aria-current="step"' : ""}>${tr("c.st." + s)}</li>`).join("");
    $("t-allowed").innerHTML = t.allowed.length ? t.allowed.map(st).join(" ") : tr("c.nothing_next");
    document.querySelectorAll("[data-when]").forEach((el) => {
      el.hidden = !canRun || !el.dataset.when.split(" ").includes(t.status);
    });
  }

  function renderCases(t) {
    $("t-cases").innerHTML = t.case_ids.length ? t.case_ids.map((id) => {
      const c = cases[id];
      return c ? `<li><strong>${esc(c.tracking_no)}</strong> ${esc(c.title || c.content)}
        <span class="muted">· ${esc(SL.t("status." + c.status, c.status))}${c.address ? " · " + esc(c.address) : ""}</span></li>` : `<li>#${id}</li>`;
    }).join("") : `<li class="muted">${tr("c.no_linked")}</li>`;
  }

  function renderScreening(t) {
    const s = t.screening || {};
    const box = $("screen-result");
    if (!s.principles) { box.innerHTML = canRun && t.status === "proposed" ? `<p class="muted">${tr("c.all_five")}</p>` : ""; return; }
    box.innerHTML = `<p><strong>${tr("c.screened_by")}</strong>：${tr("c.decision." + s.decision)}
      ${s.note ? "· " + esc(s.note) : ""} <span class="muted">(${esc(who(s.by || ""))})</span></p>
      <ul class="plain">${PRINCIPLES.map((k) => {
        const p = s.principles[k] || {};
        return `<li>${p.ok ? "✔" : "✘"} ${tr("c.p." + k)} — <strong class="${p.ok ? "ok" : "error"}">${tr(p.ok ? "c.met" : "c.not_met")}</strong>
          ${p.note ? "· " + esc(p.note) : ""}</li>`;
      }).join("")}</ul>`;
  }

  function renderParticipants(t) {
    const live = t.participants.filter((p) => !p.removed_at);
    $("t-parts").innerHTML = live.length ? live.map((p) => {
      const kind = p.expert_id ? "expert" : p.kind;
      return `<li data-participant-kind="${esc(kind)}">${tr("c.kind." + kind, kind)}：<strong>${esc(p.name || "")}</strong>
        ${p.organisation ? `<span class="muted">· ${esc(p.organisation)}</span>` : ""}</li>`;
    }).join("") : `<li class="muted">${tr("c.no_parts")}</li>`;
    const open = canRun && ["proposed", "screened", "participants_set"].includes(t.status);
    const current = new Set(live.filter((p) => p.expert_id).map((p) => p.expert_id));
    $("t-draws").innerHTML = t.draws.length ? `<h3>${tr("c.draws")}</h3>` + t.draws.map((d) => `<div class="card draw" data-draw-id="${d.id}">
      <p>${d.replaces_expert_id ? `${tr("c.redraw_of")} <strong>${esc(expertName(d.replaces_expert_id))}</strong>
          (${tr("c.reason")}：${esc(d.reason || "")}) · ` : ""}
        ${tr("c.field")}：<strong>${esc(d.field)}</strong> · ${tr("c.seed")}：<strong class="seed">${esc(d.seed)}</strong>
        · <span class="muted">${esc(SL.fmtTime(d.at, true))} ${esc(who(d.actor))}</span></p>
      <p>${tr("c.pool")}：${d.pool.map((id) => esc(expertName(id))).join("、") || "—"}</p>
      <p>${tr("c.picks")}：${d.picks.map((id) => `<strong class="pick">${esc(expertName(id))}</strong>`).join("、") || "—"}</p>
      ${open ? d.picks.filter((id) => current.has(id)).map((id) => `<form class="redraw row" data-draw="${d.id}" data-expert="${id}">
        <div class="field"><label for="rd-${d.id}-${id}">${tr("c.redraw_reason")} · ${esc(expertName(id))}</label>
          <input id="rd-${d.id}-${id}" name="reason" required maxlength="2000"></div>
        <div class="field end"><button type="submit">${tr("c.redraw")}</button></div></form>`).join("") : ""}
    </div>`).join("") : "";
  }

  const early = (m) => new Date(m.starts_at).getTime() > Date.now();
  function renderMeetings(t) {
    $("t-meetings").innerHTML = t.meetings.length ? t.meetings.map((m) => {
      const url = m.checkin_url ? new URL(m.checkin_url, location.href) : null;
      const path = url ? url.pathname : "";
      return `<article class="card meeting" data-meeting-id="${m.id}" aria-labelledby="mt-h-${m.id}">
      <div>
        <h3 id="mt-h-${m.id}">${tr("c.mkind." + m.kind, m.kind)} · ${esc(SL.fmtTime(m.starts_at, true))}</h3>
        <dl class="facts">
          <dt>${tr("c.place")}</dt><dd>${m.point_name ? esc(m.point_name) : m.online_url ? `<a href="${esc(m.online_url)}">${esc(m.online_url)}</a>` : "—"}</dd>
          <dt>${tr("c.agenda")}</dt><dd>${esc(m.agenda || "—")}</dd>
          ${m.held_at ? `<dt>${tr("c.held_at")}</dt><dd>${esc(SL.fmtTime(m.held_at, true))}</dd>` : ""}
        </dl>
        <h4>${tr("c.attendance")} (<span class="att-count">${m.attendance_count}</span>)</h4>
        <ul class="plain attendance" id="att-${m.id}" aria-live="polite"></ul>
        <button type="button" class="refresh-att" data-meeting="${m.id}">${tr("c.refresh_att")}</button>
        <form class="minutes stack" data-meeting="${m.id}">
          <label for="min-${m.id}">${tr("c.minutes")}</label>
          <textarea id="min-${m.id}" name="minutes" rows="3" ${canRun ? "" : "readonly"}>${esc(m.minutes || "")}</textarea>
          ${canRun ? `<div class="actions"><button type="submit">${tr("c.save_minutes")}</button>
            ${!m.held_at && t.status === "scheduled" && !early(m) ? `<button type="button" class="primary held" data-meeting="${m.id}">${tr("c.held")}</button>` : ""}</div>` : ""}
        </form>
        ${canRun && !m.held_at && t.status === "scheduled" && early(m) ? `<form class="held-early stack" data-meeting="${m.id}">
          <p class="muted">${tr("c.early_hint")}</p>
          <label for="early-${m.id}">${tr("c.early_reason")}</label>
          <input id="early-${m.id}" name="reason" required maxlength="2000">
          <div class="actions"><button type="submit" class="primary">${tr("c.held")}</button></div>
        </form>` : ""}
      </div>
      ${path ? `<figure class="qr-box"><div class="qr"><img src="/api/meetings/${m.id}/qr.svg" alt="${esc(SL.t("c.checkin_qr"))}"
          data-i18n-attr="alt:c.checkin_qr" width="200" height="200"></div>
        <figcaption>${tr("c.checkin_qr")}<br><a class="checkin-link" href="${esc(path)}">${tr("c.checkin_link")}</a>
          · <a href="/api/meetings/${m.id}/qr.png" download="checkin-${m.id}.png">PNG</a></figcaption></figure>` : ""}
    </article>`;
    }).join("") : `<p class="muted">${tr("c.no_meetings")}</p>`;
    t.meetings.forEach((m) => loadAttendance(m.id));
  }

  async function loadAttendance(mid) {
    const ul = $("att-" + mid);
    if (!ul) return;
    try {
      const rows = await SL.api(`/api/meetings/${mid}/attendance`);
      ul.innerHTML = rows.length ? rows.map((a) => `<li data-member-id="${a.member_id}">✔ <strong>${esc(a.name)}</strong>
        <time class="muted">${esc(SL.fmtTime(a.at, true))}</time></li>`).join("") : `<li class="muted">${tr("c.no_attendance")}</li>`;
      const count = ul.closest(".meeting").querySelector(".att-count");
      if (count) count.textContent = rows.length;
    } catch (ex) { flash(msg(ex), true); }
  }

  function renderOutcomes(t) {
    const ledgerOpen = canRun && ["reported", "implementing"].includes(t.status);
    $("t-outcomes").innerHTML = t.outcomes.length ? t.outcomes.map((o) => `<article class="card outcome" data-outcome-id="${o.id}">
      <h3>${esc(o.text)}</h3>
      <p>${tr("c.resp_dept")}：<strong>${esc(o.department || "")}</strong> · ${tr("c.due")}：<strong>${esc(o.due_date)}</strong></p>
      <p id="pg-l-${o.id}">${tr("c.progress")}：<strong>${o.progress}%</strong></p>
      <div class="bar" role="progressbar" aria-labelledby="pg-l-${o.id}" aria-valuemin="0" aria-valuemax="100"
        aria-valuenow="${o.progress}"><span style="width:${Math.max(0, Math.min(100, o.progress))}%"></span></div>
      ${o.ledger.length ? `<h4>${tr("c.ledger")}</h4><ol class="plain">${o.ledger.map((e) => `<li>
        <time class="muted">${esc(SL.fmtTime(e.at, true))}</time> <strong>${e.percent}%</strong> ${esc(e.note)}
        ${e.milestone ? `<span class="pill done">${tr("c.milestone")}</span>` : ""}</li>`).join("")}</ol>` : ""}
      ${ledgerOpen ? `<form class="ledger row" data-outcome="${o.id}">
        <div class="field"><label for="lg-n-${o.id}">${tr("c.ledger_note")}</label><input id="lg-n-${o.id}" name="note" required></div>
        <div class="field"><label for="lg-p-${o.id}">${tr("c.percent")}</label>
          <input id="lg-p-${o.id}" name="percent" type="number" min="0" max="100" required value="${o.progress}"></div>
        <div class="field end"><label class="check" for="lg-m-${o.id}"><input type="checkbox" id="lg-m-${o.id}" name="milestone">
          ${tr("c.milestone")}</label></div>
        <div class="field end"><button type="submit">${tr("c.add_ledger")}</button></div></form>` : ""}
    </article>`).join("") : `<p class="muted">${tr("c.no_outcomes")}</p>`;
  }

  function renderFollowUps(t) {
    $("t-followups").innerHTML = t.follow_ups.length ? t.follow_ups.map((f) => `<li data-follow-up-id="${f.id}">
      <time>${esc(SL.fmtTime(f.due_at, true))}</time> ${tr("c.fu." + f.state, f.state)} ${f.note ? "· " + esc(f.note) : ""}
      ${f.result ? `<p>${tr("c.fu_result")}：${esc(f.result)}</p>` : ""}
      ${canRun && f.state !== "recorded" && t.status === "implementing" ? `<form class="fu-result row" data-follow-up="${f.id}">
        <div class="field"><label for="fr-${f.id}">${tr("c.fu_result")}</label><input id="fr-${f.id}" name="result" required></div>
        <div class="field end"><button type="submit">${tr("c.fu_record")}</button></div></form>` : ""}</li>`).join("")
      : `<li class="muted">${tr("c.no_followups")}</li>`;
  }

  function renderEvaluation(t) {
    const e = t.evaluation;
    $("ev-average").textContent = e.average == null ? "—" : e.average;
    $("ev-count").textContent = e.count ? SL.t("c.count_n").replace("{n}", e.count) : "";
    $("ev-table").querySelector("tbody").innerHTML = t.evaluations.map((r) => `<tr><td>${esc(r.scorer_name)}</td>
      <td>${tr("c.kind." + r.scorer_kind, r.scorer_kind)}</td>${CRITERIA.map((c) => `<td class="num">${r.scores[c]}</td>`).join("")}
      <td>${esc(r.comment || "")}</td></tr>`).join("");
  }

  async function renderTrail() {
    try {
      const rows = await SL.api(base + "/events");
      $("t-trail").innerHTML = rows.map((e) => `<li><time>${esc(SL.fmtTime(e.at, true))}</time>
        <strong>${e.to_status ? tr("c.st." + e.to_status, e.to_status) : tr("c.act." + e.action, e.action)}</strong>
        <span class="muted">${esc(who(e))}</span> ${e.note ? "· " + esc(e.note) : ""}</li>`).join("");
    } catch (ex) { flash(msg(ex), true); }
  }

  async function load() {
    try {
      topic = await SL.api(base);
    } catch (ex) { flash(msg(ex), true); return; }
    await loadCasesOf(topic.case_ids);
    renderHead(topic); renderCases(topic); renderScreening(topic); renderParticipants(topic);
    renderMeetings(topic); renderOutcomes(topic); renderFollowUps(topic); renderEvaluation(topic);
    await renderTrail();
  }

  // ---- forms
  function on(id, fn) {
    const f = $(id);
    f.addEventListener("submit", async (e) => {
      e.preventDefault();
      const btn = e.submitter;
      if (btn) btn.disabled = true;
      try { if (await act(() => fn(f, e))) { await load(); } } finally { if (btn) btn.disabled = false; }
    });
  }
  on("screen-form", (f, e) => {
    const principles = {};
    for (const k of PRINCIPLES) principles[k] = { ok: $("p-" + k).checked, note: $(`p-${k}-note`).value.trim() || null };
    const decision = (e.submitter && e.submitter.value) || "accept";
    return SL.api(base + "/screening", { body: { decision, principles, note: $("screen-note").value.trim() || null } });
  });
  on("forward-form", (f) => SL.api(base + "/forward", { body: { department_id: Number($("fw-dept").value), note: $("fw-note").value || null } }));
  on("part-form", (f) => {
    const kind = $("pt-kind").value;
    const body = { kind };
    if (kind === "member") body.member_id = Number($("pt-member").value);
    if (kind === "department") body.department_id = Number($("pt-dept").value);
    if (kind === "resident") { body.name = $("pt-name").value.trim(); body.phone = $("pt-phone").value.trim() || null; }
    return SL.api(base + "/participants", { body });
  });
  $("pt-kind").addEventListener("change", (e) => {
    document.querySelectorAll("#part-form [data-kind]").forEach((el) => { el.hidden = el.dataset.kind !== e.target.value; });
  });
  on("draw-form", async () => {
    const body = { field: $("dr-field").value.trim(), count: Number($("dr-count").value || 1) };
    if ($("dr-seed").value !== "") body.seed = Number($("dr-seed").value);
    await SL.api(base + "/draws", { body });
    experts = Object.fromEntries((await SL.api("/api/consultations/experts")).map((x) => [x.id, x]));
  });
  on("confirm-form", () => SL.api(base + "/participants/confirm", { body: {} }));
  $("mt-kind").addEventListener("change", (e) => {
    const online = e.target.value === "online";
    document.querySelector("[data-place=point]").hidden = online;
    document.querySelector("[data-place=online]").hidden = !online;
  });
  on("meeting-form", () => {
    const kind = $("mt-kind").value;
    const body = { kind, starts_at: localIso($("mt-start").value), agenda: $("mt-agenda").value };
    if (kind === "online") body.online_url = $("mt-url").value; else body.point_id = Number($("mt-point").value);
    return SL.api(base + "/meetings", { body });
  });
  on("outcome-form", () => SL.api(base + "/outcomes", { body: { text: $("oc-text").value, department_id: Number($("oc-dept").value), due_date: $("oc-due").value } }));
  on("report-form", () => SL.api(base + "/report", { body: {} }));
  on("followup-form", () => SL.api(base + "/follow-ups", { body: { due_at: localIso($("fu-at").value), note: $("fu-note").value || null } }));
  on("eval-form", () => {
    const scores = Object.fromEntries(CRITERIA.map((c) => [c, Number($("ev-" + c).value)]));
    return SL.api(base + "/evaluations", { body: { scorer_kind: $("ev-kind").value, scorer_name: $("ev-name").value.trim(), scores, comment: $("ev-comment").value || null } });
  });
  on("close-form", () => SL.api(base + "/close", { body: { note: $("cl-note").value || null } }));

  // forms drawn inside lists: one delegated handler each
  root.addEventListener("submit", async (e) => {
    const f = e.target;
    let call = null;
    if (f.classList.contains("redraw")) {
      call = () => SL.api(`${base}/draws/${f.dataset.draw}/redraw`, { body: { expert_id: Number(f.dataset.expert), reason: f.reason.value.trim() } })
        .then(async () => { experts = Object.fromEntries((await SL.api("/api/consultations/experts")).map((x) => [x.id, x])); });
    } else if (f.classList.contains("minutes")) {
      call = () => SL.api(`/api/meetings/${f.dataset.meeting}/minutes`, { method: "PUT", body: { minutes: f.minutes.value } });
    } else if (f.classList.contains("ledger")) {
      call = () => SL.api(`/api/consultations/outcomes/${f.dataset.outcome}/ledger`, { body: { note: f.note.value, percent: Number(f.percent.value), milestone: f.milestone.checked } });
    } else if (f.classList.contains("held-early")) {
      call = () => SL.api(`/api/meetings/${f.dataset.meeting}/held`, { body: { reason: f.reason.value.trim() } });
    } else if (f.classList.contains("fu-result")) {
      call = () => SL.api(`/api/consultations/follow-ups/${f.dataset.followUp}/result`, { body: { result: f.result.value } });
    }
    if (!call) return;
    e.preventDefault();
    if (await act(call)) await load();
  });
  root.addEventListener("click", async (e) => {
    const b = e.target.closest("button");
    if (!b) return;
    if (b.classList.contains("refresh-att")) loadAttendance(b.dataset.meeting);
    if (b.classList.contains("held") && await act(() => SL.api(`/api/meetings/${b.dataset.meeting}/held`, { method: "POST" }))) await load();
  });
  $("refresh").addEventListener("click", load);
  document.addEventListener("sl:lang", () => { if (topic) load(); });

  (async function start() {
    const d = new Date(Date.now() + 3 * 86400000);
    const bj = new Date(d.getTime() + 8 * 3600000).toISOString().slice(0, 11) + "09:30";
    $("mt-start").value = bj;
    await loadRefs();
    await load();
  })();
})();
