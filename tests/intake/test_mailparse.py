import base64
import io
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage

import pytest
from PIL import Image

from dispatch.intake.mailparse import MailError, decode_header, html_to_text, parse_mail


def tiny_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (2, 2), (200, 30, 30)).save(buf, "JPEG")
    return buf.getvalue()


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def gbk_word(text: str, charset: str = "GBK") -> bytes:
    return b"=?" + charset.encode() + b"?B?" + base64.b64encode(text.encode("gbk")) + b"?="


def test_gbk_subject_body_and_jpeg_attachment():
    jpeg = tiny_jpeg()
    raw = (
        b"Return-Path: <zhangsan@qq.com>\r\n"
        b"From: " + gbk_word("张三") + b" <ZhangSan@QQ.com>\r\n"
        b"To: " + gbk_word("三网格") + b" <Sector-3@shangliang.cn>\r\n"
        b"Subject: " + gbk_word("小区路灯坏了，请尽快处理") + b"\r\n"
        b"Date: Tue, 5 Mar 2024 10:00:00 +0800\r\n"
        b"Message-ID: <20240305100000.1234@qq.com>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="----=_NextPart_000"\r\n'
        b"\r\n"
        b"This is a multi-part message in MIME format.\r\n"
        b"\r\n------=_NextPart_000\r\n"
        b'Content-Type: text/plain; charset="gbk"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + b64("幸福里3号楼门口的路灯已经坏了三天，晚上很黑。\r\n谢谢！".encode("gbk"))
        + b"\r\n------=_NextPart_000\r\n"
        b'Content-Type: image/jpeg; name="' + gbk_word("路灯照片.jpg") + b'"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="'
        + gbk_word("路灯照片.jpg")
        + b'"\r\n\r\n'
        + b64(jpeg)
        + b"\r\n------=_NextPart_000--\r\n"
    )
    mail = parse_mail(raw)
    assert mail.subject == "小区路灯坏了，请尽快处理"
    assert mail.text == "幸福里3号楼门口的路灯已经坏了三天，晚上很黑。\n谢谢！"
    assert mail.sender == "zhangsan@qq.com"
    assert mail.sender_name == "张三"
    assert mail.recipients == ["sector-3@shangliang.cn"]
    assert mail.message_id == "<20240305100000.1234@qq.com>"
    assert mail.date == datetime(2024, 3, 5, 2, 0, tzinfo=UTC)
    assert mail.date.utcoffset() == timedelta(hours=8)
    assert len(mail.attachments) == 1
    att = mail.attachments[0]
    assert att.filename == "路灯照片.jpg"
    assert att.content_type == "image/jpeg"
    assert att.data == jpeg
    assert att.data.startswith(b"\xff\xd8\xff")


def test_gb2312_quoted_printable_subject():
    q = "".join(f"={b:02X}" for b in "垃圾清运问题".encode("gb2312"))
    raw = (
        f"From: li@163.com\r\nSubject: =?gb2312?Q?{q}_=A3=A8=BC=B1=A3=A9?=\r\n"
        "Content-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        "=C0=AC=BB=F8=CD=B0=C2=FA=C1=CB\r\n"
    ).encode("ascii")
    mail = parse_mail(raw)
    assert mail.subject == "垃圾清运问题 （急）"
    assert mail.text == "垃圾桶满了"


def test_raw_8bit_gbk_headers_without_encoded_words():
    raw = (
        "From: 王五 <wangwu@example.cn>\r\n"
        "To: 一网格 <grid-1@shangliang.cn>\r\n"
        "Subject: 楼道堆放杂物，存在消防隐患\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "五楼楼道堆满了纸箱。\r\n"
    ).encode("gbk")
    mail = parse_mail(raw)
    assert mail.subject == "楼道堆放杂物，存在消防隐患"
    assert mail.sender_name == "王五"
    assert mail.sender == "wangwu@example.cn"
    assert mail.recipients == ["grid-1@shangliang.cn"]
    assert mail.text == "五楼楼道堆满了纸箱。"  # no charset: utf-8 fails, gb18030 wins


def test_raw_8bit_utf8_headers():
    raw = "From: 赵六 <z@example.cn>\r\nSubject: 噪音扰民\r\n\r\n夜里施工。\r\n".encode()
    mail = parse_mail(raw)
    assert (mail.subject, mail.sender_name, mail.text) == ("噪音扰民", "赵六", "夜里施工。")


