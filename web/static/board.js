/* The operators' live board: counters, map, queues, alarms and the case drawer, fed by /ws/board. */
(function () {
  "use strict";
  const SL = window.SL;
  SL.extend({
    zh: {
      "board.title": "指挥大屏", "board.sound": "声音提醒", "kpi.title": "今日概况", "kpi.total": "今日受理",
      "kpi.channels": "渠道", "kpi.open": "在办", "kpi.overdue": "超时", "kpi.on_time": "按时办结率",
      "kpi.satisfaction": "满意率", "map.title": "案件与委员分布", "map.label": "案件与委员地图",
      "map.cases": "地图上的案件", "map.list": "以列表查看地图上的 {n} 件案件", legend: "图例", "legend.new": "待派/升级", "legend.offered": "已派待签",
      "legend.active": "办理中", "legend.overdue": "超时", "legend.free": "委员（空闲）", "legend.busy": "委员（满负荷）",
      "queues.title": "工单队列", "q.new": "待派", "q.offered": "已派待签", "q.active": "办理中", "q.overdue": "超时",
      "q.empty": "暂无", "q.more": "另有 {n} 件，继续滚动显示", "find.label": "查找在办工单", "find.placeholder": "工单编号",
      "find.go": "查找", "find.none": "在办工单中没有编号含 {q} 的", "find.many": "{n} 件编号含 {q}，已打开最新一件", close: "关闭", "card.offer_left": "签收剩余", "card.due_left": "办结剩余",
      "card.overdue_by": "已超时", "card.no_deadline": "无时限", "card.age": "受理于", "card.urgent": "急",
      "age.min": "{n}分钟前", "age.hour": "{n}小时前", "age.day": "{n}天前", "age.now": "刚刚",
      "alert.escalated": "升级待人工派单", "alert.overdue": "工单超时", "alert.view": "查看", "alert.dismiss": "关闭提醒",
      "d.status": "状态", "d.channel": "渠道", "d.category": "类别", "d.content": "诉求内容", "d.reporter": "反映人",
      "d.location": "位置", "d.photos": "照片", "d.timeline": "处理经过", "d.candidates": "人工指派（就近委员）",
      "d.suggest": "分类建议（请确认）", "d.use": "采用", "d.use_category": "采用分类 {name}", "d.category_ok": "分类已确认：{name}",
      "d.assign": "指派", "d.assign_to": "指派给 {name}", "d.assigned_ok": "已指派给 {name}", "d.no_candidates": "附近无可派委员",
      "d.loading": "加载中…", "d.photo_alt": "群众上传的照片 {n}", "d.deadlines": "时限", "d.offer_expires": "签收截止",
      "d.due": "办结截止", "d.urgency": "紧急程度", "urgency.urgent": "紧急", "urgency.normal": "一般",
      "d.load": "在办 {load}/{cap}", "d.previously": "已派过", "d.none": "无",
      "level.district": "区级", "level.town": "镇级", "level.village": "村级", "member.free": "空闲", "member.busy": "满负荷",
      "member.off": "不在岗", "sound.on": "已开启", "err.load": "数据加载失败：",
      "hot.title": "研判热点", "hot.empty": "暂无热点", "hot.size": "{n}件", "hot.show": "在地图和队列中标出 {place} 的 {n} 件相似诉求",
      "hot.unknown_place": "多地", "alert.hotspot": "发现研判热点",
      "d.kind": "诉求类型", "d.kind_set": "设置", "d.kind_ok": "诉求类型已设为：{name}，时限已重算", "kind.none": "未知",
      "kind.咨询": "咨询", "kind.求助": "求助", "kind.建议": "建议", "kind.投诉": "投诉", "kind.举报": "举报", "kind.complex": "复杂诉求",
      "d.files": "附件", "d.download": "下载 {name}",
      "st.assigned": "已指派", "st.accepted": "已签收", "colon": "：",
      "cd.days": "{d}天{h}小时", "alert.ack": "确认", "alert.ack_all": "全部确认（{n}）", "alert.more": "另有 {n} 条提醒未确认",
      "alert.hotspot_line": "{place} {n}件相似诉求", "members.toggle": "显示委员",
      "d.by_operator": "已指派给 {name}（值班员指派，待委员签收）", "d.by_operator_short": "已指派给 {name}（值班员指派）",
      "d.accepted_by": "{name} 已签收", "d.handling_by": "承办人：{name}", "d.current": "当前承办人",
      "d.reassign": "改派", "d.reassign_to": "改派给 {name}", "d.reassigned_ok": "已改派给 {name}",
      "d.member_n": "委员 #{id}",
      "act.created": "受理", "act.offered": "派单", "act.declined": "委员拒单", "act.offer_expired": "超时未签收",
      "act.accepted": "签收", "act.assigned": "值班员指派", "act.escalated": "升级待人工派单", "act.progress": "办理进展",
      "act.resolved": "办结", "act.rated": "群众评价", "act.closed": "关闭", "act.reopened": "重办",
      "act.forwarded": "转办", "act.merged": "合并", "act.cancelled": "撤销", "act.platform_closed": "平台关闭",
      "act.feed_updated": "平台更新", "act.categorised": "确认分类", "act.request_kind": "设置诉求类型",
      "act.photos": "补充照片", "act.callback": "回访", "act.reminded": "催办", "act.overdue": "超时",
      "act.supervised": "督办", "act.extension_requested": "申请延期", "act.extension_approved": "延期获批",
      "act.extension_rejected": "延期未批", "act.follow_up_scheduled": "安排跟进", "act.follow_up_due": "跟进到期",
      "act.other": "处理记录",
    },
    en: {
      "board.title": "Live board", "board.sound": "Sound alerts", "kpi.title": "Today", "kpi.total": "Intake today",
      "kpi.channels": "Channels", "kpi.open": "Open", "kpi.overdue": "Overdue", "kpi.on_time": "On-time rate",
      "kpi.satisfaction": "Satisfaction", "map.title": "Cases and members", "map.label": "Map of cases and members",
      "map.cases": "Cases on the map", "map.list": "List the {n} cases on the map", legend: "Legend", "legend.new": "New / escalated", "legend.offered": "Offered",
      "legend.active": "In progress", "legend.overdue": "Overdue", "legend.free": "Member (free)", "legend.busy": "Member (full)",
      "queues.title": "Queues", "q.new": "To dispatch", "q.offered": "Offered", "q.active": "In progress",
      "q.overdue": "Overdue", "q.empty": "None", "q.more": "{n} more: scroll to show", "find.label": "Find an open case", "find.placeholder": "Tracking no.",
      "find.go": "Find", "find.none": "No open case number contains {q}", "find.many": "{n} numbers contain {q}; the newest is open", close: "Close", "card.offer_left": "Accept within",
      "card.due_left": "Due in", "card.overdue_by": "Overdue by", "card.no_deadline": "No deadline", "card.age": "Received",
      "card.urgent": "Urgent",
      "age.min": "{n} min ago", "age.hour": "{n} h ago", "age.day": "{n} d ago", "age.now": "just now",
      "alert.escalated": "Escalated: needs a dispatcher", "alert.overdue": "Case overdue", "alert.view": "Open",
      "alert.dismiss": "Dismiss alert",
      "d.status": "Status", "d.channel": "Channel", "d.category": "Category", "d.content": "Request", "d.reporter": "Reporter",
      "d.location": "Location", "d.photos": "Photos", "d.timeline": "Timeline", "d.candidates": "Manual assignment (nearest members)",
      "d.assign": "Assign", "d.assign_to": "Assign to {name}", "d.assigned_ok": "Assigned to {name}",
      "d.suggest": "Suggested categories (confirm)", "d.use": "Use", "d.use_category": "Use category {name}",
      "d.category_ok": "Category confirmed: {name}", "d.no_candidates": "No eligible member nearby", "d.loading": "Loading…", "d.photo_alt": "Photo from the resident {n}",
      "d.deadlines": "Deadlines", "d.offer_expires": "Accept by", "d.due": "Due", "d.urgency": "Urgency",
      "urgency.urgent": "Urgent", "urgency.normal": "Normal", "d.load": "Load {load}/{cap}", "d.previously": "offered before",
      "d.none": "None", "level.district": "District", "level.town": "Town", "level.village": "Village",
      "member.free": "free", "member.busy": "full", "member.off": "off duty", "sound.on": "on", "err.load": "Could not load: ",
      "hot.title": "Hotspots", "hot.empty": "No hotspots", "hot.size": "{n} cases", "hot.show": "Show the {n} similar cases of {place} on the map and queues",
      "hot.unknown_place": "several places", "alert.hotspot": "New hotspot",
      "d.kind": "Request type", "d.kind_set": "Set", "d.kind_ok": "Request type set to {name}; deadline recomputed", "kind.none": "Unknown",
      "kind.咨询": "Enquiry", "kind.求助": "Request for help", "kind.建议": "Suggestion", "kind.投诉": "Complaint", "kind.举报": "Report",
      "kind.complex": "Complex request",
      "d.files": "Files", "d.download": "Download {name}",
      "st.assigned": "Assigned", "st.accepted": "Accepted", "colon": ": ",
      "cd.days": "{d} d {h} h", "alert.ack": "Acknowledge", "alert.ack_all": "Acknowledge all ({n})",
      "alert.more": "{n} more alerts not acknowledged",
      "alert.hotspot_line": "{place}: {n} similar requests", "members.toggle": "Show members",
      "d.by_operator": "Assigned to {name} by the operator (not yet accepted by the member)",
      "d.by_operator_short": "Assigned to {name} by the operator",
      "d.accepted_by": "Accepted by {name}", "d.handling_by": "Handled by {name}", "d.current": "Current assignee",
      "d.reassign": "Reassign", "d.reassign_to": "Reassign to {name}", "d.reassigned_ok": "Reassigned to {name}",
      "d.member_n": "Member #{id}",
      "act.created": "Received", "act.offered": "Offered", "act.declined": "Declined by the member",
      "act.offer_expired": "Not accepted in time", "act.accepted": "Accepted", "act.assigned": "Assigned by the operator",
      "act.escalated": "Escalated to a dispatcher", "act.progress": "Progress", "act.resolved": "Resolved",
      "act.rated": "Resident's rating", "act.closed": "Closed", "act.reopened": "Reopened", "act.forwarded": "Forwarded",
      "act.merged": "Merged", "act.cancelled": "Cancelled", "act.platform_closed": "Closed on the platform",
      "act.feed_updated": "Updated by the platform", "act.categorised": "Category confirmed",
      "act.request_kind": "Request type set", "act.photos": "Photos added", "act.callback": "Callback",
      "act.reminded": "Reminder", "act.overdue": "Overdue", "act.supervised": "Supervision order",
      "act.extension_requested": "Extension requested", "act.extension_approved": "Extension approved",
      "act.extension_rejected": "Extension refused", "act.follow_up_scheduled": "Follow-up scheduled",
      "act.follow_up_due": "Follow-up due", "act.other": "Note",
    },
  });

  const root = document.getElementById("board");
  const ROLE = root.dataset.role;
  const CAN_ASSIGN = ROLE === "operator" || ROLE === "admin";
  const OPEN = ["new", "offered", "escalated", "assigned", "in_progress", "reopened"];
  const COLS = ["new", "offered", "active", "overdue"];
  const COLOURS = { new: "#ffa726", offered: "#fff176", active: "#4dd0e1", overdue: "#ff5252", closed: "#9e9e9e" };
  const KINDS = ["咨询", "求助", "建议", "投诉", "举报", "complex"];

  const cases = new Map(); // id -> case
  const cards = new Map(); // id -> button
  const markers = new Map(); // case id -> circleMarker
  const memberMarkers = new Map(); // member id -> marker
  const members = new Map(); // member id -> member
  const regions = new Map(); // code -> {name, parent_code, level}
  const overdueSeen = new Set();
  const howAssigned = new Map(); // case id -> "member" (signed for it) | "operator" (assigned it), from live events
  const hotspots = new Map(); // hotspot id -> open hotspot
  const hotClosed = new Set(); // ids no longer open: an older event must not bring them back
  let hotSelected = null;
  let map = null, caseRenderer = null, memberLayer = null, loaded = false, buffered = [];
  let showMembers = localStorage.getItem("sl_board_members") !== "0";
  let drawerId = null, drawerOpener = null;

  const tf = (key, vars) => SL.t(key).replace(/\{(\w+)\}/g, (_, k) => (vars && vars[k] != null ? vars[k] : ""));
  const ts = (iso) => (iso ? Date.parse(iso) : NaN);

  // ------------------------------------------------------------------ classification
  function isOverdue(c, now) {
    if (!OPEN.includes(c.status)) return false;
    const d = c.deadlines || {};
    if (d.due_at && ts(d.due_at) < now) return true;
    return c.status === "offered" && !!d.offer_expires_at && ts(d.offer_expires_at) < now;
  }
  function column(c, now) {
    if (!OPEN.includes(c.status)) return null;
    if (isOverdue(c, now)) return "overdue";
    if (c.status === "offered") return "offered";
    if (c.status === "assigned" || c.status === "in_progress") return "active";
    return "new";
  }
  function deadline(c) {
    const d = c.deadlines || {};
    if (c.status === "offered" && d.offer_expires_at) return { at: ts(d.offer_expires_at), key: "card.offer_left" };
    if (d.due_at) return { at: ts(d.due_at), key: "card.due_left" };
    return null;
  }
  function placeName(c) {
    const v = c.village_code && regions.get(c.village_code);
    const tw = c.town_code && regions.get(c.town_code);
    return [tw && tw.name, v && v.name].filter(Boolean).join(" · ") || c.address || "";
  }
  function shortCategory(cat) {
    if (!cat) return "—";
    return typeof SL.category === "function" ? SL.category(cat) : cat.split("/").pop();
  }
  function fullCategory(cat) {
    if (!cat) return "—";
    return typeof SL.category === "function" ? SL.category(cat, true) : cat;
  }
  function actorName(e) { return typeof SL.actor === "function" ? SL.actor(e) : e.actor; }
  function memberName(id) {
    const m = id != null && members.get(id);
    if (m) return m.name;
    const cand = drawerState && (drawerState.cands || []).find((x) => x.member_id === id);
    return cand ? cand.name : tf("d.member_n", { id });
  }
  // "assigned" is the member's signature (签收) or an operator's assignment: the board says which
  function signedBy(c) {
    if (c.status !== "assigned" && c.status !== "in_progress") return null;
    if ("accepted_at" in c) return c.accepted_at ? "member" : "operator";
    return howAssigned.get(c.id) || null;
  }
  function statusLabel(c) {
    if (c.status === "assigned") return SL.t(signedBy(c) === "member" ? "st.accepted" : "st.assigned");
    return SL.t("status." + c.status);
  }
  function fmtLeft(ms) {
    if (ms < 86400000) return SL.fmtCountdown(ms);
    return tf("cd.days", { d: Math.floor(ms / 86400000), h: Math.floor((ms % 86400000) / 3600000) });
  }

  // ------------------------------------------------------------------ cards
  function cardHTML(c, col) {
    const dl = deadline(c);
    return (
      `<span class="c-no">${SL.esc(c.tracking_no)}</span>` +
      `<span class="c-mid"><span class="c-cat" title="${SL.esc(fullCategory(c.category))}">${SL.esc(shortCategory(c.category))}</span>` +
      `<span class="c-chips">` +
      (c.urgency === "urgent" ? `<span class="chip urgent">${SL.esc(SL.t("card.urgent"))}</span>` : "") +
      `<span class="chip st-${col}">${SL.esc(statusLabel(c))}</span></span></span>` +
      `<span class="c-place">${SL.esc(placeName(c) || "—")}</span>` +
      `<span class="c-cd" data-cd>${dl ? "" : SL.esc(SL.t("card.no_deadline"))}</span>`
    );
  }
  function updateCountdown(card, c, now) {
    const el = card.querySelector("[data-cd]");
    const dl = deadline(c);
    if (!el || !dl) return;
    const left = dl.at - now;
    const label = SL.t(left < 0 ? "card.overdue_by" : dl.key), value = fmtLeft(Math.abs(left));
    if (el.dataset.label !== label) {
      el.innerHTML = `<span class="cd-label"></span> <span class="cd-val"></span>`;
      el.firstChild.textContent = el.dataset.label = label;
    }
    el.lastChild.textContent = value;
    el.classList.toggle("late", left < 0);
  }
  // ------------------------------------------------------------------ queues at county scale
  // Every open case is held in its column's order (newest first) and counted; the page holds cards only for the
  // first `shown[col]` of a column and adds PAGE more when the column's end scrolls into view, so 5,000 open cases
  // cost a few hundred cards. Changes mark what they touch and one animation frame redraws it.
  const PAGE = 60;
  const order = { new: [], offered: [], active: [], overdue: [] }; // case ids, newest first
  const placed = new Map(); // case id -> the column it is in
  const shown = { new: PAGE, offered: PAGE, active: PAGE, overdue: PAGE };
  const dirtyCols = new Set(COLS), dirtyCards = new Set(), dirtyMarkers = new Set();
  let frame = 0;
  function createdTs(id) { const c = cases.get(id); return c ? c._ts : 0; }
  function before(a, b) { const d = createdTs(b) - createdTs(a); return d ? d < 0 : a > b; } // a shown above b
  function insertAt(arr, id) {
    let lo = 0, hi = arr.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (before(arr[mid], id)) lo = mid + 1; else hi = mid; }
    return lo;
  }
  function place(id, col) {
    const was = placed.get(id);
    if (was === col) return;
    if (was) {
      const arr = order[was], i = arr.indexOf(id);
      if (i >= 0) arr.splice(i, 1);
      dirtyCols.add(was);
    }
    if (col) { order[col].splice(insertAt(order[col], id), 0, id); placed.set(id, col); dirtyCols.add(col); }
    else placed.delete(id);
  }
  function schedule() { if (!frame) frame = requestAnimationFrame(flush); }
  function renderCard(c, now) {
    place(c.id, column(c, now));
    dirtyCards.add(c.id);
    schedule();
  }
  function renderMarker(c) { dirtyMarkers.add(c.id); loadsDirty = true; schedule(); }
  // A member's load (open offer + assigned + in progress) follows from the open cases, which the board holds
  // in full once loaded: counted here on every change instead of fetching the member list again.
  let loadsDirty = false, allCases = false;
  function countLoads() {
    loadsDirty = false;
    if (!allCases) return;
    const held = new Map();
    for (const c of cases.values()) {
      const who = c.status === "offered" ? c.offered_to
        : c.status === "assigned" || c.status === "in_progress" ? c.assignee_id : null;
      if (who != null) held.set(who, (held.get(who) || 0) + 1);
    }
    for (const mb of members.values()) {
      const load = held.get(mb.id) || 0;
      if (mb.load !== load) { mb.load = load; renderMember(mb); }
    }
  }
  function cardFor(id) {
    let card = cards.get(id);
    if (!card) {
      card = document.createElement("button");
      card.type = "button";
      card.className = "case-card";
      card.dataset.caseId = id;
      card.addEventListener("click", () => openDrawer(id, card));
      cards.set(id, card);
      dirtyCards.add(id);
    }
    return card;
  }
  function fillCard(card, c, col, now, hot) {
    card.dataset.col = col;
    card.dataset.status = c.status;
    card.classList.toggle("hot", hot.has(c.id));
    card.classList.toggle("selected", drawerId === c.id);
    card.innerHTML = cardHTML(c, col);
    card.setAttribute("aria-label", `${c.tracking_no} ${statusLabel(c)} ${shortCategory(c.category)} ${placeName(c)}`);
    updateCountdown(card, c, now);
  }
  const moreObserver = window.IntersectionObserver
    ? new IntersectionObserver((entries) => {
      for (const e of entries) {
        if (!e.isIntersecting) continue;
        const col = e.target.dataset.col;
        if (shown[col] < order[col].length) { shown[col] += PAGE; dirtyCols.add(col); schedule(); }
      }
    }, { rootMargin: "0px 0px 400px 0px" })
    : null;
  const moreRows = {};
  function moreRow(col) {
    let row = moreRows[col];
    if (!row) {
      row = moreRows[col] = document.createElement("button");
      row.type = "button";
      row.className = "more-cards";
      row.dataset.col = col;
      row.addEventListener("click", () => { shown[col] += PAGE; dirtyCols.add(col); schedule(); });
      if (moreObserver) moreObserver.observe(row);
    }
    row.textContent = tf("q.more", { n: order[col].length - shown[col] });
    return row;
  }
  function drawColumn(col) {
    const list = document.getElementById("queue-" + col);
    const want = order[col].slice(0, shown[col]);
    let i = 0;
    for (const id of want) {
      const card = cardFor(id);
      const at = list.children[i];
      if (at !== card) list.insertBefore(card, at || null);
      i++;
    }
    while (list.children.length > i) list.lastElementChild.remove();
    if (order[col].length > want.length) list.appendChild(moreRow(col));
  }
  function flush() {
    frame = 0;
    const now = Date.now(), focused = document.activeElement;
    for (const col of dirtyCols) drawColumn(col);
    const drewCols = dirtyCols.size > 0;
    dirtyCols.clear();
    for (const [id, card] of cards) if (!card.isConnected) cards.delete(id);
    const hot = hotCases();
    for (const id of dirtyCards) {
      const card = cards.get(id), c = cases.get(id);
      if (card && c) fillCard(card, c, placed.get(id), now, hot);
    }
    dirtyCards.clear();
    for (const id of dirtyMarkers) { const c = cases.get(id); if (c) drawMarker(c, now, hot); }
    dirtyMarkers.clear();
    if (loadsDirty) countLoads();
    if (drewCols) updateCounts();
    if (focused && focused !== document.activeElement && focused.isConnected) focused.focus({ preventScroll: true });
  }
  // the card of a case, drawn now even when it lies beyond what its column shows (a hotspot, a search)
  function reveal(id) {
    const col = placed.get(id);
    if (!col) return null;
    const i = order[col].indexOf(id);
    if (i >= shown[col]) { shown[col] = Math.ceil((i + 1) / PAGE) * PAGE; dirtyCols.add(col); }
    flush();
    return cards.get(id) || null;
  }
  // the operator on the phone with a resident types the tracking number (or its end) to find the case
  const findForm = document.getElementById("find");
  findForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = document.getElementById("find-no").value.trim().toUpperCase();
    const msg = document.getElementById("find-msg");
    msg.textContent = "";
    if (!q) return;
    const found = [];
    for (const id of placed.keys()) { const c = cases.get(id); if (c && c.tracking_no.toUpperCase().includes(q)) found.push(c); }
    const exact = found.find((c) => c.tracking_no.toUpperCase() === q);
    found.sort((a, b) => b._ts - a._ts || b.id - a.id);
    const pick = exact || found[0];
    if (!pick) { msg.textContent = tf("find.none", { q }); return; }
    if (!exact && found.length > 1) msg.textContent = tf("find.many", { n: found.length, q });
    const card = reveal(pick.id);
    if (card) card.scrollIntoView({ block: "center" });
    openDrawer(pick.id, card);
  });
  function updateCounts() {
    for (const col of COLS) {
      document.getElementById("count-" + col).textContent = order[col].length;
      document.getElementById("queue-" + col).dataset.empty = SL.t("q.empty");
    }
    mapListBtn.textContent = tf("map.list", { n: markers.size });
  }

  // ------------------------------------------------------------------ map
  function markerColour(c, now) {
    const col = column(c, now);
    return col ? COLOURS[col] : COLOURS.closed;
  }
  // The markers as a list for the keyboard and screen readers, on demand: a button (visible when focused) builds
  // it from the markers and focus moves into it; once focus leaves it, it is dropped. Kept always, thousands of
  // hidden buttons stood in the tab order before the queues, and laying them out cost ~160 ms per frame.
  const mapItems = new Map(); // case id -> li, while the list is open
  const mapList = document.getElementById("map-cases"), mapListBtn = document.getElementById("map-list");
  function mapItem(c) {
    if (mapList.hidden) return;
    let li = mapItems.get(c.id);
    if (!li) {
      li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.caseId = c.id;
      b.addEventListener("click", () => openDrawer(c.id, mapListBtn)); // the list goes with the focus
      li.appendChild(b);
      mapList.appendChild(li);
      mapItems.set(c.id, li);
    }
    li.firstChild.textContent = `${c.tracking_no} ${statusLabel(c)} ${placeName(c)}`;
  }
  function closeMapList() {
    mapList.hidden = true;
    mapList.textContent = "";
    mapItems.clear();
  }
  mapListBtn.addEventListener("click", () => {
    mapList.hidden = false;
    for (const id of markers.keys()) { const c = cases.get(id); if (c) mapItem(c); }
    const first = mapList.querySelector("button");
    if (first) first.focus();
    else closeMapList();
  });
  mapList.addEventListener("focusout", (e) => { if (!mapList.contains(e.relatedTarget)) closeMapList(); });
  function dropMarker(id) {
    const m = markers.get(id);
    if (m) { map.removeLayer(m); markers.delete(id); }
    const li = mapItems.get(id);
    if (li) { li.remove(); mapItems.delete(id); }
    const c = cases.get(id);
    if (c && !OPEN.includes(c.status)) cases.delete(id); // a closed case's last trace on the board
  }
  function drawMarker(c, now, hot) {
    if (!map || c.lat == null || c.lon == null) return;
    let m = markers.get(c.id);
    const colour = markerColour(c, now);
    const tip = `${SL.esc(c.tracking_no)} · ${SL.esc(statusLabel(c))}`;
    if (!m) {
      m = L.circleMarker([c.lat, c.lon], { renderer: caseRenderer, radius: 10, weight: 2, color: "#0b0f14", fillColor: colour, fillOpacity: 0.95 });
      m.on("click", () => openDrawer(c.id, null));
      m.addTo(map);
      if (hot.has(c.id)) m.setStyle({ color: "#ffd54f", weight: 5 });
      m.bindTooltip(tip);
      markers.set(c.id, m);
    } else {
      m.setLatLng([c.lat, c.lon]);
      m.setStyle({ fillColor: colour });
      m.setTooltipContent(tip);
    }
    mapItem(c);
    if (!OPEN.includes(c.status)) {
      clearTimeout(m._slRemove);
      m._slRemove = setTimeout(() => dropMarker(c.id), 60000);
    }
  }
  function memberIcon(mb) {
    const busy = mb.load != null && mb.capacity != null && mb.load >= mb.capacity;
    const cls = !mb.on_duty ? "off" : busy ? "busy" : "free";
    return L.divIcon({ className: "member-icon " + cls, iconSize: [12, 12], html: "" });
  }
  function memberTip(mb) {
    const busy = mb.load != null && mb.capacity != null && mb.load >= mb.capacity;
    const state = !mb.on_duty ? SL.t("member.off") : busy ? SL.t("member.busy") : SL.t("member.free");
    const load = mb.load != null ? " · " + tf("d.load", { load: mb.load, cap: mb.capacity }) : "";
    return `${SL.esc(mb.name)} · ${SL.esc(state)}${SL.esc(load)}`;
  }
  function renderMember(mb) {
    if (!map || mb.lat == null || mb.lon == null) return;
    let m = memberMarkers.get(mb.id);
    if (!m) {
      m = L.marker([mb.lat, mb.lon], { icon: memberIcon(mb), keyboard: false, zIndexOffset: -100 });
      memberLayer.addLayer(m);
      memberMarkers.set(mb.id, m);
    } else {
      m.setLatLng([mb.lat, mb.lon]);
      m.setIcon(memberIcon(mb));
    }
    m.unbindTooltip().bindTooltip(memberTip(mb));
    const el = m.getElement();
    if (el) { el.setAttribute("data-member-id", mb.id); el.setAttribute("aria-hidden", "true"); }
  }
  async function initMap() {
    const el = document.getElementById("map");
    map = L.map(el, { zoomControl: false, attributionControl: true, zoomSnap: 0.1, zoomDelta: 0.5, maxZoom: 18 });
    L.control.zoom({ position: "bottomright" }).addTo(map);
    map.createPane("cases").style.zIndex = 650;
    // case markers on one canvas: thousands of SVG circles made every frame lay out and paint them all (60–120 ms
    // per frame at 5,000 open cases); a canvas redraws what changed
    caseRenderer = L.canvas({ pane: "cases", padding: 0.05, tolerance: 3 }); // a small margin: each redraw uploads it whole
    // town names over the markers as outlined text (no box): a marker under a name stays visible around it
    const labels = map.createPane("labels");
    labels.style.zIndex = 655;
    labels.style.pointerEvents = "none";
    // members: counted clusters when they crowd (hundreds of squares would bury the cases), one toggle hides them
    memberLayer = L.markerClusterGroup
      ? L.markerClusterGroup({
        showCoverageOnHover: false, spiderfyOnMaxZoom: false, zoomToBoundsOnClick: true, maxClusterRadius: 45,
        iconCreateFunction: (cl) => L.divIcon({ className: "member-cluster", iconSize: [36, 36],
          html: `<span>${cl.getChildCount()}</span>` }),
      })
      : L.layerGroup();
    if (showMembers) memberLayer.addTo(map);
    renderMembersToggle();
    map.attributionControl.setPrefix(false);
    const tileUrl = root.dataset.tileUrl;
    if (tileUrl) L.tileLayer(tileUrl, { attribution: root.dataset.tileAttribution || "", maxZoom: 18 }).addTo(map);
    map.setView([33.27, 120.0], 10);
    try {
      const gj = await SL.api("/api/regions/geojson");
      const layer = L.geoJSON(gj, {
        interactive: false,
        style: (f) => f.properties.level === "district"
          ? { color: "#e8eef4", weight: 3, fill: false }
          : { color: "#7d93a8", weight: 1, fillColor: "#2a3b4d", fillOpacity: 0.35 },
      }).addTo(map);
      for (const f of gj.features) {
        const p = f.properties;
        if (p.level !== "town" || !p.centre) continue;
        L.marker([p.centre[1], p.centre[0]], {
          interactive: false, keyboard: false, pane: "labels",
          icon: L.divIcon({ className: "town-label", html: `<span>${SL.esc(p.name)}</span>`, iconSize: null }),
        }).addTo(map);
      }
      fitDistrict = () => {
        map.invalidateSize();
        // keep the district clear of the members toggle (top) and the legend (bottom)
        const box = el.getBoundingClientRect();
        const tools = document.querySelector(".map-tools").getBoundingClientRect();
        const legend = document.getElementById("legend").getBoundingClientRect();
        map.fitBounds(layer.getBounds(), {
          paddingTopLeft: [8, Math.max(8, tools.bottom - box.top + 4)],
          paddingBottomRight: [8, Math.max(8, box.bottom - legend.top + 4)],
        });
      };
      fitDistrict();
      // the wall's layout settles after the first paint: fit the district again when the map's box changes
      if (window.ResizeObserver) new ResizeObserver(() => fitDistrict()).observe(el);
    } catch (e) {
      showError(e);
    }
  }

  let fitDistrict = () => {};
  const membersBtn = document.getElementById("members-toggle");
  function renderMembersToggle() { membersBtn.setAttribute("aria-pressed", showMembers ? "true" : "false"); }
  membersBtn.addEventListener("click", () => {
    showMembers = !showMembers;
    localStorage.setItem("sl_board_members", showMembers ? "1" : "0");
    if (map && memberLayer) { if (showMembers) memberLayer.addTo(map); else map.removeLayer(memberLayer); }
    renderMembersToggle();
  });

  // ------------------------------------------------------------------ state
  function upsert(c, fromEvent) {
    const prev = cases.get(c.id);
    if (prev && fromEvent && c.updated_at && prev.updated_at && ts(c.updated_at) < ts(prev.updated_at)) return prev;
    if (fromEvent && liveDuringLoad) liveDuringLoad.add(c.id);
    const merged = Object.assign({}, prev || {}, c);
    if (prev && prev.attachments && !c.attachments) merged.attachments = prev.attachments;
    merged._ts = ts(merged.created_at) || 0;
    cases.set(c.id, merged);
    const now = Date.now();
    if (isOverdue(merged, now)) overdueSeen.add(merged.id);
    renderCard(merged, now);
    renderMarker(merged, now);
    return merged;
  }
  // Every open case as a card (the fields a card and a marker show), newest first, a page at a time by key (no
  // case skipped or repeated while others change); the next page is asked for before this one is drawn, and
  // each is on the board as soon as it arrives.
  const LOAD_PAGE = 2000;
  let liveDuringLoad = null; // cases events brought while a load ran: not absent because a page missed them
  const yieldTask = () => new Promise((resolve) => setTimeout(resolve, 0));
  async function loadCases(ready) {
    const ids = new Set();
    const pageAfter = (last) => SL.api(`/api/cases/cards?status=${OPEN.join(",")}&limit=${LOAD_PAGE}` + (last ? `&before_id=${last}` : ""));
    liveDuringLoad = new Set();
    let next = pageAfter(null);
    await ready; // the first page travels while the map and the place names load
    for (;;) {
      const page = await next;
      const more = page.length === LOAD_PAGE;
      if (more) { next = pageAfter(page[page.length - 1].id); await yieldTask(); } // let the request leave first
      for (const c of page) { ids.add(c.id); upsert(c); }
      if (!more) break;
    }
    const live = liveDuringLoad;
    liveDuringLoad = null;
    allCases = true;
    loadsDirty = true;
    for (const [id, c] of cases) {
      if (!ids.has(id) && !live.has(id) && OPEN.includes(c.status)) upsert(Object.assign({}, c, { status: "closed" }));
    }
  }
  async function loadMembers() {
    const list = await SL.api("/api/members");
    for (const mb of list) { members.set(mb.id, mb); renderMember(mb); }
  }
  async function loadRegions() {
    const [towns, villages] = await Promise.all([SL.api("/api/regions?level=town"), SL.api("/api/regions?level=village")]);
    for (const r of towns.concat(villages)) regions.set(r.code, r);
  }
  function pct(v) { return v == null ? "—" : (v * 100).toFixed(1) + "%"; }
  async function loadSummary() {
    const s = await SL.api("/api/reports/summary");
    document.getElementById("kpi-total").textContent = s.intake_today_total ?? "—";
    document.getElementById("kpi-open").textContent = s.open ?? "—";
    document.getElementById("kpi-overdue").textContent = s.overdue ?? "—";
    document.getElementById("kpi-on-time").textContent = pct(s.on_time_rate);
    document.getElementById("kpi-satisfaction").textContent = pct(s.satisfaction_rate);
    const ch = document.getElementById("kpi-channels");
    ch.innerHTML = Object.entries(s.intake_today || {})
      .map(([k, v]) => `<span class="ch"><span class="ch-name">${SL.esc(SL.t("channel." + k, k))}</span> <b>${SL.esc(v)}</b></span>`)
      .join("");
    ch.dataset.summary = JSON.stringify(s.intake_today || {});
  }
  function showError(e) {
    console.error(e);
    pushAlert("error", SL.t("err.load") + (e && e.message ? e.message : e), null);
  }

  // Counters: on load, at most every 5 s after events, and every 60 s with the member list (loads are counted
  // from the cases in between; positions and duty changes arrive as events).
  let lastRefresh = 0, refreshTimer = null;
  function refreshSoon() {
    if (refreshTimer) return;
    const wait = Math.max(300, lastRefresh + 5000 - Date.now());
    refreshTimer = setTimeout(() => { refreshTimer = null; refreshNow(); }, wait);
  }
  function refreshNow() {
    lastRefresh = Date.now();
    loadSummary().catch(() => {});
  }

  // ------------------------------------------------------------------ alarms
  let soundOn = localStorage.getItem("sl_board_sound") === "1", audio = null;
  const soundBtn = document.getElementById("sound-toggle");
  function renderSound() { soundBtn.setAttribute("aria-pressed", soundOn ? "true" : "false"); }
  soundBtn.addEventListener("click", () => {
    soundOn = !soundOn;
    localStorage.setItem("sl_board_sound", soundOn ? "1" : "0");
    renderSound();
    if (soundOn) { ensureAudio(); beep("test"); }
  });
  function ensureAudio() {
    if (!audio) { const Ctx = window.AudioContext || window.webkitAudioContext; if (Ctx) audio = new Ctx(); }
    if (audio && audio.state === "suspended") audio.resume();
    return audio;
  }
  // A tone made here (WebAudio), no audio file: two rising notes for an escalation, three for a hotspot.
  const TONES = { escalated: [660, 880], hotspot: [880, 660, 880], overdue: [520, 520], test: [880] };
  function beep(kind) {
    if (!soundOn || !ensureAudio()) return;
    window.__slBeeps = (window.__slBeeps || 0) + 1;
    (TONES[kind] || TONES.test).forEach((hz, i) => {
      const o = audio.createOscillator(), g = audio.createGain(), at = audio.currentTime + i * 0.28;
      o.type = "square"; o.frequency.value = hz;
      g.gain.setValueAtTime(0.0001, at);
      g.gain.exponentialRampToValueAtTime(0.2, at + 0.02);
      g.gain.exponentialRampToValueAtTime(0.001, at + 0.25);
      o.connect(g).connect(audio.destination);
      o.start(at); o.stop(at + 0.26);
    });
  }
  const banner = document.getElementById("alert-banner");
  const alertList = document.getElementById("alert-list");
  const alertMore = document.getElementById("alert-more");
  const SHOWN = 3; // alarms shown at once; the rest wait (counted) until these are acknowledged
  const KIND_KEYS = { escalated: "alert.escalated", overdue: "alert.overdue", hotspot: "alert.hotspot" };
  function alertParts(item) {
    const kind = item.dataset.kind;
    if (kind === "hotspot") {
      const h = hotspots.get(Number(item.dataset.hotspotId));
      const place = h ? hotPlace(h) : item.dataset.place || "";
      return { head: SL.t("alert.hotspot"), no: "", rest: tf("alert.hotspot_line", { place, n: h ? h.size : item.dataset.size }) };
    }
    const c = cases.get(Number(item.dataset.caseId));
    if (!c || !KIND_KEYS[kind]) return { head: item.dataset.text || "", no: "", rest: "" };
    return { head: SL.t(KIND_KEYS[kind]), no: c.tracking_no, rest: `${shortCategory(c.category)} ${placeName(c)}` };
  }
  function fillAlert(item) {
    const p = alertParts(item);
    const text = item.querySelector(".alert-text");
    text.innerHTML = `<span class="alert-kind"></span>${p.no ? '<span class="alert-no"></span>' : ""}<span class="alert-rest"></span>`;
    text.querySelector(".alert-kind").textContent = p.head + (p.no || p.rest ? SL.t("colon") : "");
    if (p.no) text.querySelector(".alert-no").textContent = p.no;
    text.querySelector(".alert-rest").textContent = p.rest;
    const view = item.querySelector("button.view");
    if (view) view.textContent = SL.t("alert.view");
    const ack = item.querySelector("button.dismiss");
    ack.textContent = SL.t(item.dataset.kind === "error" ? "alert.dismiss" : "alert.ack");
  }
  function renderAlertState() {
    const items = [...alertList.children];
    items.forEach((it, i) => { it.hidden = i >= SHOWN; });
    const waiting = items.length - SHOWN;
    alertMore.hidden = waiting <= 0;
    if (waiting > 0) {
      alertMore.querySelector(".more-text").textContent = tf("alert.more", { n: waiting });
      alertMore.querySelector("button").textContent = tf("alert.ack_all", { n: items.length });
    }
    banner.hidden = !items.length;
    document.body.classList.toggle("alarming", items.some((it) => it.dataset.kind !== "error"));
  }
  function rerenderAlerts() {
    for (const item of alertList.children) fillAlert(item);
    renderAlertState();
  }
  function pushAlert(kind, text, caseId, extra) {
    const same = [...alertList.children].find((it) => it.dataset.kind === kind &&
      ((caseId != null && it.dataset.caseId === String(caseId)) || (extra && it.dataset.hotspotId === String(extra.hotspotId))));
    if (same) same.remove(); // the same alarm again moves to the top, once
    const item = document.createElement("div");
    item.className = "alert-item " + kind;
    item.dataset.kind = kind;
    if (caseId != null) item.dataset.caseId = caseId;
    if (extra) Object.assign(item.dataset, extra);
    item.dataset.text = text || "";
    const msg = document.createElement("span");
    msg.className = "alert-text";
    item.appendChild(msg);
    if (caseId != null || (extra && extra.hotspotId)) {
      const view = document.createElement("button");
      view.type = "button";
      view.className = "view";
      view.addEventListener("click", () => {
        if (caseId != null) openDrawer(caseId, view);
        else { hotSelected = Number(extra.hotspotId); renderHotspots(); applyHighlight(true); }
      });
      item.appendChild(view);
    }
    const x = document.createElement("button");
    x.type = "button";
    x.className = "dismiss";
    x.addEventListener("click", () => removeAlert(item));
    item.appendChild(x);
    fillAlert(item);
    alertList.prepend(item);
    while (alertList.children.length > 200) alertList.lastElementChild.remove();
    if (kind === "error") setTimeout(() => removeAlert(item), 120000); // an alarm stays until acknowledged
    renderAlertState();
  }
  document.querySelector("#alert-more button").addEventListener("click", () => {
    alertList.innerHTML = "";
    renderAlertState();
  });
  function removeAlert(item) {
    item.remove();
    renderAlertState();
  }
  function alarm(c, kind) {
    flush(); // the card of a case that just arrived exists from here on
    const card = cards.get(c.id);
    // flash again by switching between two animations of another name, without reading the layout (forcing
    // the layout of a page that holds 5,000 markers took ~20 ms per alarm)
    if (card) { const again = card.classList.contains("flash"); card.classList.toggle("flash", !again); card.classList.toggle("flash-again", again); }
    pushAlert(kind, "", c.id);
    beep(kind);
  }

  // ------------------------------------------------------------------ hotspots (研判热点)
  function hotCases() {
    const h = hotSelected != null && hotspots.get(hotSelected);
    return new Set(h ? h.case_ids : []);
  }
  async function loadHotspots() {
    const list = await SL.api("/api/hotspots");
    hotspots.clear();
    for (const h of list) { hotspots.set(h.id, h); hotClosed.delete(h.id); }
    if (hotSelected != null && !hotspots.has(hotSelected)) hotSelected = null;
    renderHotspots();
    applyHighlight(false);
  }
  function onHotspot(ev) {
    const h = ev.hotspot;
    if (!h) return;
    const prev = hotspots.get(h.id);
    if (prev && prev.updated_at && h.updated_at && ts(h.updated_at) < ts(prev.updated_at)) return;
    if (h.status === "open") {
      if (hotClosed.has(h.id)) return;
      hotspots.set(h.id, h);
      if (ev.type === "hotspot.flagged" && !prev) {
        flashHot = h.id;
        pushAlert("hotspot", "", null, { hotspotId: String(h.id), place: hotPlace(h), size: String(h.size) });
        beep("hotspot");
      }
    } else {
      hotClosed.add(h.id);
      hotspots.delete(h.id);
      if (hotSelected === h.id) hotSelected = null;
    }
    renderHotspots();
    applyHighlight(false);
  }
  let flashHot = null;
  function hotPlace(h) {
    const v = h.village_code && regions.get(h.village_code);
    const tw = h.town_code && regions.get(h.town_code);
    return h.place || [tw && tw.name, v && v.name].filter(Boolean).join(" · ") || SL.t("hot.unknown_place");
  }
  function renderHotspots() {
    const list = document.getElementById("hot-list");
    const rows = [...hotspots.values()].sort((a, b) => ts(b.last_at) - ts(a.last_at) || b.id - a.id);
    const focused = document.activeElement && list.contains(document.activeElement) ? document.activeElement.dataset.hotspotId : null;
    list.innerHTML = rows.map((h) => {
      const place = hotPlace(h);
      const span = `${SL.fmtTime(h.first_at, true)} – ${SL.fmtTime(h.last_at, true)}`;
      return `<li><button type="button" class="hot-item" data-hotspot-id="${h.id}" aria-pressed="${hotSelected === h.id}" ` +
        `aria-label="${SL.esc(tf("hot.show", { place, n: h.size }))}">` +
        `<span><span class="hot-place">${SL.esc(place)}</span><span class="hot-size">${SL.esc(tf("hot.size", { n: h.size }))}</span></span>` +
        `<span class="hot-words">${SL.esc((h.keywords || []).join("、"))}</span>` +
        `<span class="hot-span">${SL.esc(span)}</span></button></li>`;
    }).join("");
    list.querySelectorAll("button.hot-item").forEach((b) => b.addEventListener("click", () => {
      const id = Number(b.dataset.hotspotId);
      hotSelected = hotSelected === id ? null : id;
      renderHotspots();
      applyHighlight(true);
    }));
    if (flashHot != null) {
      const b = list.querySelector(`[data-hotspot-id="${flashHot}"]`);
      if (b) b.classList.add("flash");
      flashHot = null;
    }
    if (focused) { const again = list.querySelector(`[data-hotspot-id="${focused}"]`); if (again) again.focus(); }
    const panel = document.getElementById("hotspots");
    panel.dataset.count = rows.length;
    document.getElementById("hot-count").textContent = rows.length;
    document.getElementById("hot-empty").hidden = rows.length > 0;
  }
  function applyHighlight(fit) {
    const ids = hotCases();
    for (const [id, card] of cards) card.classList.toggle("hot", ids.has(id));
    for (const [id, m] of markers) {
      m.setStyle(ids.has(id) ? { color: "#ffd54f", weight: 5 } : { color: "#0b0f14", weight: 2 });
      if (ids.has(id)) m.bringToFront();
    }
    if (!fit || !ids.size) return;
    const first = [...ids].filter((id) => placed.has(id)).map((id) => reveal(id)).find(Boolean);
    if (first) first.scrollIntoView({ block: "nearest" });
    const pts = [...ids].map((id) => cases.get(id)).filter((c) => c && c.lat != null).map((c) => [c.lat, c.lon]);
    if (map && pts.length) map.fitBounds(L.latLngBounds(pts).pad(0.5), { maxZoom: 15 });
  }

  // ------------------------------------------------------------------ live
  function onEvent(ev) {
    if (ev.type === "hello") return;
    if (!loaded) { buffered.push(ev); return; }
    if (ev.type === "replay.gap") {
      // events were lost: reload what they would have told us (members otherwise arrive only as deltas)
      loadCases().catch(showError); loadHotspots().catch(showError); loadMembers().catch(showError); refreshSoon(); return;
    }
    if (ev.type && ev.type.startsWith("hotspot.")) { onHotspot(ev); return; }
    if ((ev.type === "member.position" || ev.type === "member.updated") && ev.member) {
      const mb = Object.assign({}, members.get(ev.member.id) || {}, ev.member);
      members.set(mb.id, mb);
      renderMember(mb);
      return;
    }
    if (!ev.case) return;
    if (ev.action === "accepted") howAssigned.set(ev.case.id, "member");
    else if (ev.action === "assigned") howAssigned.set(ev.case.id, "operator");
    const wasOverdue = overdueSeen.has(ev.case.id);
    const c = upsert(ev.case, true);
    updateCounts();
    if (ev.type === "case.escalated") alarm(c, "escalated");
    else if ((ev.type === "case.overdue" || isOverdue(c, Date.now())) && !wasOverdue && loaded) alarm(c, "overdue");
    if (drawerId === c.id) refreshDrawerSoon();
    refreshSoon();
  }
  function onStatus(up) {
    if (typeof SL.liveStatus === "function") { SL.liveStatus(up); return; }
    const el = document.getElementById("live-status");
    el.classList.toggle("online", up);
    el.classList.toggle("offline", !up);
    el.dataset.i18n = up ? "live.online" : "live.offline";
    el.textContent = SL.t(el.dataset.i18n);
  }

  // ------------------------------------------------------------------ the drawer
  const drawer = document.getElementById("drawer");
  const dBody = document.getElementById("drawer-body");
  const dTitle = document.getElementById("drawer-title");
  document.getElementById("drawer-close").addEventListener("click", closeDrawer);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !drawer.hidden) { e.preventDefault(); closeDrawer(); }
  });
  function closeDrawer() {
    drawer.hidden = true;
    drawerId = null;
    document.querySelectorAll(".case-card.selected").forEach((el) => el.classList.remove("selected"));
    const back = drawerOpener && document.contains(drawerOpener) ? drawerOpener : null;
    drawerOpener = null;
    if (back) back.focus();
  }
  let drawerSeq = 0, drawerTimer = null, drawerState = null;
  function refreshDrawerSoon() {
    clearTimeout(drawerTimer);
    drawerTimer = setTimeout(() => { if (drawerId != null) loadDrawer(drawerId, true); }, 400);
  }
  function openDrawer(id, opener) {
    drawerId = id;
    drawerOpener = opener || document.activeElement;
    document.querySelectorAll(".case-card.selected").forEach((el) => el.classList.remove("selected"));
    const card = cards.get(id);
    if (card) card.classList.add("selected");
    drawer.hidden = false;
    const c = cases.get(id);
    dTitle.textContent = c ? c.tracking_no : "";
    drawerState = { c: c || null, events: null, cands: null, msg: null };
    renderDrawer();
    dTitle.focus();
    loadDrawer(id, false);
  }
  async function loadDrawer(id, keepMsg) {
    const seq = ++drawerSeq;
    try {
      const [c, events, cands] = await Promise.all([
        SL.api(`/api/cases/${id}`),
        SL.api(`/api/cases/${id}/events`),
        CAN_ASSIGN ? SL.api(`/api/cases/${id}/candidates`).catch(() => []) : Promise.resolve(null),
      ]);
      const suggested = CAN_ASSIGN && c.content
        ? await SL.api("/api/analysis/suggest-category", { body: { text: c.content } }).catch(() => null) : null;
      if (seq !== drawerSeq || drawerId !== id) return;
      const how = lastAssignment(events);
      if (how) howAssigned.set(id, how.action === "accepted" ? "member" : "operator");
      upsert(c, true);
      updateCounts();
      drawerState = { c: cases.get(id), events, cands, suggested, msg: keepMsg && drawerState ? drawerState.msg : null,
        kindPick: drawerState ? drawerState.kindPick : undefined };
      renderDrawer();
    } catch (e) {
      if (seq !== drawerSeq) return;
      drawerState.msg = { ok: false, text: e.message };
      renderDrawer();
    }
  }
  // the latest assignment or signature in the trail (the status alone does not say which)
  function lastAssignment(events) {
    for (let i = (events || []).length - 1; i >= 0; i--) {
      const e = events[i];
      if (e.action === "accepted" || e.action === "assigned") return e;
    }
    return null;
  }
  function assignmentText(c, events) {
    if (c.status !== "assigned" && c.status !== "in_progress") return "";
    const e = lastAssignment(events);
    const who = (e && e.data && e.data.member_id) || c.assignee_id;
    const name = memberName(who);
    if (e && e.action === "assigned" && signedBy(c) !== "member") {
      return tf(c.status === "assigned" ? "d.by_operator" : "d.by_operator_short", { name });
    }
    if (e && e.action === "accepted") return tf("d.accepted_by", { name: memberName(c.assignee_id) });
    return tf("d.handling_by", { name: memberName(c.assignee_id) });
  }
  function actionLabel(e) {
    if (e.action === "assigned") return SL.t("act.assigned");
    if (e.to_status && e.action === e.to_status) return SL.t("status." + e.to_status);
    const key = "act." + e.action;
    const word = SL.t(key);
    if (word !== key) return word;
    return e.to_status ? SL.t("status." + e.to_status) : SL.t("act.other");
  }
  function noteText(e) {
    // the system writes its notes as "中文 / English": show the page's language
    if (!e.note) return "";
    const sys = !e.actor || e.actor === "system" || e.actor.startsWith("system:");
    const parts = e.note.split(" / ");
    if (!sys || parts.length !== 2) return e.note;
    return SL.lang === "en" ? parts[1] : parts[0];
  }
  function fmtDist(m) { return m < 1000 ? Math.round(m) + " m" : (m / 1000).toFixed(1) + " km"; }
  function fmtSize(n) { return n < 1024 ? n + " B" : n < 1048576 ? Math.ceil(n / 1024) + " KB" : (n / 1048576).toFixed(1) + " MB"; }
  function renderDrawer() {
    if (drawer.hidden || !drawerState) return;
    const { c, events, cands, msg } = drawerState;
    if (!c) { dBody.innerHTML = `<p class="muted">${SL.esc(SL.t("d.loading"))}</p>`; return; }
    dTitle.textContent = c.tracking_no;
    const col = column(c, Date.now()) || "closed";
    const row = (k, v) => `<dt>${SL.esc(SL.t(k))}</dt><dd>${v}</dd>`;
    const d = c.deadlines || {};
    const deadlines = [
      d.offer_expires_at && c.status === "offered" ? `${SL.esc(SL.t("d.offer_expires"))} ${SL.esc(SL.fmtTime(d.offer_expires_at, true))}` : "",
      d.due_at ? `${SL.esc(SL.t("d.due"))} ${SL.esc(SL.fmtTime(d.due_at, true))}` : "",
    ].filter(Boolean).join("<br>") || SL.esc(SL.t("d.none"));
    const loc = [placeName(c), c.address && placeName(c) !== c.address ? c.address : "",
      c.lat != null ? `${c.lat.toFixed(5)}, ${c.lon.toFixed(5)}` : ""].filter(Boolean).map(SL.esc).join("<br>");
    let html = `<dl class="facts">` +
      row("d.status", `<span id="d-status"><span class="chip st-${col}">${SL.esc(statusLabel(c))}</span>` +
        (assignmentText(c, events) ? ` <span class="d-assignment">${SL.esc(assignmentText(c, events))}</span>` : "") + `</span>`) +
      row("d.channel", SL.esc(SL.t("channel." + c.channel, c.channel))) +
      row("d.category", SL.esc(fullCategory(c.category))) +
      row("d.urgency", SL.esc(SL.t("urgency." + (c.urgency || "normal")))) +
      row("d.kind", CAN_ASSIGN
        ? `<span class="kind-form"><label class="sr-only" for="kind-select">${SL.esc(SL.t("d.kind"))}</label>` +
          `<select id="kind-select"><option value="">${SL.esc(SL.t("kind.none"))}</option>` +
          KINDS.map((k) => `<option value="${SL.esc(k)}"${(drawerState.kindPick ?? c.request_kind ?? "") === k ? " selected" : ""}>${SL.esc(SL.t("kind." + k, k))}</option>`).join("") +
          `</select><button type="button" id="kind-set">${SL.esc(SL.t("d.kind_set"))}</button></span>`
        : `<span id="kind-value">${SL.esc(c.request_kind ? SL.t("kind." + c.request_kind, c.request_kind) : SL.t("kind.none"))}</span>`) +
      row("d.deadlines", deadlines) +
      row("d.reporter", SL.esc([c.reporter_name, c.reporter_phone].filter(Boolean).join(" ") || "—")) +
      row("d.location", loc || "—") +
      `</dl><h3>${SL.esc(SL.t("d.content"))}</h3><p class="content">${SL.esc(c.content)}</p>`;
    // only re-encoded photos (kind "image") are shown; any other file is a download link, never opened here
    const photos = (c.attachments || []).filter((a) => a.kind === "image");
    const others = (c.attachments || []).filter((a) => a.kind !== "image");
    if (photos.length) {
      html += `<h3>${SL.esc(SL.t("d.photos"))}</h3><div class="photos">` + photos.map((a, i) =>
        `<a href="${SL.esc(a.url)}" target="_blank" rel="noopener"><img src="${SL.esc(a.url)}" alt="${SL.esc(tf("d.photo_alt", { n: i + 1 }))}" loading="lazy"></a>`
      ).join("") + `</div>`;
    }
    if (others.length) {
      html += `<h3>${SL.esc(SL.t("d.files"))}</h3><ul class="files">` + others.map((a) =>
        `<li><a href="${SL.esc(a.url)}" download="${SL.esc(a.filename)}" aria-label="${SL.esc(tf("d.download", { name: a.filename }))}">` +
        `${SL.esc(a.filename)}</a> <span class="muted">${SL.esc(fmtSize(a.size))}</span></li>`
      ).join("") + `</ul>`;
    }
    const sugg = drawerState.suggested && (drawerState.suggested.suggestions || drawerState.suggested);
    if (CAN_ASSIGN && Array.isArray(sugg) && sugg.length) {
      html += `<section class="suggest" aria-labelledby="suggest-title"><h3 id="suggest-title">${SL.esc(SL.t("d.suggest"))}</h3>` +
        `<ul class="cand-list" id="category-suggestions">` + sugg.slice(0, 3).map((s) =>
          `<li><span class="cand-name">${SL.esc(fullCategory(s.category))}</span><span class="cand-meta">${Math.round((s.score || 0) * 100)}%</span>` +
          `<button type="button" class="use-category" data-category="${SL.esc(s.category)}" ` +
          `aria-label="${SL.esc(tf("d.use_category", { name: fullCategory(s.category) }))}">${SL.esc(SL.t("d.use"))}</button></li>`).join("") +
        `</ul></section>`;
    }
    if (CAN_ASSIGN) {
      html += `<section class="cands" aria-labelledby="cands-title"><h3 id="cands-title">${SL.esc(SL.t("d.candidates"))}</h3>`;
      html += `<p id="assign-msg" class="assign-msg ${msg ? (msg.ok ? "ok" : "error") : ""}" role="status">${msg ? SL.esc(msg.text) : ""}</p>`;
      if (cands == null) html += `<p class="muted">${SL.esc(SL.t("d.loading"))}</p>`;
      else if (!cands.length) html += `<p class="muted">${SL.esc(SL.t("d.no_candidates"))}</p>`;
      else {
        // the current assignee is marked, not offered again; the others may take the case over (改派)
        const holder = c.status === "assigned" || c.status === "in_progress" ? c.assignee_id : null;
        const verb = holder != null ? "d.reassign" : "d.assign", verbTo = holder != null ? "d.reassign_to" : "d.assign_to";
        html += `<ul class="cand-list" id="candidates">` + cands.map((m) =>
          `<li data-member-id="${m.member_id}"${m.member_id === holder ? ' class="current"' : ""}><span class="cand-name">${SL.esc(m.name)}</span>` +
          `<span class="cand-meta">${SL.esc(SL.t("level." + m.level, m.level))} · ${SL.esc(fmtDist(m.distance_m))} · ` +
          `${SL.esc(tf("d.load", { load: m.load, cap: m.capacity }))}${m.previously_offered ? " · " + SL.esc(SL.t("d.previously")) : ""}</span>` +
          (m.member_id === holder
            ? `<span class="cand-current">${SL.esc(SL.t("d.current"))}</span>`
            : `<button type="button" class="assign primary" data-member-id="${m.member_id}" data-name="${SL.esc(m.name)}" ` +
              `data-reassign="${holder != null ? "1" : ""}" ` +
              `aria-label="${SL.esc(tf(verbTo, { name: m.name }))}">${SL.esc(SL.t(verb))}</button>`) + `</li>`
        ).join("") + `</ul>`;
      }
      html += `</section>`;
    }
    html += `<h3>${SL.esc(SL.t("d.timeline"))}</h3>`;
    if (events == null) html += `<p class="muted">${SL.esc(SL.t("d.loading"))}</p>`;
    else {
      html += `<ol class="timeline" id="timeline">` + events.map((e) =>
        `<li><time datetime="${SL.esc(e.at)}">${SL.esc(SL.fmtTime(e.at, true))}</time>` +
        `<span class="tl-what">${SL.esc(actionLabel(e))}` +
        `${e.action === "assigned" && e.data && e.data.member_id ? ` → ${SL.esc(memberName(e.data.member_id))}` : ""}` +
        `${e.actor ? ` <span class="muted">· ${SL.esc(actorName(e))}</span>` : ""}</span>` +
        `${noteText(e) ? `<span class="tl-note">${SL.esc(noteText(e))}</span>` : ""}</li>`
      ).join("") + `</ol>`;
    }
    const focusedMember = document.activeElement && drawer.contains(document.activeElement) && document.activeElement.dataset.memberId;
    dBody.innerHTML = html;
    dBody.querySelectorAll("button.assign").forEach((b) => b.addEventListener("click", () => assign(c.id, b)));
    const kindSet = dBody.querySelector("#kind-set");
    const kindSelect = dBody.querySelector("#kind-select");
    if (kindSelect) kindSelect.addEventListener("change", () => { drawerState.kindPick = kindSelect.value; }); // kept across re-renders
    if (kindSet) kindSet.addEventListener("click", async () => {
      const kind = kindSelect.value || null;
      try {
        const updated = await SL.api(`/api/cases/${c.id}/kind`, { body: { request_kind: kind } });
        drawerState.kindPick = undefined;
        upsert(updated, true);
        drawerState.msg = { ok: true, text: tf("d.kind_ok", { name: SL.t(kind ? "kind." + kind : "kind.none") }) };
        loadDrawer(c.id, true);
      } catch (e) { drawerState.msg = { ok: false, text: e.message }; renderDrawer(); }
    });
    dBody.querySelectorAll("button.use-category").forEach((b) => b.addEventListener("click", async () => {
      try {
        const updated = await SL.api(`/api/cases/${c.id}/category`, { body: { category: b.dataset.category } });
        upsert(updated, true);
        drawerState.msg = { ok: true, text: tf("d.category_ok", { name: fullCategory(b.dataset.category) }) };
        loadDrawer(c.id, true);
      } catch (e) { drawerState.msg = { ok: false, text: e.message }; renderDrawer(); }
    }));
    if (focusedMember) {
      const again = dBody.querySelector(`button.assign[data-member-id="${focusedMember}"]`);
      if (again) again.focus();
    }
  }
  async function assign(caseId, btn) {
    const name = btn.dataset.name;
    dBody.querySelectorAll("button.assign").forEach((b) => { b.disabled = true; });
    try {
      const c = await SL.api(`/api/cases/${caseId}/assign`, { method: "POST", body: { member_id: Number(btn.dataset.memberId) } });
      howAssigned.set(caseId, "operator");
      upsert(c, true);
      updateCounts();
      drawerState.msg = { ok: true, text: tf(btn.dataset.reassign ? "d.reassigned_ok" : "d.assigned_ok", { name }) };
      renderDrawer();
      document.getElementById("drawer-title").focus();
      loadDrawer(caseId, true);
      refreshSoon();
    } catch (e) {
      drawerState.msg = { ok: false, text: e.message };
      renderDrawer();
    }
  }

  // ------------------------------------------------------------------ the clock
  function tick() {
    const now = Date.now();
    for (const [id, c] of cases) {
      const col = column(c, now);
      if (col === (placed.get(id) || null)) continue;
      const becameOverdue = col === "overdue" && !overdueSeen.has(id);
      if (col === "overdue") overdueSeen.add(id);
      renderCard(c, now);
      renderMarker(c, now);
      if (becameOverdue) alarm(c, "overdue");
    }
    for (const [id, card] of cards) { const c = cases.get(id); if (c) updateCountdown(card, c, now); }
    const clock = document.getElementById("clock");
    clock.textContent = SL.fmtTime(new Date(now).toISOString(), true);
  }

  function rerenderAll() {
    const now = Date.now();
    for (const c of cases.values()) { renderCard(c, now); renderMarker(c, now); }
    for (const col of COLS) dirtyCols.add(col); // the "more" rows speak the new language too
    for (const mb of members.values()) renderMember(mb);
    updateCounts();
    renderDrawer();
    rerenderAlerts();
    renderHotspots();
    loadSummary().catch(() => {});
  }
  document.addEventListener("sl:lang", rerenderAll);

  async function start() {
    renderSound();
    onStatus(false);
    updateCounts();
    tick();
    SL.live("/ws/board", onEvent, onStatus);
    try {
      // everything is asked for at once; cases and members are drawn once the map has its view and places their names
      const ready = Promise.all([initMap(), loadRegions()]);
      await Promise.all([loadCases(ready), ready.then(loadMembers), loadSummary(), ready.then(loadHotspots), ready]);
      lastRefresh = Date.now();
    } catch (e) {
      showError(e);
    }
    loaded = true;
    root.dataset.ready = "1";
    const pending = buffered;
    buffered = [];
    pending.forEach(onEvent);
    setInterval(tick, 1000);
    setInterval(refreshNow, 60000);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
