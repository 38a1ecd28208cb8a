/* Resident pages: the QR intake form (progressive enhancement) and the tracking page. */
(function () {
  "use strict";
  const SL = window.SL;
  const $ = (id) => document.getElementById(id);
  SL.extend({
    zh: {
      "qr.title": "有事好商量 · 反映诉求", "qr.category": "诉求分类", "qr.content": "诉求内容",
      "qr.kind": "诉求类型（选填）", "qr.kind.unsure": "不确定",
      "qr.content.ph": "请说明什么地方、发生了什么", "qr.photos": "照片（最多 3 张）", "qr.loc": "位置",
      "qr.loc.point": "默认使用本点位的位置", "qr.loc.mine": "使用我的位置", "qr.loc.usepoint": "改用点位位置",
      "qr.loc.locating": "正在获取您的位置…", "qr.loc.using": "正在使用您的位置", "qr.loc.denied": "未能获取位置（未授权或信号弱），将使用点位位置。",
      "qr.name": "姓名（选填）", "qr.phone": "电话（选填）", "qr.privacy": "留下电话便于委员联系您；号码不会公开。",
      "qr.submit": "提交", "qr.sending": "正在提交…", "qr.hotline": "也可拨打市民热线",
      "qr.uploading": "正在上传：{sent} / {total}（{pct}%）", "qr.processing": "已上传 {total}，正在处理…", "qr.preparing": "正在准备照片…",
      "qr.toomany": "最多只能上传 3 张照片，多余的未添加。", "qr.notimage": "只能上传图片。", "qr.remove": "删除",
      "qr.photo": "照片", "qr.neterr": "网络不通，请稍后重试。", "qr.empty": "请填写诉求内容",
      "t.received": "已受理", "t.title": "查询办理进度", "t.keep": "请保存受理编号和查询码，用于查询进度和评价。",
      "t.no": "受理编号", "t.secret": "查询码", "t.copy": "复制", "t.copied": "已复制",
      "t.qrhint": "截图保存此二维码，扫码即可再次查看进度。", "t.enter": "请输入查询码", "t.show": "查询",
      "t.status": "当前状态", "t.refresh": "刷新", "t.updated": "更新于", "t.category": "分类", "t.content": "内容",
      "t.consult": "协商成果", "t.consult.topic": "议题", "t.consult.dept": "落实部门", "t.consult.due": "完成时限",
      "t.consult.progress": "落实进度",
      "t.resolution": "办理结果", "t.timeline": "办理过程", "t.rate": "请对办理结果进行评价", "t.comment": "意见（选填）",
      "t.submitrating": "提交评价", "t.rated": "感谢您的评价：", "t.reopened": "已重新办理，委员会继续跟进。",
      "t.wrong": "查询码不正确或案件不存在，请核对后重新输入。", "t.neterr": "网络不通，稍后自动重试。",
      "score.satisfied": "满意", "score.basically_satisfied": "基本满意", "score.dissatisfied": "不满意",
      "act.created": "已受理", "act.offered": "已派发给委员", "act.accepted": "委员已签收", "act.assigned": "已指派委员",
      "act.progress": "办理进展", "act.resolved": "已办结", "act.rated": "已评价", "act.closed": "已关闭",
      "act.reopened": "重新办理", "act.forwarded": "已转交职能部门", "act.escalated": "转指挥中心派单",
      "act.merged": "已合并办理", "act.cancelled": "已撤销",
    },
    en: {
      "qr.title": "Let's talk it over · Report an issue", "qr.category": "Category", "qr.content": "Description",
      "qr.kind": "Type of request (optional)", "qr.kind.unsure": "Not sure",
      "qr.content.ph": "Where is it, and what happened?", "qr.photos": "Photos (up to 3)", "qr.loc": "Location",
      "qr.loc.point": "This point's location is used by default", "qr.loc.mine": "Use my location", "qr.loc.usepoint": "Use the point's location",
      "qr.loc.locating": "Finding your location…", "qr.loc.using": "Using your location", "qr.loc.denied": "Could not get your location (not allowed or weak signal); the point's location will be used.",
      "qr.name": "Name (optional)", "qr.phone": "Phone (optional)", "qr.privacy": "A phone number lets a member call you back; it is not published.",
      "qr.submit": "Submit", "qr.sending": "Sending…", "qr.hotline": "Or call the citizen hotline",
      "qr.uploading": "Uploading: {sent} of {total} ({pct}%)", "qr.processing": "Uploaded {total}, processing…", "qr.preparing": "Preparing the photos…",
      "qr.toomany": "At most 3 photos; the extra ones were not added.", "qr.notimage": "Only images can be attached.", "qr.remove": "Remove",
      "qr.photo": "Photo", "qr.neterr": "No connection, please try again.", "qr.empty": "Please describe the issue",
      "t.received": "Received", "t.title": "Follow your case", "t.keep": "Keep the tracking number and the secret: you need them to follow and rate your case.",
      "t.no": "Tracking number", "t.secret": "Secret", "t.copy": "Copy", "t.copied": "Copied",
      "t.qrhint": "Save a screenshot of this QR code: scanning it opens this page again.", "t.enter": "Enter your secret", "t.show": "Show",
      "t.status": "Status", "t.refresh": "Refresh", "t.updated": "Updated", "t.category": "Category", "t.content": "Description",
      "t.consult": "Consultation outcome", "t.consult.topic": "Topic", "t.consult.dept": "Responsible department",
      "t.consult.due": "Due", "t.consult.progress": "Progress",
      "t.resolution": "Result", "t.timeline": "Timeline", "t.rate": "How satisfied are you with the result?", "t.comment": "Comment (optional)",
      "t.submitrating": "Send rating", "t.rated": "Thank you for your rating: ", "t.reopened": "Reopened: the case will be handled again.",
      "t.wrong": "Wrong secret or no such case. Please check and try again.", "t.neterr": "No connection; retrying shortly.",
      "score.satisfied": "Satisfied", "score.basically_satisfied": "Basically satisfied", "score.dissatisfied": "Dissatisfied",
      "act.created": "Received", "act.offered": "Sent to a member", "act.accepted": "Accepted by a member", "act.assigned": "Assigned to a member",
      "act.progress": "Progress", "act.resolved": "Resolved", "act.rated": "Rated", "act.closed": "Closed",
      "act.reopened": "Reopened", "act.forwarded": "Forwarded to a department", "act.escalated": "Passed to the dispatch centre",
      "act.merged": "Merged", "act.cancelled": "Cancelled",
    },
  });

  function showError(el, msg) { el.textContent = msg || ""; el.hidden = !msg; }

  // ------------------------------------------------------------------ QR intake form
  function qrForm(form) {
    const input = $("photos"), thumbs = $("thumbs"), photoMsg = $("photo-msg"), err = $("form-error");
    const btn = $("submit"), bar = $("sending"), barBox = $("sending-box"), barText = $("sending-text");
    const MAX = 3;
    let photos = [];   // File objects chosen so far (the camera gives one at a time)
    let urls = [];

    function renderThumbs() {
      urls.forEach((u) => URL.revokeObjectURL(u));
      urls = photos.map((f) => URL.createObjectURL(f));
      thumbs.innerHTML = photos.map((f, i) =>
        `<li><img src="${urls[i]}" alt="${SL.esc(SL.t("qr.photo") + " " + (i + 1))}">` +
        `<button type="button" data-i="${i}" aria-label="${SL.esc(SL.t("qr.remove") + " " + (i + 1))}">×</button></li>`).join("");
    }
    input.addEventListener("change", () => {
      let msg = "";
      for (const f of Array.from(input.files)) {
        if (f.type && !f.type.startsWith("image/")) { msg = SL.t("qr.notimage"); continue; }
        if (photos.length >= MAX) { msg = SL.t("qr.toomany"); continue; }
        photos.push(f);
      }
      input.value = "";          // the list above is what is sent; the input can take another shot
      showError(photoMsg, msg);
      renderThumbs();
    });
    thumbs.addEventListener("click", (e) => {
      const b = e.target.closest("button[data-i]");
      if (!b) return;
      photos.splice(Number(b.dataset.i), 1);
      showError(photoMsg, "");
      renderThumbs();
    });

    // location: the point's by default, the phone's on request
    const loc = $("loc"), status = $("loc-status"), mine = $("use-my-loc"), back = $("use-point-loc");
    let locState = "point", fix = null;
    function renderLoc() {
      if (locState === "mine" && fix) {
        status.textContent = `${SL.t("qr.loc.using")}: ${fix.lat.toFixed(5)}, ${fix.lon.toFixed(5)}` +
          (fix.acc ? ` (±${Math.round(fix.acc)} m)` : "");
        status.className = "ok";
      } else if (locState === "locating") { status.textContent = SL.t("qr.loc.locating"); status.className = "muted"; }
      else if (locState === "denied") { status.textContent = SL.t("qr.loc.denied"); status.className = "error"; }
      else { status.textContent = SL.t("qr.loc.point"); status.className = "muted"; }
      mine.hidden = locState === "mine"; back.hidden = locState !== "mine";
      $("lat").value = locState === "mine" && fix ? fix.lat.toFixed(7) : "";
      $("lon").value = locState === "mine" && fix ? fix.lon.toFixed(7) : "";
      loc.dataset.using = locState === "mine" ? "mine" : "point";
    }
    if ("geolocation" in navigator) {
      loc.hidden = false;
      status.removeAttribute("data-i18n");
      mine.addEventListener("click", () => {
        locState = "locating"; renderLoc();
        navigator.geolocation.getCurrentPosition(
          (p) => { fix = { lat: p.coords.latitude, lon: p.coords.longitude, acc: p.coords.accuracy }; locState = "mine"; renderLoc(); },
          () => { locState = "denied"; renderLoc(); },
          { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
      });
      back.addEventListener("click", () => { locState = "point"; renderLoc(); });
      renderLoc();
    }
    document.addEventListener("sl:lang", () => { if (!loc.hidden) renderLoc(); renderThumbs(); });

    // big camera photos are scaled down before the upload (slow networks); small ones go as they are
    async function shrink(file) {
      if (file.size < 1_200_000 || !window.createImageBitmap) return file;
      try {
        const bmp = await createImageBitmap(file);
        const scale = Math.min(1, 1600 / Math.max(bmp.width, bmp.height));
        const c = document.createElement("canvas");
        c.width = Math.round(bmp.width * scale); c.height = Math.round(bmp.height * scale);
        c.getContext("2d").drawImage(bmp, 0, 0, c.width, c.height);
        const blob = await new Promise((res) => c.toBlob(res, "image/jpeg", 0.82));
        return blob && blob.size < file.size ? new File([blob], (file.name || "photo").replace(/\.\w+$/, "") + ".jpg", { type: "image/jpeg" }) : file;
      } catch (e) { return file; }
    }

    // the upload's progress: bytes sent of the request's total, as a bar and in words
    let sent = null;  // null: preparing; {loaded, total}
    const fmtBytes = (n) => (n >= 1048576 ? (n / 1048576).toFixed(1) + " MB" : Math.max(1, Math.round(n / 1024)) + " KB");
    const fill = (key, vars) => SL.t(key).replace(/\{(\w+)\}/g, (_, k) => vars[k]);
    function renderProgress() {
      if (!sent) { bar.removeAttribute("value"); barText.textContent = SL.t("qr.preparing"); return; }
      const pct = sent.total ? Math.min(100, Math.floor((sent.loaded * 100) / sent.total)) : 0;
      bar.value = pct;
      const vars = { sent: fmtBytes(sent.loaded), total: fmtBytes(sent.total), pct };
      barText.textContent = fill(sent.loaded >= sent.total ? "qr.processing" : "qr.uploading", vars);
    }
    document.addEventListener("sl:lang", () => { if (!barBox.hidden) renderProgress(); });

    // SL.api's request (same headers, same-origin cookies, the error's half in the page's language) through
    // XMLHttpRequest: fetch reports no upload progress
    function upload(path, body, onProgress) {
      return new Promise((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        xhr.open("POST", path);
        // a same-origin request with withCredentials left false: the cookies go, as fetch's credentials: "same-origin"
        xhr.setRequestHeader("X-Requested-With", "shangliang");
        xhr.setRequestHeader("Accept", "application/json");
        xhr.upload.addEventListener("progress", (ev) => { if (ev.lengthComputable) onProgress(ev.loaded, ev.total); });
        xhr.addEventListener("load", () => {
          let data = null;
          try { data = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch (e) { data = null; }
          if (xhr.status >= 200 && xhr.status < 300) { resolve(data); return; }
          const both = (data && data.error && data.error.message) || xhr.statusText || String(xhr.status);
          const cut = both.indexOf(" / ");
          const err = new Error(cut > 0 ? (SL.lang === "en" ? both.slice(cut + 3) : both.slice(0, cut)) : both);
          err.status = xhr.status; err.code = data && data.error && data.error.code; err.details = data && data.error && data.error.details;
          reject(err);
        });
        xhr.addEventListener("error", () => reject(new Error("network")));
        xhr.addEventListener("abort", () => reject(new Error("aborted")));
        xhr.send(body);
      });
    }

    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      showError(err, "");
      const content = $("content");
      if (!content.value.trim()) { showError(err, SL.t("qr.empty")); content.focus(); return; }
      const fd = new FormData();
      for (const k of ["category", "request_kind", "content", "name", "phone"]) {
        const v = form.elements[k].value.trim();
        if (v) fd.append(k, v);
      }
      if ($("lat").value && $("lon").value) {
        fd.append("lat", $("lat").value); fd.append("lon", $("lon").value); fd.append("coord_system", "wgs84");
      }
      btn.disabled = true; sent = null; renderProgress(); barBox.hidden = false;
      const label = btn.textContent;
      btn.textContent = SL.t("qr.sending");
      btn.setAttribute("aria-busy", "true");
      try {
        for (const f of photos) fd.append("photos", await shrink(f), f.name || "photo.jpg");
        const out = await upload("/api/intake/qr/" + encodeURIComponent(form.dataset.token), fd,
          (loaded, total) => { sent = { loaded, total }; renderProgress(); });
        location.href = "/t/" + encodeURIComponent(out.tracking_no) + "#s=" + encodeURIComponent(out.secret);
      } catch (ex) {
        showError(err, ex.status ? ex.message : SL.t("qr.neterr"));
        err.scrollIntoView({ block: "center" });
        btn.disabled = false; barBox.hidden = true; btn.textContent = label; btn.removeAttribute("aria-busy");
      }
    });
  }

  // ------------------------------------------------------------------ tracking page
  function trackPage(ticket) {
    const no = ticket.dataset.trackingNo;
    const POLL = 15000;
    let secret = "", data = null, timer = null, rated = null;

    const hash = new URLSearchParams(location.hash.slice(1));
    const query = new URLSearchParams(location.search);
    secret = hash.get("s") || query.get("secret") || ($("secret").textContent || "").trim();
    const link = () => location.origin + "/t/" + encodeURIComponent(no) + "#s=" + encodeURIComponent(secret);
    if (secret && (query.has("secret") || !hash.get("s"))) history.replaceState(null, "", link()); // keep the secret out of later requests

    document.querySelectorAll("button.copy").forEach((b) => {
      if (!navigator.clipboard) return;
      b.hidden = false;
      b.addEventListener("click", async () => {
        try { await navigator.clipboard.writeText($(b.dataset.copy).textContent.trim()); b.textContent = SL.t("t.copied"); }
        catch (e) { /* selection still works */ }
        setTimeout(() => { b.textContent = SL.t("t.copy"); }, 2000);
      });
    });

    function showTicket() {
      $("secret").textContent = secret;
      $("secret-field").hidden = false;
      $("qr-hint").hidden = false;
      const box = $("qr");
      if (window.qrcode) {
        try {
          const q = window.qrcode(0, "M"); q.addData(link()); q.make();
          box.innerHTML = q.createSvgTag({ cellSize: 4, margin: 2 });
          const svg = box.querySelector("svg");
          if (svg) { svg.setAttribute("role", "img"); svg.setAttribute("aria-label", SL.t("t.qrhint")); }
          box.hidden = false;
        } catch (e) { box.hidden = true; }
      }
    }

    function render() {
      if (!data) return;
      $("progress").hidden = false;
      const st = $("status");
      st.textContent = SL.t("status." + data.status, data.status);
      st.dataset.status = data.status;
      $("t-category").textContent = data.category || "";
      $("t-content").textContent = data.content || "";
      $("resolution-box").hidden = !data.resolution;
      $("resolution").textContent = data.resolution || "";
      const consult = data.consultation;
      $("consultation-box").hidden = !consult;
      if (consult) {
        $("consultation-title").textContent = consult.title;
        $("outcomes").innerHTML = (consult.outcomes || []).map((o) => `<li><p>${SL.esc(o.text)}</p>
          <p class="muted">${SL.esc(SL.t("t.consult.dept"))}：${SL.esc(o.department || "")}` +
          (o.due_date ? ` · ${SL.esc(SL.t("t.consult.due"))}：${SL.esc(o.due_date)}` : "") +
          (o.progress ? ` · ${SL.esc(SL.t("t.consult.progress"))}：${o.progress.percent}%` : "") + `</p></li>`).join("");
      }
      $("timeline").innerHTML = data.timeline.slice().reverse().map((e) =>
        `<li data-action="${SL.esc(e.action)}"><time datetime="${SL.esc(e.at)}">${SL.esc(SL.fmtTime(e.at, true))}</time> ` +
        `<span>${SL.esc(SL.t("act." + e.action, e.action))}</span></li>`).join("");
      $("updated").textContent = SL.fmtTime(new Date().toISOString(), false);
      $("rating-form").hidden = data.status !== "resolved";
      const res = $("rating-result");
      const score = rated || data.rating;
      if (score && data.status !== "resolved") {
        res.textContent = SL.t("t.rated") + SL.t("score." + score, score) +
          (score === "dissatisfied" ? " · " + SL.t("t.reopened") : "");   // reopened: handled again
        res.hidden = false;
      } else res.hidden = true;
    }

    async function load() {
      try {
        // the secret in a header, not the URL (URLs end up in access logs); encoded, as a header takes only
        // ASCII: a real secret (URL-safe base64) is unchanged, a mistyped one is just wrong
        data = await SL.api("/api/track/" + encodeURIComponent(no),
          { headers: { "X-Tracking-Secret": encodeURIComponent(secret) } });
        showError($("track-error"), "");
        $("secret-form").hidden = true;
        showTicket();
        render();
        return true;
      } catch (ex) {
        if (ex.status === 404) {
          showError($("track-error"), SL.t("t.wrong"));
          $("progress").hidden = true; $("secret-form").hidden = false;
          $("secret-field").hidden = true; $("qr").hidden = true; $("qr-hint").hidden = true;
          stop();
          return false;
        }
        showError($("track-error"), ex.status ? ex.message : SL.t("t.neterr"));
        return false;
      }
    }
    function stop() { if (timer) { clearInterval(timer); timer = null; } }
    function start() { stop(); timer = setInterval(() => { if (!document.hidden) load(); }, POLL); }
    document.addEventListener("visibilitychange", () => {
      if (document.hidden || !secret) stop();
      else if ($("progress").hidden === false) { load(); start(); }
    });
    document.addEventListener("sl:lang", render);

    $("refresh").addEventListener("click", async (e) => {
      e.preventDefault(); // without JavaScript the button posts the refresh form instead
      const b = $("refresh"); b.disabled = true;
      await load(); b.disabled = false;
    });
    $("secret-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      secret = $("secret-input").value.trim();
      if (!secret) return;
      if (await load()) { history.replaceState(null, "", link()); showTicket(); start(); }
    });
    $("rating-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const f = e.target, btn = f.querySelector("button[type=submit]");
      const score = f.elements.score.value;
      if (!score) return;
      btn.disabled = true;
      try {
        data = await SL.api("/api/track/" + encodeURIComponent(no) + "/rating",
          { method: "POST", body: { secret, score, comment: f.elements.comment.value.trim() || null } });
        rated = score;
        showError($("track-error"), "");
        render();
      } catch (ex) {
        showError($("track-error"), ex.status ? ex.message : SL.t("t.neterr"));
      } finally { btn.disabled = false; }
    });

    if (secret) { load().then((ok) => { if (ok) start(); }); }
    else { $("secret-form").hidden = false; $("secret-input").focus(); }
  }

  const form = $("qr-form");
  if (form) qrForm(form);
  const ticket = $("ticket");
  if (ticket) trackPage(ticket);
})();
