/* Shangliang shared page code: language switch, API calls, times in Asia/Shanghai, live sockets. */
(function () {
  "use strict";
  const LANG_KEY = "sl_lang";
  const dict = {
    zh: { skip: "跳到正文", brand: "有事好商量", nav: "主导航", "nav.board": "指挥大屏", "nav.inspect": "督查",
          "nav.admin": "管理", "nav.member": "我的任务", logout: "退出", home: "返回首页",
          "login.title": "登录", "login.username": "用户名", "login.password": "密码", "login.submit": "登录",
          "live.online": "实时连接", "live.offline": "连接中断，正在重连…",
          "status.new": "待派", "status.offered": "已派待签", "status.assigned": "已签收", "status.in_progress": "办理中",
          "status.resolved": "已办结", "status.closed": "已关闭", "status.reopened": "重办", "status.escalated": "待人工派单",
          "status.forwarded": "已转办", "status.merged": "已合并", "status.cancelled": "已撤销",
          "channel.hotline": "12345热线", "channel.mail": "信箱", "channel.qr": "扫码", "channel.phone": "来电", "channel.open311": "Open311",
          "actor.resident": "居民", "actor.system": "系统", "actor.demo": "演示数据", "actor.admin": "管理员",
          "actor.operator": "值班员", "actor.supervisor": "督查员", "actor.member": "委员", "actor.apikey": "接口",
          "actor.ladder": "系统（超时升级）",
          "score.satisfied": "满意", "score.basically_satisfied": "基本满意", "score.dissatisfied": "不满意" },
    en: { skip: "Skip to content", brand: "Let's talk it over", nav: "Main navigation", "nav.board": "Board", "nav.inspect": "Inspection",
          "nav.admin": "Admin", "nav.member": "My cases", logout: "Sign out", home: "Home",
          "login.title": "Sign in", "login.username": "Username", "login.password": "Password", "login.submit": "Sign in",
          "live.online": "Live", "live.offline": "Connection lost, reconnecting…",
          "status.new": "New", "status.offered": "Offered", "status.assigned": "Accepted", "status.in_progress": "In progress",
          "status.resolved": "Resolved", "status.closed": "Closed", "status.reopened": "Reopened", "status.escalated": "Needs dispatcher",
          "status.forwarded": "Forwarded", "status.merged": "Merged", "status.cancelled": "Cancelled",
          "channel.hotline": "12345 hotline", "channel.mail": "Mailbox", "channel.qr": "QR code", "channel.phone": "Phone", "channel.open311": "Open311",
          "actor.resident": "Resident", "actor.system": "System", "actor.demo": "Demo data", "actor.admin": "Administrator",
          "actor.operator": "Operator", "actor.supervisor": "Supervisor", "actor.member": "Member", "actor.apikey": "API client",
          "actor.ladder": "System (escalation)",
          "score.satisfied": "Satisfied", "score.basically_satisfied": "Basically satisfied", "score.dissatisfied": "Dissatisfied" },
  };
  let lang = localStorage.getItem(LANG_KEY) === "en" ? "en" : "zh";

  function t(key, fallback) {
    return (dict[lang] && dict[lang][key]) || (dict.zh[key]) || fallback || key;
  }
  function extend(more) {
    for (const l of Object.keys(more)) Object.assign(dict[l] = dict[l] || {}, more[l]);
    apply(document);
  }
  /** "{name}" placeholders of a message filled from args. */
  function fmt(key, args) {
    return t(key).replace(/\{(\w+)\}/g, (m, k) => (args && args[k] != null ? String(args[k]) : m));
  }
  /** Show a message by key in el; it is re-worded when the language switches (a saved note, an error). */
  function say(el, key, args) {
    if (!el) return;
    if (!key) { delete el.dataset.i18n; delete el.dataset.i18nArgs; el.textContent = ""; return; }
    el.dataset.i18n = key;
    if (args) el.dataset.i18nArgs = JSON.stringify(args); else delete el.dataset.i18nArgs;
    el.textContent = fmt(key, args);
  }
  function apply(root) {
    root.querySelectorAll("[data-i18n]").forEach((el) => {
      let args = null;
      if (el.dataset.i18nArgs) { try { args = JSON.parse(el.dataset.i18nArgs); } catch (e) { args = null; } }
      el.textContent = args ? fmt(el.dataset.i18n, args) : t(el.dataset.i18n, el.textContent);
    });
    root.querySelectorAll("[data-i18n-zh]").forEach((el) => { el.textContent = lang === "en" ? el.dataset.i18nEn : el.dataset.i18nZh; });
    root.querySelectorAll("[data-i18n-attr]").forEach((el) => {
      el.dataset.i18nAttr.split(";").forEach((pair) => {
        const [attr, key] = pair.split(":");
        if (attr && key) el.setAttribute(attr.trim(), t(key.trim(), el.getAttribute(attr.trim())));
      });
    });
    document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
    const sw = document.getElementById("lang-switch");
    if (sw) sw.textContent = lang === "en" ? "中文" : "EN";
  }
  function setLang(l) {
    lang = l === "en" ? "en" : "zh";
    localStorage.setItem(LANG_KEY, lang);
    apply(document);
    document.dispatchEvent(new CustomEvent("sl:lang", { detail: lang }));
  }

  /** A trail actor in words: "operator:2" with actor_name "li" → "值班员 li" / "Operator li"; "resident" → 居民. */
  function actor(e) {
    const raw = typeof e === "string" ? e : (e && e.actor) || "";
    const name = typeof e === "string" ? null : e && e.actor_name;
    const kind = raw === "system:ladder" ? "ladder" : raw.split(":")[0];
    const word = dict.zh["actor." + kind] ? t("actor." + kind) : raw;
    return name ? word + " " + name : word;
  }
  let catNames = null;
  /** A category path in the page's language: in English the top-level category's English name (full: the rest of
   * the path after it, in Chinese, since only the 15 top-level classes have English names). */
  function category(path, full) {
    if (!path) return "";
    const parts = String(path).split("/");
    if (lang !== "en") return full ? parts.join(" / ") : parts[parts.length - 1];
    if (catNames === null) {
      const meta = document.querySelector('meta[name="sl-categories"]');
      try { catNames = JSON.parse(meta ? meta.content : "{}"); } catch (err) { catNames = {}; }
    }
    const top = catNames[parts[0]] || parts[0];
    return full && parts.length > 1 ? top + " / " + parts.slice(1).join(" / ") : top;
  }

  // Signing out revokes the session, and the server closes this page's sockets (4401) and refuses its requests in
  // flight (401) before the form's answer arrives: without this flag they would send the user to /login?next=…
  // instead of the plain /login.
  let signingOut = false;
  document.addEventListener("submit", (e) => { if (e.target.closest && e.target.closest("form.logout")) signingOut = true; });
  /** The session ended: sign in again and come back here (unless the user is signing out). */
  function signInAgain() {
    if (!signingOut) location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
  }

  async function api(path, opts = {}) {
    const headers = Object.assign({ "X-Requested-With": "shangliang", Accept: "application/json" }, opts.headers);
    let body = opts.body;
    if (body && !(body instanceof FormData)) { headers["Content-Type"] = "application/json"; body = JSON.stringify(body); }
    const res = await fetch(path, { method: opts.method || (body ? "POST" : "GET"), headers, body, credentials: "same-origin" });
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!res.ok) {
      // the server says "中文 / English": the page shows the half in its language
      const both = (data && data.error && data.error.message) || res.statusText;
      const cut = both.indexOf(" / ");
      const err = new Error(cut > 0 ? (lang === "en" ? both.slice(cut + 3) : both.slice(0, cut)) : both);
      err.status = res.status; err.code = data && data.error && data.error.code; err.details = data && data.error && data.error.details;
      if (res.status === 401 && !opts.noRedirect) signInAgain();
      throw err;
    }
    return data;
  }

  function fmtTime(iso, withDate) {
    if (!iso) return "";
    const opts = { timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", hour12: false };
    if (withDate) Object.assign(opts, { year: "numeric", month: "2-digit", day: "2-digit" });
    return new Intl.DateTimeFormat(lang === "en" ? "en-GB" : "zh-CN", opts).format(new Date(iso));
  }
  function fmtCountdown(ms) {
    const neg = ms < 0; ms = Math.abs(ms);
    const h = Math.floor(ms / 3600000), m = Math.floor((ms % 3600000) / 60000), s = Math.floor((ms % 60000) / 1000);
    const txt = (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + String(s).padStart(2, "0");
    return (neg ? "-" : "") + txt;
  }
  function maskPhone(p) { return p && p.length > 7 ? p.slice(0, 3) + "*".repeat(p.length - 7) + p.slice(-4) : p; }
  function esc(s) { return String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }
  function haversine(lat1, lon1, lat2, lon2) {
    const R = 6371008.8, r = Math.PI / 180;
    const a = Math.sin((lat2 - lat1) * r / 2) ** 2 + Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin((lon2 - lon1) * r / 2) ** 2;
    return 2 * R * Math.asin(Math.min(1, Math.sqrt(a)));
  }

  /** A websocket that reconnects by itself and resumes from the last event id it saw. */
  function live(path, onEvent, onStatus) {
    const key = "sl_last:" + path;
    let ws = null, delay = 500, stopped = false;
    function connect() {
      const last = sessionStorage.getItem(key);
      const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path +
        (last ? (path.includes("?") ? "&" : "?") + "last_event_id=" + encodeURIComponent(last) : "");
      ws = new WebSocket(url);
      let opened = false;
      ws.onopen = () => { opened = true; delay = 500; onStatus && onStatus(true); };
      ws.onmessage = (m) => {
        let ev; try { ev = JSON.parse(m.data); } catch (e) { return; }
        if (ev.id) sessionStorage.setItem(key, ev.id);
        onEvent(ev);
      };
      ws.onclose = (e) => {
        if (signingOut) return; // our own sign-out closed it: the form's answer leads to /login
        onStatus && onStatus(false);
        if (stopped) return;
        // 4401: the session ended (signed out, password or role changed, expired); 4403/1008: refused at the door
        if (e.code === 4401 || e.code === 4403 || e.code === 1008) {
          stopped = true;
          signInAgain();
          return;
        }
        // refused before opening (a browser shows an HTTP 403 as 1006): if the session is gone, api() signs in again
        if (!opened) api("/api/auth/me").catch(() => {});
        setTimeout(connect, e.code === 4008 ? 0 : delay);
        delay = Math.min(delay * 2, 10000);
      };
    }
    connect();
    return { close() { stopped = true; ws && ws.close(); }, get socket() { return ws; } };
  }

  /** The page's #live-status pill: worded by its state, so a language switch re-words it. */
  function liveStatus(up) {
    const el = document.getElementById("live-status");
    if (!el) return;
    el.classList.toggle("online", up);
    el.classList.toggle("offline", !up);
    el.dataset.i18n = up ? "live.online" : "live.offline";
    el.textContent = t(el.dataset.i18n);
  }

  window.SL = { t, fmt, say, extend, apply, setLang, get lang() { return lang; }, api, actor, category, fmtTime, fmtCountdown, maskPhone, esc, haversine, live, liveStatus };
  document.addEventListener("DOMContentLoaded", () => {
    apply(document);
    const sw = document.getElementById("lang-switch");
    if (sw) sw.addEventListener("click", () => setLang(lang === "en" ? "zh" : "en"));
  });
})();