def test_html_only_mail():
    html = (
        "<html><head><title>ignored title</title><style>p { color: red }</style>"
        '<meta http-equiv="Content-Type" content="text/html; charset=gbk"></head>'
        "<body><div>您好：</div><p>小区&nbsp;东门的<b>井盖</b>丢了&amp;很危险。<br>请尽快处理！</p>"
        "<script>alert('x')</script><ul><li>位置：东门</li><li>时间：昨天</li></ul>"
        "<p></p><p></p><div>居民 &lt;李&gt;</div></body></html>"
    )
    msg = EmailMessage()
    msg["From"] = "resident@example.cn"
    msg["Subject"] = "井盖丢失"
    msg.set_content(html, subtype="html", charset="gbk")
    mail = parse_mail(msg.as_bytes())
    assert mail.text == ("您好：\n小区 东门的井盖丢了&很危险。\n请尽快处理！\n位置：东门\n时间：昨天\n居民 <李>")
    assert "alert" not in mail.text and "color" not in mail.text and "ignored" not in mail.text


def test_html_charset_sniffed_from_meta_when_part_has_none():
    body = '<html><head><meta charset="gb2312"></head><body><p>水管爆裂</p></body></html>'.encode("gbk")
    raw = b"From: a@b.cn\r\nSubject: x\r\nContent-Type: text/html\r\n\r\n" + body
    assert parse_mail(raw).text == "水管爆裂"


def test_html_to_text_blank_lines_collapse_and_unclosed_title():
    assert html_to_text("<p>a</p>\n\n\n<p></p><p></p><p>b</p>") == "a\nb"
    assert html_to_text("<div>a</div><div><br></div><div><div>b</div></div>") == "a\n\nb"  # QQ Mail style
    assert html_to_text("a<br><br><br/><br>  b<br/>c") == "a\n\nb\nc"
    assert html_to_text("<pre>  x  y\n z</pre>") == "x  y\nz"
    assert html_to_text("<table><tr><td>地址</td><td>东门</td></tr><tr><td>时间</td></tr></table>") == (
        "地址 东门\n时间"
    )
    assert html_to_text("<title>t<body>正文") == "正文"
    assert html_to_text("x&#x4e2d;&#25991;&lt;y") == "x中文<y"


def test_utf8_mail_with_alternative_prefers_plain_and_keeps_inline_image():
    jpeg = tiny_jpeg()
    msg = EmailMessage()
    msg["From"] = "孙七 <sunqi@example.cn>"
    msg["To"] = "sector-2@shangliang.cn"
    msg["Subject"] = "电梯故障，困人十分钟"
    msg["Date"] = "Wed, 06 Mar 2024 08:30:00 +0800"
    msg.set_content("2号楼电梯停在7楼。\n请派人检修。")
    msg.add_alternative("<p>HTML 版本</p><img src='cid:p1'>", subtype="html")
    msg.get_payload()[1].add_related(jpeg, maintype="image", subtype="jpeg", cid="<p1>")
    mail = parse_mail(msg.as_bytes())
    assert mail.subject == "电梯故障，困人十分钟"
    assert mail.sender_name == "孙七"
    assert mail.text == "2号楼电梯停在7楼。\n请派人检修。"
    assert [(a.content_type, a.data) for a in mail.attachments] == [("image/jpeg", jpeg)]
    assert mail.attachments[0].filename == "attachment-1.jpg"


def test_alternative_with_empty_plain_falls_back_to_html():
    msg = EmailMessage()
    msg["From"] = "a@b.cn"
    msg["Subject"] = "s"
    msg.set_content("   \n")
    msg.add_alternative("<div>真正的内容</div>", subtype="html")
    assert parse_mail(msg.as_bytes()).text == "真正的内容"


def test_gb18030_characters_outside_gbk():
    text = "我姓𠀀，住在䶮村"  # U+20000 is four bytes in GB18030 and absent from GBK
    with pytest.raises(UnicodeEncodeError):
        "𠀀".encode("gbk")
    raw = (
        b"From: a@b.cn\r\nSubject: =?GB18030?B?" + base64.b64encode(text.encode("gb18030")) + b"?=\r\n"
        b"Content-Type: text/plain; charset=GB18030\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + text.encode("gb18030")
        + b"\r\n"
    )
    mail = parse_mail(raw)
    assert mail.subject == text
    assert mail.text == text


