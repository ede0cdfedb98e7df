"""Which addresses the collector may fetch from, and connections pinned to a checked address.

A URL an admin types (a holiday file, an iCalendar feed, a Zermelo portal) must not reach this
machine, the school's own network or a cloud metadata service: a phished admin account would
otherwise turn the collector into a port scanner of the internal network. The host name is
resolved once, every address is checked, and the socket connects to that very address, so a
DNS answer that changes between the check and the connect (rebinding) cannot swap it. Each
redirect opens a new connection and is checked the same way. A host the operator lists in
``fetch_allow_hosts`` is exempt (a test server on loopback, a school's own timetable server).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import urllib.request
from collections.abc import Collection
from typing import Any


class Refused(OSError):
    """The host resolves to an address the collector does not fetch from."""


def refused_address(address: str) -> bool:
    """True for loopback, link-local (cloud metadata), private, CGNAT, unspecified, multicast,
    reserved and documentation addresses: anything not globally routable."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast or ip.is_reserved


def allowed_host(host: str, allow: Collection[str]) -> bool:
    return host.strip("[]").lower().rstrip(".") in allow


def resolve(host: str, port: int, allow: Collection[str]) -> list[tuple[Any, ...]]:
    """The addresses to connect to; Refused unless every one is public or the host is allowed.

    All addresses must pass: a name with one public and one internal address is refused, as the
    choice between them is the attacker's.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not allowed_host(host, allow) and any(refused_address(str(i[4][0])) for i in infos):
        raise Refused("the host is on this machine or an internal network")
    return infos


def _connect(host: str, port: int, timeout: Any, allow: Collection[str]) -> socket.socket:
    error: OSError = OSError("no address")
    for family, kind, proto, _name, address in resolve(host, port, allow):
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
                sock.settimeout(timeout)
            sock.connect(address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    raise error


def handlers(allow: Collection[str]) -> list[urllib.request.BaseHandler]:
    """urllib handlers whose connections go only to checked addresses; environment proxies are
    switched off, as a proxy would connect to the unchecked name on our behalf."""
    allowed = frozenset(h.lower() for h in allow)

    class Plain(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = _connect(self.host, self.port, self.timeout, allowed)

    class Secure(http.client.HTTPSConnection):
        def connect(self) -> None:
            sock = _connect(self.host, self.port, self.timeout, allowed)
            context: ssl.SSLContext = self._context  # type: ignore[attr-defined]
            # The certificate is checked against the name, not the address we connected to.
            self.sock = context.wrap_socket(sock, server_hostname=self.host)

    class PlainHandler(urllib.request.HTTPHandler):
        def http_open(self, req: Any) -> Any:
            return self.do_open(Plain, req)

    class SecureHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: Any) -> Any:
            return self.do_open(Secure, req, context=ssl.create_default_context())

    return [urllib.request.ProxyHandler({}), PlainHandler(), SecureHandler()]
