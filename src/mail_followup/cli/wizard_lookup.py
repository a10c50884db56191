"""Where the IMAP server of a domain is: the presets, the provider's autoconfig, ISPDB, RFC 6186 SRV.

The built-in presets come first; then, unless offline, the provider's own
autoconfig file, Thunderbird's ISPDB and the SRV records. Only the domain
ever leaves the machine, never the address; each network step is bounded in
time, and what the network suggests is only a hint the user confirms.
"""

from __future__ import annotations

import logging
import re
import secrets
import socket
import struct
import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import Literal, TypeVar

from mail_followup.config.providers import provider_for

log = logging.getLogger(__name__)

Server = tuple[str, int, str]  # host, port, security

# The provider's own file first (it knows its servers best), then Thunderbird's curated database.
AUTOCONFIG_URLS: tuple[str, ...] = (
    "https://autoconfig.{domain}/mail/config-v1.1.xml",
    "https://autoconfig.thunderbird.net/v1.1/{domain}",
)
LOOKUP_TIMEOUT = 4.0
MAX_AUTOCONFIG_BYTES = 256 * 1024

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# What the network suggests must look like a host name before it is shown or written.
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?$")

T = TypeVar("T")


def lookup(domain: str, timeout: float = LOOKUP_TIMEOUT, *, offline: bool = False,
           autoconfig_urls: Sequence[str] = AUTOCONFIG_URLS,
           nameserver: tuple[str, int] | None | Literal["system"] = "system") -> Server | None:
    """(host, port, security) of the IMAP server for ``domain``, or None when nothing says.

    See ``find_server``, which also says where the answer came from.
    """
    found = find_server(domain, timeout, offline=offline, autoconfig_urls=autoconfig_urls, nameserver=nameserver)
    return found[0] if found else None


def find_server(domain: str, timeout: float = LOOKUP_TIMEOUT, *, offline: bool = False,
                autoconfig_urls: Sequence[str] = AUTOCONFIG_URLS,
                nameserver: tuple[str, int] | None | Literal["system"] = "system") -> tuple[Server, str] | None:
    """The server for ``domain`` and where it came from: the preset, then (online) autoconfig, then SRV.

    Each network step has its own ``timeout`` and runs in a thread, since
    name resolution ignores socket timeouts: a dead network costs seconds,
    never a hang. Plaintext servers are never suggested. ``nameserver``
    None leaves SRV out; "system" asks the first one in /etc/resolv.conf.
    """
    domain = domain.strip().lower().rstrip(".")
    preset = provider_for("x@" + domain)
    if preset is not None and preset.host:
        return (preset.host, preset.port, preset.security), f"the {preset.name} preset"
    if offline or not _HOSTNAME.match(domain):
        return None
    for template in autoconfig_urls:
        url = template.format(domain=domain)
        server = _within(timeout + 1, partial(_autoconfig, url, domain, timeout))
        if server:
            return server, url
    resolver = _system_nameserver() if nameserver == "system" else nameserver
    if resolver is not None:
        for service, security in (("_imaps._tcp", "tls"), ("_imap._tcp", "starttls")):
            name = f"{service}.{domain}"
            records = _within(timeout + 1, partial(srv_records, name, resolver, timeout)) or []
            usable = sorted((r for r in records if r[3] not in ("", ".") and _HOSTNAME.match(r[3]) and r[2]),
                            key=lambda r: (r[0], -r[1]))
            if usable:
                return (usable[0][3].rstrip("."), usable[0][2], security), f"the DNS record {name} (RFC 6186)"
    return None


def _within(timeout: float, work: Callable[[], T | None]) -> T | None:
    """``work()`` in a daemon thread, or None when it fails or takes longer than ``timeout``."""
    box: list[T | None] = []

    def target() -> None:
        try:
            box.append(work())
        except Exception:  # anything the network sends us is only a lost hint, never a crash
            log.debug("lookup step failed", exc_info=True)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    return box[0] if box else None


def _autoconfig(url: str, domain: str, timeout: float) -> Server | None:
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "mail-followup init"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (https or a test's URL)
        body = response.read(MAX_AUTOCONFIG_BYTES + 1)
    return None if len(body) > MAX_AUTOCONFIG_BYTES else parse_autoconfig(body, domain)


def parse_autoconfig(xml: bytes, domain: str) -> Server | None:
    """The IMAP server of a Thunderbird autoconfig file (clientConfig v1.1); implicit TLS preferred."""
    from xml.etree import ElementTree

    best: Server | None = None
    for server in ElementTree.fromstring(xml).iter("incomingServer"):
        if server.get("type") != "imap":
            continue
        host = (server.findtext("hostname") or "").strip().replace("%EMAILDOMAIN%", domain)
        port = (server.findtext("port") or "").strip()
        security = {"SSL": "tls", "STARTTLS": "starttls"}.get((server.findtext("socketType") or "").strip().upper())
        if security is None or not _HOSTNAME.match(host) or not port.isdigit() or not 0 < int(port) < 65536:
            continue  # plain: a password is never suggested to go out unencrypted
        if security == "tls":
            return host, int(port), security
        best = best or (host, int(port), security)
    return best


def _system_nameserver() -> tuple[str, int] | None:
    try:
        with open("/etc/resolv.conf", encoding="utf-8") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    return parts[1].split("%")[0], 53
    except OSError:
        pass
    return None


def srv_records(name: str, nameserver: tuple[str, int], timeout: float) -> list[tuple[int, int, int, str]]:
    """(priority, weight, port, target) of the SRV records of ``name``: one DNS query over UDP.

    The standard library has no resolver for SRV, and these few lines are
    all RFC 6186 needs (no TCP fallback: such answers are small).
    """
    qid = secrets.randbits(16)
    labels = [label.encode("idna") for label in name.rstrip(".").split(".")]
    question = b"".join(bytes([len(label)]) + label for label in labels) + b"\0" + struct.pack("!HH", 33, 1)
    family = socket.AF_INET6 if ":" in nameserver[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect(nameserver)  # a connected socket reads only the resolver's answers
        sock.send(struct.pack("!6H", qid, 0x0100, 1, 0, 0, 0) + question)  # recursion desired
        reply = sock.recv(4096)
    rid, flags, questions, answers, _, _ = struct.unpack_from("!6H", reply)
    if rid != qid or not flags & 0x8000 or flags & 0x000F:  # not our answer, or an error (NXDOMAIN, ...)
        return []
    pos = 12
    for _ in range(questions):
        pos = _dns_name(reply, pos)[1] + 4
    records = []
    for _ in range(answers):
        pos = _dns_name(reply, pos)[1]
        rtype, _, _, length = struct.unpack_from("!HHIH", reply, pos)
        pos += 10
        if rtype == 33:
            priority, weight, port = struct.unpack_from("!3H", reply, pos)
            records.append((priority, weight, port, _dns_name(reply, pos + 6)[0]))
        pos += length
    return records


def _dns_name(data: bytes, pos: int) -> tuple[str, int]:
    """The name at ``pos`` (following compression pointers) and the position after it."""
    labels: list[str] = []
    end: int | None = None
    for _ in range(128):  # a bound, against pointer loops
        size = data[pos]
        if size >= 0xC0:
            end = pos + 2 if end is None else end
            pos = ((size & 0x3F) << 8) | data[pos + 1]
        elif size == 0:
            return ".".join(labels), pos + 1 if end is None else end
        else:
            labels.append(data[pos + 1:pos + 1 + size].decode("ascii", "replace"))
            pos += 1 + size
    raise ValueError("DNS name too long or looping")
