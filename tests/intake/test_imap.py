import socketserver

import pytest
from fakeimap import FakeImapState, mail, serve, url

from dispatch.intake.imap import ImapError, ImapMailbox, encode_mailbox_name, parse_imap_url
from dispatch.intake.mailparse import parse_mail


@pytest.fixture
def imap_server():
    state = FakeImapState()
    with serve(state) as port:
        yield state, port


def test_unseen_then_mark_processed(imap_server):
    state, port = imap_server
    first, second = mail("路灯坏了", "东门路灯"), mail("井盖丢失", "北门井盖")
    state.add(3, mail("旧邮件", "已读"), "\\Seen")
    state.add(7, first)
    state.add(12, second)

    with ImapMailbox(url(port)) as box:
        assert box.uidvalidity == 77
        got = box.unseen()
        assert got == [("7", first), ("12", second)]
        assert parse_mail(got[0][1]).subject == "路灯坏了"
        box.mark_processed("7")
        assert state.messages[7][1] == {"\\Seen"}
        assert box.unseen() == [("12", second)]

    with ImapMailbox(url(port)) as box:
        assert [uid for uid, _raw in box.unseen()] == ["12"]
    assert state.log[-1].endswith("LOGOUT")


def test_fetching_does_not_mark_seen_so_a_crash_redelivers(imap_server):
    state, port = imap_server
    state.add(1, mail("一", "一"))
    state.add(2, mail("二", "二"))
    with ImapMailbox(url(port)) as box:
        assert len(box.unseen()) == 2
        # crash here: no mark_processed
    assert all(not flags for _raw, flags in state.messages.values())
    with ImapMailbox(url(port)) as box:
        assert [uid for uid, _raw in box.unseen()] == ["1", "2"]
    fetches = [line for line in state.log if " UID FETCH " in line.upper()]
    assert fetches and all("BODY.PEEK[]" in line for line in fetches)
    assert not any("RFC822" in line.upper() for line in state.log)


def test_limit_takes_oldest_first(imap_server):
    state, port = imap_server
    for uid in (30, 4, 100):
        state.add(uid, mail(f"第{uid}封", "x"))
    with ImapMailbox(url(port)) as box:
        assert [uid for uid, _raw in box.unseen(limit=2)] == ["4", "30"]
        assert box.unseen(limit=0) == []


def test_empty_mailbox(imap_server):
    _state, port = imap_server
    with ImapMailbox(url(port)) as box:
        assert box.unseen() == []


def test_wrong_password_and_missing_folder(imap_server):
    _state, port = imap_server
    with pytest.raises(ImapError), ImapMailbox(url(port, password="wrong")):
        pass
    with pytest.raises(ImapError, match="Archive"), ImapMailbox(url(port, folder="Archive")):
        pass


def test_chinese_folder_is_selected_in_modified_utf7(imap_server):
    state, port = imap_server
    state.folder = "&XfJZBHQG-"  # 已处理
    state.add(5, mail("测试", "x"))
    with ImapMailbox(url(port, folder="%E5%B7%B2%E5%A4%84%E7%90%86")) as box:
        assert [uid for uid, _raw in box.unseen()] == ["5"]
    assert 'SELECT "&XfJZBHQG-"' in "\n".join(state.log)


def test_connection_refused_is_imap_error():
    server = socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler)
    port = server.server_address[1]
    server.server_close()  # nothing listens on that port any more
    with pytest.raises(ImapError), ImapMailbox(f"imap://u:p@127.0.0.1:{port}/", timeout=5):
        pass


def test_use_outside_context_manager_is_an_error():
    box = ImapMailbox("imap://u:p@127.0.0.1:1/")
    with pytest.raises(ImapError):
        box.unseen()


def test_parse_imap_url():
    t = parse_imap_url("imaps://intake%40shangliang.cn:p%40ss%3Aw%2Frd@imap.example.cn/%E6%94%B6%E4%BB%B6")
    assert (t.host, t.port, t.security, t.user, t.password, t.folder) == (
        "imap.example.cn",
        993,
        "ssl",
        "intake@shangliang.cn",
        "p@ss:w/rd",
        "收件",
    )
    t = parse_imap_url("imap://u:p@localhost")
    assert (t.port, t.security, t.folder) == (143, "plain", "INBOX")
    t = parse_imap_url("IMAP+STARTTLS://u:p@mail.example.cn:1143/Work/Cases")
    assert (t.port, t.security, t.folder) == (1143, "starttls", "Work/Cases")
    assert "p@ss" not in repr(parse_imap_url("imaps://u:p%40ss@h/"))
    assert "p@ss" not in repr(ImapMailbox("imaps://u:p%40ss@h/"))
    for bad in ("pop3://u:p@h/", "imap://h/", "imap://u@h/", "imap://u:p@/INBOX", "imap://u:p@h:99999/"):
        with pytest.raises(ValueError):
            parse_imap_url(bad)


def test_encode_mailbox_name():
    assert encode_mailbox_name("INBOX") == "INBOX"
    assert encode_mailbox_name("~peter/mail/台北/日本語") == "~peter/mail/&U,BTFw-/&ZeVnLIqe-"  # RFC 3501
    assert encode_mailbox_name("A&B") == "A&-B"
    assert encode_mailbox_name("已处理") == "&XfJZBHQG-"
