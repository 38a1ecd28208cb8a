import base64
import re
import socketserver
import threading

import pytest

from dispatch.intake.imap import ImapError, ImapMailbox, encode_mailbox_name, parse_imap_url
from dispatch.intake.mailparse import parse_mail

USER = "intake@shangliang.cn"
PASSWORD = 'p@ss:w/rd "x"'


class FakeImapState:
    """A single-folder IMAP server's state: {uid: [raw, flags]}; every command line is logged."""

    def __init__(self, folder: str = "INBOX") -> None:
        self.folder = folder
        self.messages: dict[int, list] = {}
        self.log: list[str] = []
        self.lock = threading.Lock()

    def add(self, uid: int, raw: bytes, *flags: str) -> None:
        self.messages[uid] = [raw, set(flags)]


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\([^)]*\)|\S+')


def _unquote(token: str) -> str:
    if token.startswith('"') and token.endswith('"'):
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    return token


def _uid_set(spec: str, uids: list[int]) -> list[int]:
    out = []
    for piece in spec.split(","):
        lo, _, hi = piece.partition(":")
        top = max(uids, default=0) if hi == "*" else int(hi or lo)
        out.extend(u for u in uids if int(lo) <= u <= top)
    return out


class FakeImapHandler(socketserver.StreamRequestHandler):
    state: FakeImapState

    def send(self, data: bytes | str) -> None:
        self.wfile.write(data.encode() if isinstance(data, str) else data)

    def handle(self) -> None:
        state = self.server.state  # type: ignore[attr-defined]
        authed = selected = False
        self.send("* OK fake IMAP4rev1 ready\r\n")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            text = line.decode().rstrip("\r\n")
            with state.lock:
                state.log.append(text)
            tag, _, rest = text.partition(" ")
            args = [_unquote(t) for t in _TOKEN.findall(rest)]
            command = args[0].upper() if args else ""
            if command == "CAPABILITY":
                self.send(f"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK CAPABILITY completed\r\n")
            elif command == "NOOP":
                self.send(f"{tag} OK NOOP completed\r\n")
            elif command == "LOGIN":
                authed = args[1:3] == [USER, PASSWORD]
                answer = "OK LOGIN completed" if authed else "NO [AUTHENTICATIONFAILED] no"
                self.send(f"{tag} {answer}\r\n")
            elif command == "SELECT" and authed:
                selected = args[1] == state.folder
                if selected:
                    self.send(
                        f"* {len(state.messages)} EXISTS\r\n* 0 RECENT\r\n"
                        "* FLAGS (\\Seen \\Deleted)\r\n* OK [UIDVALIDITY 77] UIDs valid\r\n"
                        f"{tag} OK [READ-WRITE] SELECT completed\r\n"
                    )
                else:
                    self.send(f"{tag} NO [NONEXISTENT] no such mailbox\r\n")
            elif command == "UID" and selected:
                self.uid_command(state, tag, args[1].upper(), args[2:])
            elif command == "LOGOUT":
                self.send(f"* BYE bye\r\n{tag} OK LOGOUT completed\r\n")
                return
            else:
                self.send(f"{tag} BAD unexpected command\r\n")

    def uid_command(self, state: FakeImapState, tag: str, sub: str, args: list[str]) -> None:
        with state.lock:
            uids = sorted(state.messages)
            if sub == "SEARCH" and [a.upper() for a in args] == ["UNSEEN"]:
                hits = " ".join(str(u) for u in uids if "\\Seen" not in state.messages[u][1])
                self.send(f"* SEARCH {hits}".rstrip() + f"\r\n{tag} OK SEARCH completed\r\n")
            elif sub == "FETCH":
                items = args[1].upper()
                for uid in _uid_set(args[0], uids):
                    raw, flags = state.messages[uid]
                    seq = uids.index(uid) + 1
                    if "BODY.PEEK[]" in items:
                        name = "BODY[]"
                    elif "RFC822" in items or "BODY[]" in items:  # like real servers: implies \Seen
                        name = "BODY[]" if "BODY[]" in items else "RFC822"
                        flags.add("\\Seen")
                    else:
                        continue
                    self.send(f"* {seq} FETCH (UID {uid} {name} {{{len(raw)}}}\r\n".encode() + raw + b")\r\n")
                self.send(f"{tag} OK FETCH completed\r\n")
            elif sub == "STORE" and args[1].upper() == "+FLAGS":
                for uid in _uid_set(args[0], uids):
                    flags = state.messages[uid][1]
                    flags.update(args[2].strip("()").split())
                    seq = uids.index(uid) + 1
                    self.send(f"* {seq} FETCH (UID {uid} FLAGS ({' '.join(sorted(flags))}))\r\n")
                self.send(f"{tag} OK STORE completed\r\n")
            else:
                self.send(f"{tag} BAD unexpected UID command\r\n")


class FakeImapServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, state: FakeImapState) -> None:
        super().__init__(("127.0.0.1", 0), FakeImapHandler)
        self.state = state


@pytest.fixture
def imap_server():
    state = FakeImapState()
    server = FakeImapServer(state)  # listening from here on: clients can connect at once
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def url(port: int, password: str = PASSWORD, folder: str = "") -> str:
    from urllib.parse import quote

    return f"imap://{quote(USER, safe='')}:{quote(password, safe='')}@127.0.0.1:{port}/{folder}"


def mail(subject: str, body: str) -> bytes:
    return (
        (
            f"From: resident@example.cn\r\nTo: sector-1@shangliang.cn\r\n"
            f"Subject: =?GBK?B?{base64.b64encode(subject.encode('gbk')).decode()}?=\r\n"
            f"Content-Type: text/plain; charset=gbk\r\n\r\n"
        ).encode()
        + body.encode("gbk")
        + b"\r\n"
    )


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