def test_body_labelled_gb2312_but_really_gbk():
    text = "陶喆的邻居反映：镕基路积水"  # 喆 and 镕 are GBK, not GB2312
    with pytest.raises(UnicodeEncodeError):
        text.encode("gb2312")
    raw = (
        b"From: a@b.cn\r\nSubject: " + gbk_word(text, "gb2312") + b"\r\n"
        b"Content-Type: text/plain; charset=gb2312\r\n\r\n" + text.encode("gbk")
    )
    mail = parse_mail(raw)
    assert mail.subject == text
    assert mail.text == text


def test_gb2312_label_decodes_gbk_even_when_a_byte_is_broken():
    body = "喆喆家门口积水".encode("gbk") + b"\xd5"  # truncated last character: lossy path
    raw = b"From: a@b.cn\r\nSubject: x\r\nContent-Type: text/plain; charset=GB2312\r\n\r\n" + body
    assert parse_mail(raw).text == "喆喆家门口积水\ufffd"


def test_unknown_and_lying_charsets_fall_back():
    gbk = "下水道堵塞".encode("gbk")
    unknown = b"From: a@b.cn\r\nSubject: x\r\nContent-Type: text/plain; charset=x-no-such\r\n\r\n" + gbk
    assert parse_mail(unknown).text == "下水道堵塞"
    ascii_label = b"From: a@b.cn\r\nSubject: x\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" + gbk
    assert parse_mail(ascii_label).text == "下水道堵塞"
    utf8_label = b"From: a@b.cn\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + gbk
    assert parse_mail(utf8_label).text == "下水道堵塞"


def test_encoded_words_split_inside_a_character_are_joined():
    data = "噪音".encode()
    head, tail = base64.b64encode(data[:2]).decode(), base64.b64encode(data[2:]).decode()
    header = f"=?UTF-8?B?{head}?=\r\n =?utf-8?B?{tail}?="
    assert decode_header(header) == "噪音"
    assert decode_header("=?utf-8?Q?a?= =?utf-8?Q?b?= c =?gbk?B?1tA=?=") == "ab c 中"
    assert decode_header("=?utf-8?B?!!!?= plain") == "=?utf-8?B?!!!?= plain"
    assert decode_header("=?x-bogus?B?5Lit?=") == "中"  # unknown charset: utf-8, then gb18030


def test_recipients_from_to_cc_delivered_to_and_original_to():
    raw = (
        b"From: Someone <someone@example.cn>\r\n"
        b'To: "' + gbk_word("网格, 一") + b'" <Grid-1@Shangliang.cn>, member-7@shangliang.cn\r\n'
        b"Cc: grid-1@shangliang.cn,\r\n\t" + gbk_word("李四") + b" <lisi@shangliang.cn>\r\n"
        b"Delivered-To: intake@shangliang.cn\r\n"
        b"Delivered-To: MEMBER-7@shangliang.cn\r\n"
        b"X-Original-To: sector-9@shangliang.cn\r\n"
        b"Bcc: undisclosed-recipients:;\r\n"
        b"Subject: hello\r\n\r\nbody\r\n"
    )
    mail = parse_mail(raw)
    assert mail.recipients == [
        "grid-1@shangliang.cn",
        "member-7@shangliang.cn",
        "lisi@shangliang.cn",
        "intake@shangliang.cn",
        "sector-9@shangliang.cn",
    ]
    assert mail.sender == "someone@example.cn"
    assert mail.sender_name == "Someone"


def test_date_variants():
    base = b"From: a@b.cn\r\nSubject: s\r\n"
    assert parse_mail(base + b"\r\nbody").date is None
    assert parse_mail(base + b"Date: not a date\r\n\r\nbody").date is None
    utc = parse_mail(base + b"Date: Fri, 1 Mar 2024 12:00:00 -0000\r\n\r\nbody").date
    assert utc == datetime(2024, 3, 1, 12, tzinfo=UTC) and utc.tzinfo is not None
    cst = parse_mail(base + b"Date: Fri, 1 Mar 2024 20:00:00 +0800 (CST)\r\n\r\nbody").date
    assert cst.tzinfo == timezone(timedelta(hours=8))


