"""A fake single-folder IMAP4rev1 server for tests: ``with serve(state) as port: ...``."""

from __future__ import annotations

import base64
import re
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def serve(state: FakeImapState) -> Iterator[int]:
    """Run a fake server on ``state``; yields its port."""
    server = FakeImapServer(state)  # listening from here on: clients can connect at once
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
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
