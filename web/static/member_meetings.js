/* The member's consultation meetings: upcoming ones on load, and notices pushed live when one is scheduled. */
(function () {
  "use strict";
  SL.extend({
    zh: { "mt.title": "协商会议", "mt.none": "暂无待参加的协商会议。", "mt.new": "新的协商会议通知：",
          "mt.kind.bench": "板凳协商会", "mt.kind.roundtable": "圆桌会", "mt.kind.onsite": "现场协商", "mt.kind.online": "网上议事",
          "mt.online": "线上参加", "mt.agenda": "议程" },
    en: { "mt.title": "Consultation meetings", "mt.none": "No meetings to attend.", "mt.new": "New meeting notice: ",
          "mt.kind.bench": "Bench meeting", "mt.kind.roundtable": "Round table", "mt.kind.onsite": "On-site", "mt.kind.online": "Online",
          "mt.online": "Join online", "mt.agenda": "Agenda" },
  });
  const $ = (id) => document.getElementById(id);
  let meetings = [];
  let last = null;

  function line(m) {
    const place = m.point_name || (m.point && m.point.name);  // the topic's view, or the live notice's
    const where = place ? `<span class="ugc">${SL.esc(place)}</span>` :
      (m.online_url ? `<a href="${SL.esc(m.online_url)}" rel="noopener">${SL.esc(SL.t("mt.online"))}</a>` : "");
    return `<div class="card" data-meeting-id="${m.id}"><strong class="ugc">${SL.esc(m.topic_title || "")}</strong>
      <p>${SL.esc(SL.t("mt.kind." + m.kind, m.kind))} · <time datetime="${SL.esc(m.starts_at)}">${SL.esc(SL.fmtTime(m.starts_at, true))}</time>
      ${where ? " · " + where : ""}</p>${m.agenda ? `<p class="muted">${SL.esc(SL.t("mt.agenda"))}${SL.lang === "en" ? ": " : "："}<span class="ugc">${SL.esc(m.agenda)}</span></p>` : ""}</div>`;
  }
  function render() {
    const upcoming = meetings.filter((m) => new Date(m.starts_at) > Date.now() - 3 * 3600 * 1000)
      .sort((a, b) => a.starts_at.localeCompare(b.starts_at));
    $("meetings").innerHTML = upcoming.length ? upcoming.map(line).join("") :
      `<p class="empty">${SL.esc(SL.t("mt.none"))}</p>`;
    if (last) {
      $("meeting-notice").innerHTML = SL.esc(SL.t("mt.new")) + `<span class="ugc">${SL.esc(last.topic_title)}</span> · ` + SL.esc(SL.fmtTime(last.starts_at, true));
      $("meeting-notice").hidden = false;
    }
  }
  async function load() {
    const topics = await SL.api("/api/consultations/topics");
    const active = topics.filter((t) => t.status === "scheduled");
    const details = await Promise.all(active.map((t) => SL.api(`/api/consultations/topics/${t.id}`)));
    meetings = [];
    details.forEach((t) => (t.meetings || []).forEach((m) => meetings.push(Object.assign({ topic_title: t.title }, m))));
    render();
  }
  document.addEventListener("sl:lang", render);
  document.addEventListener("DOMContentLoaded", () => {
    // the list loads once the socket is open (and again after each reconnection): a meeting scheduled while the
    // page was loading is then either in the list or arrives as a live notice
    SL.live("/ws/member?feed=meetings", (ev) => {
      if (ev.type !== "meeting.notice" || !ev.meeting) return;
      last = ev.meeting;
      if (navigator.vibrate) navigator.vibrate(200);
      load().catch(() => render());
    }, (ok) => { if (ok) load().catch(() => {}); });
  });
})();