def test_rfc2231_filenames_and_text_attachment_not_in_body():
    raw = (
        b"From: a@b.cn\r\nSubject: files\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\xe8\xa7\x81\xe9\x99\x84\xe4\xbb\xb6\r\n"
        b"--b1\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment;\r\n filename*0*=gbk''%CE%AF%CD%D0;\r\n filename*1*=%CA%E9.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + b64(b"%PDF-1.4 fake") + b"\r\n"
        b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Disposition: attachment; filename*=UTF-8''%E8%AF%B4%E6%98%8E.txt\r\n\r\n"
        b"attached notes\r\n"
        b"--b1\r\nContent-Type: image/png\r\n"
        b'Content-Disposition: attachment; filename="..\\..\\\xd5\xd5\xc6\xac.png"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + b64(b"\x89PNG fake") + b"\r\n"
        b"--b1--\r\n"
    )
    mail = parse_mail(raw)
    assert mail.text == "见附件"
    assert [(a.filename, a.content_type, a.data) for a in mail.attachments] == [
        ("委托书.pdf", "application/pdf", b"%PDF-1.4 fake"),  # octet-stream refined from the name
        ("说明.txt", "text/plain", b"attached notes"),
        ("照片.png", "image/png", b"\x89PNG fake"),  # raw GBK name, path stripped
    ]


def _mail_with_attachments(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "a@b.cn"
    msg["Subject"] = "photos"
    msg.set_content("照片见附件")
    for i in range(n):
        msg.add_attachment(f"photo {i}".encode(), maintype="image", subtype="jpeg", filename=f"照片{i}.jpg")
    return msg.as_bytes()


def test_attachment_limit():
    mail = parse_mail(_mail_with_attachments(10))
    assert [a.filename for a in mail.attachments] == [f"照片{i}.jpg" for i in range(10)]
    with pytest.raises(MailError) as info:
        parse_mail(_mail_with_attachments(11))
    assert info.value.code == "too_many_attachments"
    assert info.value.mail is not None and info.value.mail.sender == "a@b.cn"
    assert parse_mail(_mail_with_attachments(11), max_attachments=11).attachments[10].data == b"photo 10"


def test_forwarded_message_is_kept_as_eml_attachment():
    inner = EmailMessage()
    inner["From"] = "x@y.cn"
    inner["Subject"] = "原始邮件"
    inner.set_content("原文")
    outer = EmailMessage()
    outer["From"] = "a@b.cn"
    outer["Subject"] = "转发"
    outer.set_content("请看转发的邮件")
    outer.add_attachment(inner)
    mail = parse_mail(outer.as_bytes())
    assert mail.text == "请看转发的邮件"
    assert len(mail.attachments) == 1
    assert mail.attachments[0].content_type == "message/rfc822"
    assert parse_mail(mail.attachments[0].data).subject == "原始邮件"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   \r\n",
        b"hello, this is just some text\nand not a mail at all\n",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
        bytes(range(256)) * 8,
        b"X-Foo: bar\r\n\r\nno mail header at all",
        b"From: a@b.cn\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\nno parts\r\n",
        b"From: a@b.cn\r\nSubject: s\r\nContent-Type: multipart/mixed\r\n\r\nno boundary\r\n",
        b"Date: Fri, 1 Mar 2024 12:00:00 +0800\r\nMessage-ID: <x@y>\r\n\r\n",
    ],
)
def test_malformed_input(raw):
    with pytest.raises(MailError) as info:
        parse_mail(raw)
    assert info.value.code == "malformed_mail"
    assert " / " in info.value.message and str(info.value) == info.value.message
    assert isinstance(info.value, ValueError)


def test_garbage_never_raises_anything_but_mail_error():
    import random

    rng = random.Random(12345)
    for _ in range(300):
        with pytest.raises(MailError):
            parse_mail(rng.randbytes(rng.randint(1, 600)))


@pytest.mark.parametrize(
    "raw",
    [
        b"From: a@b.cn\r\nSubject: only a subject\r\n\r\n",
        b"From: a@b.cn\r\nSubject: s\r\nContent-Type: text/html\r\n\r\n<html><script>x()</script>&nbsp;</html>",
        b'From: a@b.cn\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary="q"\r\n\r\n'
        b"--q\r\nContent-Type: text/plain\r\n\r\n\r\n\r\n--q\r\nContent-Type: image/png\r\n"
        b"Content-Disposition: attachment; filename=empty.png\r\n\r\n--q--\r\n",
    ],
)
def test_empty_mail(raw):
    with pytest.raises(MailError) as info:
        parse_mail(raw)
    assert info.value.code == "empty_mail"
    assert info.value.mail is not None and info.value.mail.sender == "a@b.cn"


def test_body_without_from_or_subject_is_still_a_mail():
    mail = parse_mail(b"To: grid-1@shangliang.cn\r\n\r\n\xe5\x9c\xb0\xe5\x9d\x80\r\n")
    assert (mail.sender, mail.subject, mail.text) == (None, "", "地址")
