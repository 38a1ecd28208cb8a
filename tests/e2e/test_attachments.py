"""An admin opens every attachment of the reviewer's hostile mail from the board drawer: nothing runs.

The attack of issue 14: ``IMG_2041.html`` (sent as application/octet-stream) loads ``thumb.js`` from our origin,
which creates an admin account with the session of whoever opens the "photo". Here the admin and the member
open every attachment the pages offer; no dialog, no request to /api/users, no new account, and the real photo
still shows as a thumbnail.
"""

from __future__ import annotations

from helpers import PASSWORD, auth, create_member, user_token
from hostile_files import ATTACK_HTML, ATTACK_JS, ATTACK_SVG, PDF, exif_jpeg, hostile_mail, post_mail
from playwright.sync_api import expect
from sqlmodel import select

from dispatch.auth.models import User
from e2e.browser import login

# the filename is page text too: it must stay text
NASTY_NAME = '"><img src=x onerror=alert(9)>.txt'


def _watch(context) -> tuple[list[str], list[str]]:
    """Every dialog (dismissed) and every request to /api/users, in every tab of ``context``."""
    dialogs: list[str] = []
    users: list[str] = []
    context.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    context.on("request", lambda r: users.append(f"{r.method} {r.url}") if "/api/users" in r.url else None)
    return dialogs, users


def _open_all(page, links) -> list:
    """Click every attachment link as a person would: a thumbnail opens a tab, a file downloads."""
    tabs = []
    for i in range(links.count()):
        link = links.nth(i)
        if link.get_attribute("download") is not None:
            with page.expect_download() as download:
                link.click()
            assert download.value.failure() is None
        else:
            with page.expect_popup() as popup:
                link.click()
            tab = popup.value
            tab.wait_for_load_state("load")
            tabs.append(tab)
    for tab in tabs:
        if not tab.is_closed():
            tab.wait_for_load_state("networkidle")  # whatever a script there would fetch has been asked for
    return tabs


def _natural_widths(images) -> list[int]:
    return [images.nth(i).evaluate("img => img.complete ? img.naturalWidth : -1") for i in range(images.count())]


def test_an_admin_opens_every_attachment_of_a_hostile_mail_and_nothing_runs(api, db, pages, shots):
    adm = user_token(api, "admin", "adm-att")
    files = [
        ("IMG_2041.html", "application/octet-stream", ATTACK_HTML),
        ("thumb.js", "application/octet-stream", ATTACK_JS),
        ("map.svg", "image/svg+xml", ATTACK_SVG),
        ("report.pdf", "application/pdf", PDF),
        (NASTY_NAME, "text/plain", b"hello"),
        ("IMG_2042.jpg", "image/jpeg", exif_jpeg()),
    ]
    case = post_mail(api, hostile_mail("<e2e-attack@example.cn>", files, rfc2231=True))

    page = pages()
    dialogs, users = _watch(page.context)
    login(page, "adm-att", PASSWORD, "/board")
    card = page.locator(f'.cards [data-case-id="{case["id"]}"]')
    expect(card).to_be_visible(timeout=5000)
    card.click()
    drawer = page.get_by_role("dialog")
    expect(drawer.locator("#drawer-title")).to_have_text(case["tracking_no"])
    links = drawer.locator('a[href*="/attachments/"]')
    expect(links).to_have_count(len(files))

    _open_all(page, links)
    assert dialogs == [], dialogs
    assert users == [], users
    assert db.exec(select(User).where(User.username == "pwned")).first() is None
    db.rollback()

    # the photo is a thumbnail that shows; every other file is a named download link with its size
    thumbs = drawer.locator(".photos img")
    expect(thumbs).to_have_count(1)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumbs.first.element_handle())
    assert _natural_widths(thumbs) == [48]
    downloads = drawer.locator(".files a[download]")
    expect(downloads).to_have_count(len(files) - 1)
    for name in ("IMG_2041.html", "thumb.js", "map.svg", "report.pdf", NASTY_NAME):
        expect(downloads.filter(has_text=name)).to_have_count(1)
    expect(drawer.locator(".files li", has_text=NASTY_NAME)).to_contain_text("5 B")  # its size
    expect(drawer.locator(".files img")).to_have_count(0)  # the nasty name stayed text
    expect(drawer.locator("h3", has_text="附件")).to_be_visible()
    shots(page, "drawer-attachments")
    page.locator("#lang-switch").click()
    expect(drawer.locator("h3", has_text="Files")).to_be_visible()
    expect(downloads.first).to_have_attribute("aria-label", "Download IMG_2041.html")
    page.locator("#lang-switch").click()

    # the member the case is assigned to sees the same on a phone
    member = create_member(api, adm, name="赵委员", level="district", lat=33.35, lon=120.15)
    user_token(api, "member", "zhao-att", member_id=member["id"])
    res = api.post(f"/api/cases/{case['id']}/assign", json={"member_id": member["id"]}, headers=auth(adm))
    assert res.status_code == 200, res.text
    phone = pages(mobile=True)
    m_dialogs, m_users = _watch(phone.context)
    login(phone, "zhao-att", PASSWORD, "/m")
    mcard = phone.locator(f'#active [data-case-id="{case["id"]}"]')
    expect(mcard).to_be_visible(timeout=5000)
    m_links = mcard.locator('a[href*="/attachments/"]')
    expect(m_links).to_have_count(len(files))
    m_thumbs = mcard.locator(".photos img")
    expect(m_thumbs).to_have_count(1)
    phone.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=m_thumbs.first.element_handle())
    expect(mcard.locator(".files a[download]")).to_have_count(len(files) - 1)
    expect(mcard.locator(".files img")).to_have_count(0)
    shots(phone, "member-attachments")
    _open_all(phone, m_links)
    assert m_dialogs == [] and m_users == [], (m_dialogs, m_users)
    assert db.exec(select(User).where(User.username == "pwned")).first() is None
    db.rollback()
