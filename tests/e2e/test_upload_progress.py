"""A resident on a slow network sees the photo upload's real progress (bytes sent of the total, a percentage),
in Chinese and in English; a refusal still shows the server's message (issue 15, item 9)."""

from __future__ import annotations

import io
import os
import re

import pytest
from helpers import auth, user_token
from PIL import Image
from playwright.sync_api import expect

UPLOAD_BYTES_PER_S = 200 * 1024  # a weak mobile uplink: the photo below takes about three seconds


def _noisy_png() -> bytes:
    """About 600 KB that does not compress (under the size the page scales photos down from)."""
    buf = io.BytesIO()
    Image.frombytes("RGB", (460, 440), os.urandom(460 * 440 * 3)).save(buf, "PNG")
    data = buf.getvalue()
    assert 500_000 < len(data) < 1_200_000
    return data


def _point(api) -> tuple[str, dict]:
    op = user_token(api, "operator", "upop")
    v = api.get("/api/regions?level=village", headers=auth(op)).json()[7]
    res = api.post(
        "/api/points",
        json={"name": "社区议事厅", "kind": "consultation_room", "village_code": v["code"]},
        headers=auth(op),
    )
    assert res.status_code == 201, res.text
    return op, res.json()


def _slow(page) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": UPLOAD_BYTES_PER_S},
    )


# every value the bar takes, in order (the page sets it as the upload goes)
WATCH = """() => {
  const bar = document.getElementById("sending");
  window.__seen = [];
  new MutationObserver(() => { if (bar.hasAttribute("value")) window.__seen.push(bar.value); })
    .observe(bar, { attributes: true, attributeFilter: ["value"] });
}"""
RISING = (
    "() => { const s = window.__seen.filter((v) => v > 0 && v < 100); return s.length >= 2 && s[s.length - 1] > s[0]; }"
)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_photo_upload_shows_its_progress(api, pages, shots, lang):
    _, point = _point(api)
    page = pages(mobile=True)
    page.goto(f"/q/{point['qr_token']}")
    if lang == "en":
        page.locator("#lang-switch").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
    page.set_input_files("#photos", files=[{"name": "p.png", "mimeType": "image/png", "buffer": _noisy_png()}])
    expect(page.locator("#thumbs img")).to_have_count(1)
    page.locator("#content").fill("楼道灯坏了 / The stairwell light is broken")
    box, bar, text = page.locator("#sending-box"), page.locator("#sending"), page.locator("#sending-text")
    expect(box).to_be_hidden()
    page.evaluate(WATCH)
    _slow(page)
    page.locator("#submit").click()

    expect(box).to_be_visible()
    page.wait_for_function(RISING, timeout=30_000)  # 0 < a < b < 100: the bar moves, it does not just spin
    words = (
        r"正在上传：[\d.]+ [KM]B / [\d.]+ [KM]B（\d+%）"
        if lang == "zh"
        else r"Uploading: [\d.]+ [KM]B of [\d.]+ [KM]B \(\d+%\)"
    )
    expect(text).to_have_text(re.compile(words))
    pct = int(re.search(r"(\d+)%", text.inner_text())[1])
    assert 0 < pct < 100 and int(bar.get_attribute("value")) >= pct - 5  # the words and the bar agree
    assert bar.get_attribute("aria-labelledby") == "sending-text"
    shots(page, f"uploading-{lang}")
    page.wait_for_url(re.compile(r"/t/[^#]+#s="), timeout=30_000)  # sent: the tracking page
    expect(page.locator("#secret")).to_have_text(re.compile(r"\S"))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_refused_upload_shows_the_servers_message(api, pages, shots, lang):
    op, point = _point(api)
    page = pages(mobile=True)
    page.goto(f"/q/{point['qr_token']}")
    if lang == "en":
        page.locator("#lang-switch").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
    page.set_input_files("#photos", files=[{"name": "p.png", "mimeType": "image/png", "buffer": _noisy_png()}])
    page.locator("#content").fill("路面塌陷")
    assert api.post(f"/api/points/{point['id']}/rotate", headers=auth(op)).status_code == 200  # the code is replaced
    page.locator("#submit").click()
    err = page.locator("#form-error")
    want = "此二维码已更换（社区议事厅）" if lang == "zh" else "This code was replaced (社区议事厅)"
    expect(err).to_contain_text(want)
    expect(err).not_to_contain_text(" / ")  # the half in the page's language
    expect(page.locator("#sending-box")).to_be_hidden()
    expect(page.locator("#submit")).to_be_enabled()
    shots(page, f"refused-{lang}")
