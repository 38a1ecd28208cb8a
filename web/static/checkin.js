/* The member's meeting check-in page (/c/{token}), opened by scanning the meeting's QR code. */
(function () {
  "use strict";
  SL.extend({
    zh: { "ci.title": "协商签到", "ci.kind": "形式", "ci.time": "时间", "ci.place": "地点", "ci.agenda": "议程",
          "ci.online": "网上议事", "ci.button": "签到", "ci.back": "返回我的任务",
          "ci.kind.bench": "板凳议事", "ci.kind.roundtable": "圆桌协商", "ci.kind.onsite": "现场协商", "ci.kind.online": "网上议事",
          "ci.done": "已签到", "ci.done_sub": "签到时间 {t}", "ci.already": "您已签到，无需重复签到",
          "ci.not_participant": "您不是本次协商的参与委员，无法签到", "ci.not_participant_sub": "如有疑问请联系工作人员。",
          "ci.invalid": "签到码无效", "ci.failed": "签到失败，请重试" },
    en: { "ci.title": "Meeting check-in", "ci.kind": "Format", "ci.time": "Time", "ci.place": "Place", "ci.agenda": "Agenda",
          "ci.online": "Online meeting", "ci.button": "Check in", "ci.back": "Back to my cases",
          "ci.kind.bench": "Bench talk", "ci.kind.roundtable": "Round table", "ci.kind.onsite": "On site", "ci.kind.online": "Online",
          "ci.done": "Checked in", "ci.done_sub": "Checked in at {t}", "ci.already": "You have already checked in",
          "ci.not_participant": "You are not a participant of this meeting", "ci.not_participant_sub": "Please ask the staff if this is wrong.",
          "ci.invalid": "Invalid check-in code", "ci.failed": "Check-in failed, please try again" },
  });
  const app = document.getElementById("checkin-app");
  if (!app) return;
  const btn = document.getElementById("checkin-btn");
  const out = document.getElementById("ci-result");
  const time = document.getElementById("ci-time");
  let last = null;

  function show() {
    if (time) time.textContent = SL.fmtTime(time.getAttribute("datetime"), true);
    if (!last) return;
    const [key, sub, ok] = last;
    out.hidden = false;
    out.className = "result " + (ok ? "ok" : "bad");
    out.innerHTML = `${ok ? "✔ " : ""}<span>${SL.esc(SL.t(key))}</span>` +
      (sub ? `<span class="sub">${SL.esc(sub())}</span>` : "");
  }

  btn.addEventListener("click", async () => {
    btn.disabled = true;
    try {
      const res = await SL.api("/api/meetings/checkin/" + encodeURIComponent(app.dataset.token), { method: "POST" });
      last = ["ci.done", () => SL.t("ci.done_sub").replace("{t}", SL.fmtTime(res.at, true)), true];
      if (navigator.vibrate) navigator.vibrate(100);
    } catch (ex) {
      if (ex.code === "already_checked_in") last = ["ci.already", null, true];
      else if (ex.code === "not_a_participant") last = ["ci.not_participant", () => SL.t("ci.not_participant_sub"), false];
      else if (ex.status === 404) last = ["ci.invalid", null, false];
      else last = ["ci.failed", () => ex.message, false];
    } finally {
      btn.disabled = false;
    }
    show();
  });
  document.addEventListener("sl:lang", show);
  show();
})();
