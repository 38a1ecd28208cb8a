/* The member's phone page: offers to accept or decline, active cases to handle, duty and position, live offers;
   photos as thumbnails that open full size, why a case was reopened, and the resolved cases (loaded when opened). */
(function () {
  "use strict";
  const SL = window.SL;
  const $ = (id) => document.getElementById(id);
  SL.extend({
    zh: {
      "m.title": "我的任务", "m.offers.short": "派单", "m.offers": "待签收派单", "m.active": "办理中的案件", "m.loading": "加载中…",
      "m.duty": "在岗", "m.duty.on": "当前在岗，可接收派单。", "m.duty.off": "当前离岗，不会收到新派单。",
      "m.share": "共享我的位置", "m.shared": "位置已共享", "m.locating": "正在定位…", "m.nogeo": "无法获取位置（未授权或信号弱）。",
      "m.see": "查看", "m.newoffers": "收到新派单", "m.none.offers": "暂无待签收的派单。", "m.none.active": "暂无办理中的案件。",
      "m.accept": "签收", "m.decline": "拒绝", "m.reason": "拒绝原因（必填）", "m.decline.send": "确认拒绝", "m.cancel": "取消",
      "m.expires": "签收剩余", "m.due": "办理时限", "m.overdue": "已超时", "m.dist": "距您", "m.dist.stored": "（按登记位置）",
      "m.nav": "导航（高德）", "m.geo": "其他地图", "m.progress": "记录进展", "m.note": "进展说明（必填）", "m.photos": "照片（最多 3 张）",
      "m.progress.send": "提交进展", "m.resolve": "办结", "m.result": "办理结果（必填）", "m.resolve.send": "确认办结",
      "m.toomany": "最多只能上传 3 张照片。", "m.done.accept": "已签收。", "m.done.decline": "已拒绝该派单。",
      "m.done.progress": "进展已记录。", "m.done.resolve": "已办结，等待群众评价。", "m.reporter": "反映人",
      "m.live.on": "实时", "m.live.off": "连接中断，正在重连…", "m.neterr": "网络不通，请稍后重试。", "m.att.photos": "照片", "m.att.photo": "照片", "m.att.files": "附件",
      "m.doc": "我的任务 · 有事好商量", "m.photo.open": "照片 {n}，点按查看大图", "m.photo.alt": "照片 {n}",
      "m.download": "下载 {name}",
      "m.reopen.title": "重办原因", "m.reopen.none": "未说明原因", "m.reopen.callback": "回访电话", "m.reopen.wait": "此案件已重办，请等待指挥中心重新派单。",
      "m.score.satisfied": "满意", "m.score.basically_satisfied": "基本满意", "m.score.dissatisfied": "不满意",
      "m.history": "已办结的案件", "m.history.hint": "点开查看已办结、已关闭的案件", "m.none.history": "暂无已办结的案件。", "m.more": "加载更多",
      "m.h.result": "办理结果", "m.h.resolved_at": "办结时间", "m.h.updated_at": "更新时间", "m.h.rating": "群众评价", "m.h.unrated": "等待群众评价",
    },
    en: {
      "m.title": "My cases", "m.offers.short": "Offers", "m.offers": "Offers to accept", "m.active": "Cases in hand", "m.loading": "Loading…",
      "m.duty": "On duty", "m.duty.on": "You are on duty and receive offers.", "m.duty.off": "You are off duty: no new offers.",
      "m.share": "Share my position", "m.shared": "Position shared", "m.locating": "Locating…", "m.nogeo": "Could not get your position (not allowed or weak signal).",
      "m.see": "Show", "m.newoffers": "New offers", "m.none.offers": "No offers waiting.", "m.none.active": "No cases in hand.",
      "m.accept": "Accept", "m.decline": "Decline", "m.reason": "Reason (required)", "m.decline.send": "Decline the offer", "m.cancel": "Cancel",
      "m.expires": "Offer expires in", "m.due": "Due in", "m.overdue": "Overdue", "m.dist": "Distance", "m.dist.stored": " (from your registered position)",
      "m.nav": "Navigate (Amap)", "m.geo": "Other map app", "m.progress": "Report progress", "m.note": "Progress note (required)", "m.photos": "Photos (up to 3)",
      "m.progress.send": "Send progress", "m.resolve": "Resolve", "m.result": "Result (required)", "m.resolve.send": "Mark resolved",
      "m.toomany": "At most 3 photos.", "m.done.accept": "Accepted.", "m.done.decline": "Offer declined.",
      "m.done.progress": "Progress recorded.", "m.done.resolve": "Resolved; waiting for the resident's rating.", "m.reporter": "Reporter",
      "m.live.on": "Live", "m.live.off": "Connection lost, reconnecting…", "m.neterr": "No connection, please try again.", "m.att.photos": "Photos", "m.att.photo": "Photo", "m.att.files": "Files",
      "m.doc": "My cases · Let's talk it over", "m.photo.open": "Photo {n}, tap to see it full size", "m.photo.alt": "Photo {n}",
      "m.download": "Download {name}",
      "m.reopen.title": "Why it was reopened", "m.reopen.none": "No reason given", "m.reopen.callback": "callback call", "m.reopen.wait": "This case was reopened: wait for the dispatcher to send it again.",
      "m.score.satisfied": "Satisfied", "m.score.basically_satisfied": "Basically satisfied", "m.score.dissatisfied": "Dissatisfied",
      "m.history": "Resolved cases", "m.history.hint": "Open to see your resolved and closed cases", "m.none.history": "No resolved cases yet.", "m.more": "Show more",
      "m.h.result": "Result", "m.h.resolved_at": "Resolved", "m.h.updated_at": "Last update", "m.h.rating": "Resident's rating", "m.h.unrated": "Waiting for the resident's rating",
    },
  });

  const app = $("member-app");
  if (!app) return;
  const mid = Number(app.dataset.memberId);
  const ACTIVE = ["assigned", "in_progress", "reopened"];
  const MINE = ["offered"].concat(ACTIVE).join(",");   // the first screen: only what is in hand
  const DONE = "resolved,closed", PAGE = 20;
  let me = null, gps = null, cases = [], first = true;
  const seen = new Set(), unseen = new Set();
  const reopens = new Map();   // case id -> its latest "reopened" event (null: none found)
  const reopenSeen = new Map();   // case id -> the case's updated_at when that was read
  const tf = (k, vars) => SL.t(k).replace(/\{(\w+)\}/g, (_, v) => (vars && vars[v] != null ? vars[v] : ""));
  const actorText = (e) => (typeof SL.actor === "function" ? SL.actor(e) : e.actor);
  const catText = (path) => (typeof SL.category === "function" ? SL.category(path) : path);

  // a message is a function of the language, so that switching re-words it
  let flashed = null;
  function flash(words, bad) {
    const err = $("m-error"), ok = $("m-ok"), msg = words();
    flashed = { words, bad };
    (bad ? err : ok).textContent = msg; (bad ? err : ok).hidden = !msg; (bad ? ok : err).hidden = true;
    if (msg && !bad) setTimeout(() => { if (flashed && flashed.words === words) { ok.hidden = true; flashed = null; } }, 5000);
  }
  function reflash() { if (flashed) $(flashed.bad ? "m-error" : "m-ok").textContent = flashed.words(); }
  // the server's messages are "中文 / English": the half in the page's language
  function failMsg(ex) {
    if (!ex || !ex.status) return SL.t("m.neterr");
    const parts = String(ex.message || "").split(" / ");
    return parts.length > 1 ? (SL.lang === "en" ? parts.slice(1).join(" / ") : parts[0]) : ex.message;
  }

  // ------------------------------------------------------------------ position and distance
  function here() {
    if (gps) return { lat: gps.lat, lon: gps.lon, stored: false };
    if (me && me.lat != null && me.lon != null) return { lat: me.lat, lon: me.lon, stored: true };
    return null;
  }
  function distText(c) {
    const p = here();
    if (!p || c.lat == null || c.lon == null) return "";
    const d = SL.haversine(p.lat, p.lon, c.lat, c.lon);
    const v = d < 1000 ? Math.round(d) + (SL.lang === "en" ? " m" : " 米") : (d / 1000).toFixed(1) + (SL.lang === "en" ? " km" : " 公里");
    return SL.t("m.dist") + " " + v + (p.stored ? SL.t("m.dist.stored") : "");
  }
  function updateDistances() {
    document.querySelectorAll(".case").forEach((el) => {
      const c = cases.find((x) => x.id === Number(el.dataset.caseId));
      const span = el.querySelector(".dist");
      if (c && span) span.textContent = distText(c);
    });
  }
  function locate() {
    return new Promise((resolve, reject) => {
      if (!navigator.geolocation) { reject(new Error("no geolocation")); return; }
      navigator.geolocation.getCurrentPosition(
        (p) => { gps = { lat: p.coords.latitude, lon: p.coords.longitude }; updateDistances(); resolve(gps); },
        reject, { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 });
    });
  }

  // ------------------------------------------------------------------ cards
  function span(ms) {   // long deadlines read as days: "6天 23:59:58"
    const DAY = 86400000;
    if (ms < 2 * DAY) return SL.fmtCountdown(ms);
    return Math.floor(ms / DAY) + (SL.lang === "en" ? "d " : "天 ") + SL.fmtCountdown(ms % DAY);
  }
  function countdownTick() {
    const now = Date.now();
    document.querySelectorAll(".countdown[data-deadline]").forEach((el) => {
      const ms = Date.parse(el.dataset.deadline) - now;
      el.textContent = ms < 0 ? SL.t("m.overdue") + " " + span(-ms) : span(ms);
      el.classList.toggle("late", ms < 0);
    });
  }
  function fmtSize(n) { return n < 1024 ? n + " B" : n < 1048576 ? Math.ceil(n / 1024) + " KB" : (n / 1048576).toFixed(1) + " MB"; }
  function key(c) {
    const r = reopens.get(c.id);
    return [c.status, c.updated_at, c.offered_to, c.assignee_id, (c.attachments || []).length, r ? r.id : ""].join("|");
  }
  const mayBeReopened = (c) => c.status === "reopened" || c.rating === "dissatisfied";

  // photos (only re-encoded images, kind "image") as small thumbnails that open full size; any other file is a
  // download link with its name and size, never opened here
  function attachmentsHtml(c) {
    const e = SL.esc;
    const photos = (c.attachments || []).filter((a) => a.kind === "image");
    const others = (c.attachments || []).filter((a) => a.kind !== "image");
    return (photos.length ? `<ul class="photos" data-i18n-attr="aria-label:m.att.photos" aria-label="${e(SL.t("m.att.photos"))}">` + photos.map((a, i) =>
      `<li><a class="photo" href="${e(a.url)}" target="_blank" rel="noopener" data-n="${i + 1}" aria-label="${e(tf("m.photo.open", { n: i + 1 }))}">` +
      `<img src="${e(a.url)}" alt="${e(tf("m.photo.alt", { n: i + 1 }))}" width="88" height="88" loading="lazy" decoding="async"></a></li>`).join("") + `</ul>` : "") +
      (others.length ? `<p class="small files-label" data-i18n="m.att.files">${e(SL.t("m.att.files"))}</p><ul class="files">` + others.map((a) =>
        `<li><a href="${e(a.url)}" download="${e(a.filename)}" aria-label="${e(tf("m.download", { name: a.filename }))}"><span class="ugc">${e(a.filename)}</span></a>` +
        ` <span class="muted small">${e(fmtSize(a.size))}</span></li>`).join("") + `</ul>` : "");
  }
  function reopenHtml(c) {
    const ev = reopens.get(c.id);
    if (!ev) return "";
    const e = SL.esc, d = ev.data || {};
    const how = [d.score ? SL.t("m.score." + d.score, d.score) : "", actorText(ev), d.channel === "callback" ? SL.t("m.reopen.callback") : "",
      SL.fmtTime(ev.at, true)].filter(Boolean).map(e).join(" · ");
    return `<div class="reopen" role="note" data-for="${c.id}"><p class="reopen-title">${e(SL.t("m.reopen.title"))}</p>` +
      (ev.note ? `<p class="reopen-note ugc">${e(ev.note)}</p>` : `<p class="reopen-note">${e(SL.t("m.reopen.none"))}</p>`) +
      `<p class="muted small">${how}</p></div>`;
  }

  function cardHtml(c, offer) {
    const id = c.id, e = SL.esc;
    const deadline = offer ? c.deadlines && c.deadlines.offer_expires_at : c.deadlines && c.deadlines.due_at;
    const head = `<h3><span class="cat">${e(catText(c.category) || "—")}</span>${offer ? "" : ` <span class="status-pill" data-status="${e(c.status)}" data-i18n="status.${e(c.status)}">${e(SL.t("status." + c.status))}</span>`}</h3>
      <p class="muted small">${e(c.tracking_no)}</p>
      ${reopenHtml(c)}
      <p class="content ugc">${e(c.content)}</p>
      <div class="meta">${c.address ? `<span class="ugc">${e(c.address)}</span>` : ""}<span class="dist"></span>
        ${deadline ? `<span><span data-i18n="${offer ? "m.expires" : "m.due"}"></span> <span class="countdown" data-deadline="${e(deadline)}"></span></span>` : ""}</div>`;
    if (offer) {
      return head + attachmentsHtml(c) + `<div class="actions"><button type="button" class="primary" data-act="accept" data-i18n="m.accept">签收</button>
        <button type="button" data-act="decline-open" data-i18n="m.decline">拒绝</button></div>
        <form class="decline-form stack" hidden><label for="reason-${id}" data-i18n="m.reason">拒绝原因（必填）</label>
        <textarea id="reason-${id}" name="reason" rows="2" required maxlength="500"></textarea>
        <div class="actions"><button type="submit" class="primary" data-i18n="m.decline.send">确认拒绝</button>
        <button type="button" data-act="decline-cancel" data-i18n="m.cancel">取消</button></div></form>`;
    }
    const who = c.reporter_name || c.reporter_phone
      ? `<p class="small"><span data-i18n="m.reporter">反映人</span>: <span class="ugc">${e(c.reporter_name || "")}</span> ${c.reporter_phone && !c.reporter_phone.includes("*")
        ? `<a href="tel:${e(c.reporter_phone)}">${e(c.reporter_phone)}</a>` : e(c.reporter_phone || "")}</p>` : "";
    const atts = attachmentsHtml(c);
    const nav = c.lat != null && c.lon != null
      ? `<div class="actions"><a class="button" target="_blank" rel="noopener" href="https://uri.amap.com/marker?position=${c.lon},${c.lat}&name=${encodeURIComponent(c.address || c.category || c.tracking_no)}&coordinate=wgs84&callnative=1" data-i18n="m.nav">导航（高德）</a>
        <a class="button" href="geo:${c.lat},${c.lon}?q=${c.lat},${c.lon}" data-i18n="m.geo">其他地图</a></div>` : "";
    if (c.status === "reopened") {   // reopened → in_progress/resolved is no move: the dispatcher sends it again first
      return head + who + atts + nav + `<p class="notice-plain" data-i18n="m.reopen.wait">${e(SL.t("m.reopen.wait"))}</p>`;
    }
    return head + who + atts + nav + `
      <details><summary data-i18n="m.progress">记录进展</summary>
        <form class="progress-form stack"><label for="note-${id}" data-i18n="m.note">进展说明（必填）</label>
        <textarea id="note-${id}" name="note" rows="3" required maxlength="2000"></textarea>
        <label for="photos-${id}" data-i18n="m.photos">照片（最多 3 张）</label>
        <input id="photos-${id}" name="photos" type="file" accept="image/*" capture="environment" multiple>
        <button type="submit" class="primary" data-i18n="m.progress.send">提交进展</button></form></details>
      <details><summary data-i18n="m.resolve">办结</summary>
        <form class="resolve-form stack"><label for="result-${id}" data-i18n="m.result">办理结果（必填）</label>
        <textarea id="result-${id}" name="note" rows="3" required maxlength="2000"></textarea>
        <button type="submit" class="primary" data-i18n="m.resolve.send">确认办结</button></form></details>`;
  }

  function renderList(box, list, offer) {
    const existing = new Map(Array.from(box.querySelectorAll(".case")).map((el) => [el.dataset.caseId, el]));
    box.querySelectorAll(".empty").forEach((el) => el.remove());
    list.forEach((c, i) => {
      let el = existing.get(String(c.id));
      existing.delete(String(c.id));
      if (!el || el.dataset.key !== key(c)) {
        const fresh = document.createElement("article");
        fresh.className = "case" + (offer ? " offer" : "");
        fresh.dataset.caseId = c.id;
        fresh.dataset.key = key(c);
        fresh.innerHTML = cardHtml(c, offer);
        SL.apply(fresh);
        if (el) el.replaceWith(fresh); else box.appendChild(fresh);
        el = fresh;
      }
      el.classList.toggle("new-offer", offer && unseen.has(c.id));
      if (box.children[i] !== el) box.insertBefore(el, box.children[i] || null);
    });
    existing.forEach((el) => el.remove());
    if (!list.length) box.innerHTML = `<p class="empty">${SL.esc(SL.t(offer ? "m.none.offers" : "m.none.active"))}</p>`;
  }

  function render() {
    const offers = cases.filter((c) => c.status === "offered" && c.offered_to === mid);
    const active = cases.filter((c) => ACTIVE.includes(c.status) && c.assignee_id === mid);
    const ids = new Set(offers.map((c) => c.id));
    if (first) { offers.forEach((c) => seen.add(c.id)); first = false; }
    for (const id of Array.from(unseen)) if (!ids.has(id)) unseen.delete(id);
    renderList($("offers"), offers, true);
    renderList($("active"), active, false);
    updateDistances();
    countdownTick();
    renderBadge();
    fetchReopens(offers.concat(active));
  }
  // why a case was reopened: the trail's latest move to "reopened" (the resident's or the callback's rating),
  // read only for the cases that can have one
  const asking = new Set();
  function fetchReopens(list) {
    const stale = (c) => !reopens.has(c.id) || (c.status === "reopened" && reopenSeen.get(c.id) !== c.updated_at);
    list.filter((c) => mayBeReopened(c) && stale(c) && !asking.has(c.id)).forEach(async (c) => {
      asking.add(c.id);
      reopenSeen.set(c.id, c.updated_at);
      try {
        const events = await SL.api(`/api/cases/${c.id}/events`);
        const found = events.filter((ev) => ev.to_status === "reopened");
        reopens.set(c.id, found.length ? found[found.length - 1] : null);
        render();
      } catch (ex) { /* the card stays as it is; the next load asks again */ }
      finally { asking.delete(c.id); }
    });
  }
  function renderBadge() {
    const n = unseen.size, badge = $("offer-badge");
    badge.textContent = n;
    badge.hidden = n === 0;
    badge.setAttribute("aria-label", SL.t("m.newoffers") + " " + n);
    $("offer-notice").hidden = n === 0;
    $("offer-notice-text").textContent = SL.t("m.newoffers") + " · " + n;
  }
  function markSeen() {
    unseen.forEach((id) => seen.add(id));
    unseen.clear();
    render();
    $("offers").scrollIntoView({ behavior: "smooth", block: "start" });
  }

  let loading = null, again = false;
  async function load() {
    if (loading) { again = true; return loading; }
    loading = (async () => {
      try {
        cases = await SL.api(`/api/cases?status=${MINE}&limit=200`);
        cases.forEach((c) => { if (!mayBeReopened(c)) reopens.delete(c.id); });
        render();
      } catch (ex) { flash(() => failMsg(ex), true); }
    })();
    await loading;
    loading = null;
    if (again) { again = false; return load(); }
  }

  // ------------------------------------------------------------------ actions on cards
  async function act(btnOrForm, fn, done) {
    const buttons = btnOrForm.closest(".case").querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    try { await fn(); flash(() => SL.t(done)); }
    catch (ex) { flash(() => failMsg(ex), true); buttons.forEach((b) => { b.disabled = false; }); }
    await load();
    if (done === "m.done.resolve") refreshHistory();
  }
  document.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-act]");
    if (!b) return;
    const card = b.closest(".case"), id = card && card.dataset.caseId;
    if (b.dataset.act === "accept") {
      seen.add(Number(id)); unseen.delete(Number(id));
      act(b, () => SL.api(`/api/cases/${id}/accept`, { method: "POST" }), "m.done.accept");
    } else if (b.dataset.act === "decline-open") {
      const f = card.querySelector(".decline-form"); f.hidden = false; f.querySelector("textarea").focus();
    } else if (b.dataset.act === "decline-cancel") {
      card.querySelector(".decline-form").hidden = true;
    }
  });
  document.addEventListener("submit", (e) => {
    const f = e.target, card = f.closest(".case");
    if (!card) return;
    e.preventDefault();
    const id = card.dataset.caseId;
    const text = f.elements[f.classList.contains("decline-form") ? "reason" : "note"].value.trim();
    if (!text) { f.querySelector("textarea").focus(); return; }
    if (f.classList.contains("decline-form")) {
      act(f, () => SL.api(`/api/cases/${id}/decline`, { method: "POST", body: { reason: text } }), "m.done.decline");
    } else if (f.classList.contains("progress-form")) {
      const files = Array.from(f.elements.photos.files);
      if (files.length > 3) { flash(() => SL.t("m.toomany"), true); return; }
      act(f, async () => {
        await SL.api(`/api/cases/${id}/progress`, { method: "POST", body: { note: text } });
        if (files.length) {
          const fd = new FormData();
          files.forEach((file) => fd.append("photos", file, file.name || "photo.jpg"));
          await SL.api(`/api/cases/${id}/attachments`, { method: "POST", body: fd });
        }
      }, "m.done.progress");
    } else if (f.classList.contains("resolve-form")) {
      act(f, () => SL.api(`/api/cases/${id}/resolve`, { method: "POST", body: { note: text } }), "m.done.resolve");
    }
  });
  document.addEventListener("change", (e) => {
    const input = e.target;
    if (input.name === "photos" && input.files && input.files.length > 3) { flash(() => SL.t("m.toomany"), true); input.value = ""; }
  });

  // ------------------------------------------------------------------ duty and position
  function renderMe() {
    if (!me) return;
    const b = $("duty-toggle");
    b.disabled = false;
    b.setAttribute("aria-pressed", me.on_duty ? "true" : "false");
    $("duty-state").textContent = SL.t(me.on_duty ? "m.duty.on" : "m.duty.off");
    const when = localStorage.getItem("sl_pos_shared:" + mid);
    $("pos-state").textContent = when ? SL.t("m.shared") + " " + SL.fmtTime(when, false) : "";
  }
  $("duty-toggle").addEventListener("click", async () => {
    const b = $("duty-toggle");
    b.disabled = true;
    try { me = await SL.api(`/api/members/${mid}`, { method: "PATCH", body: { on_duty: !me.on_duty } }); }
    catch (ex) { flash(() => failMsg(ex), true); }
    renderMe();
  });
  $("share-pos").addEventListener("click", async () => {
    const b = $("share-pos");
    b.disabled = true;
    $("pos-state").textContent = SL.t("m.locating");
    try {
      const p = await locate();
      me = await SL.api(`/api/members/${mid}/position`, { method: "PUT", body: { lat: p.lat, lon: p.lon, coord_system: "wgs84" } });
      localStorage.setItem("sl_pos_shared:" + mid, new Date().toISOString());
      renderMe();
    } catch (ex) {
      $("pos-state").textContent = ex && ex.status ? failMsg(ex) : SL.t("m.nogeo");
    } finally { b.disabled = false; }
  });
  $("offer-notice-see").addEventListener("click", markSeen);
  $("offer-link").addEventListener("click", () => { if (unseen.size) markSeen(); });
  // ------------------------------------------------------------------ resolved cases: read when the section is opened
  const hist = { loaded: false, list: [], more: false, busy: false };
  function historyCard(c) {
    const e = SL.esc;
    const when = c.resolved_at || c.updated_at;
    const rating = c.status === "closed" && c.rating ? SL.t("m.score." + c.rating, c.rating)
      : c.status === "resolved" ? SL.t("m.h.unrated") : "";
    const row = (k, v, cls) => `<dt>${e(SL.t(k))}</dt><dd${cls ? ` class="${cls}"` : ""}>${v}</dd>`;
    return `<article class="case done" data-case-id="${c.id}">
      <h3><span class="cat">${e(catText(c.category) || "—")}</span> <span class="status-pill" data-status="${e(c.status)}">${e(SL.t("status." + c.status))}</span></h3>
      <p class="muted small">${e(c.tracking_no)}</p>
      <p class="content clamp ugc">${e(c.content)}</p>
      <dl class="facts">${row("m.h.result", c.resolution ? e(c.resolution) : "—", "resolution ugc")}
        ${row(c.resolved_at ? "m.h.resolved_at" : "m.h.updated_at", `<time datetime="${e(when)}">${e(SL.fmtTime(when, true))}</time>`)}
        ${rating ? row("m.h.rating", e(rating), "rating") : ""}</dl></article>`;
  }
  function renderHistory() {
    const box = $("history-list");
    if (!box || !hist.loaded) return;
    box.innerHTML = hist.list.length ? hist.list.map(historyCard).join("") : `<p class="empty">${SL.esc(SL.t("m.none.history"))}</p>`;
    $("history-more").hidden = !hist.more;
  }
  async function loadHistory(reset) {
    if (hist.busy) return;
    hist.busy = true;
    $("history-more").disabled = true;
    const offset = reset ? 0 : hist.list.length;
    const limit = reset ? Math.max(PAGE, hist.list.length) : PAGE;
    try {
      const got = await SL.api(`/api/cases?status=${DONE}&limit=${limit}&offset=${offset}`);
      hist.list = reset ? got : hist.list.concat(got.filter((c) => !hist.list.some((x) => x.id === c.id)));
      hist.more = got.length === limit;
      hist.loaded = true;
      renderHistory();
    } catch (ex) { flash(() => failMsg(ex), true); }
    finally { hist.busy = false; $("history-more").disabled = false; }
  }
  function refreshHistory() { if (hist.loaded) loadHistory(true); }
  const histBox = $("history");
  if (histBox) {
    histBox.addEventListener("toggle", () => { if (histBox.open && !hist.loaded) loadHistory(true); });
    $("history-more").addEventListener("click", () => loadHistory(false));
  }

  function retitle() { document.title = SL.t("m.doc"); }
  document.addEventListener("sl:lang", () => {
    renderMe(); retitle(); reflash();
    // the cards stay (a note being typed, an open form): only their words change
    document.querySelectorAll("#offers .case, #active .case").forEach((el) => {
      const c = cases.find((x) => x.id === Number(el.dataset.caseId));
      if (!c) return;
      SL.apply(el);
      el.querySelector(".cat").textContent = catText(c.category) || "—";
      const r = el.querySelector(".reopen");
      if (r) r.outerHTML = reopenHtml(c);
      el.querySelectorAll("a.photo").forEach((a) => {
        a.setAttribute("aria-label", tf("m.photo.open", { n: a.dataset.n }));
        a.querySelector("img").alt = tf("m.photo.alt", { n: a.dataset.n });
      });
      el.querySelectorAll(".files a[download]").forEach((a) => a.setAttribute("aria-label", tf("m.download", { name: a.getAttribute("download") })));
    });
    render(); renderHistory();
    const s = $("live-state");
    if (s.dataset.i18n) s.textContent = SL.t(s.dataset.i18n);
  });

  // ------------------------------------------------------------------ start
  async function start() {
    retitle();
    if (!mid) return;
    try { me = await SL.api(`/api/members/${mid}`); renderMe(); } catch (ex) { flash(() => failMsg(ex), true); }
    if (navigator.permissions && navigator.geolocation) {
      navigator.permissions.query({ name: "geolocation" }).then((s) => { if (s.state === "granted") locate().catch(() => {}); }).catch(() => {});
    }
    await load();
    let timer = null, historyStale = false;
    SL.live("/ws/member", (ev) => {
      if (!ev || !ev.type || !ev.type.startsWith("case.")) return;
      const c = ev.case || {};
      // a new offer, or an old case offered again (reopened by the resident): alert either way
      const offeredNow = cases.some((x) => x.id === c.id && x.status === "offered" && x.offered_to === mid);
      if (ev.type === "case.offered" && c.offered_to === mid && !offeredNow) {
        seen.delete(c.id);
        unseen.add(c.id);
        if (navigator.vibrate) navigator.vibrate(200);
      }
      // one reload for a burst of events; the history too if any of them took a case in or out of it
      if (/resolved|rated|status_changed/.test(ev.type)) historyStale = true;
      clearTimeout(timer);
      timer = setTimeout(() => {
        load();
        if (historyStale) { historyStale = false; refreshHistory(); }
      }, 150);
    }, (ok) => {
      const s = $("live-state");
      s.dataset.i18n = ok ? "m.live.on" : "m.live.off";
      s.textContent = SL.t(s.dataset.i18n);
      s.classList.toggle("off", !ok);
      s.classList.toggle("on", ok);
      if (ok) load();   // catch up after a reconnection
    });
    setInterval(countdownTick, 1000);
    setInterval(() => { if (!document.hidden) load(); }, 60000);
  }
  start();
})();
