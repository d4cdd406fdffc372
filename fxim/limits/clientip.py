# -*- test-case-name: fxim.test.unit.test_limits -*-
"""
The real client address of an HTTP request behind reverse proxies.

C{X-Forwarded-For} is believed only from a trusted proxy: starting from
the connection's peer, while the address at hand is a trusted proxy, the
next address to the left in C{X-Forwarded-For} is taken; the first
untrusted one is the client.  Without trusted proxies the header is
ignored (anyone could write it).
"""

import ipaddress
from typing import Iterable, List, Sequence


def parseNetworks(text: str) -> List:
    """
    @param text: comma-separated addresses or CIDR networks.
    @raise ValueError: on a malformed one.
    """
    networks = []
    for part in (text or "").split(","):
        part = part.strip()
        if part:
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"not an address or network: {part!r}") from None
    return networks


def _address(text: str):
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]  # IPv4 with a port
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def clientAddress(peer: str, forwardedFor: Sequence[str], trusted: Iterable) -> str:
    """
    @param peer: the connection's peer address.
    @param forwardedFor: every C{X-Forwarded-For} header value, in order.
    @param trusted: networks of trusted proxies.
    @return: the client address (C{peer} when nothing is trustworthy).
    """
    trusted = list(trusted)
    current = _address(peer)
    if current is None or not trusted:
        return peer
    hops = [h for value in forwardedFor for h in value.split(",") if h.strip()]
    while any(current in net for net in trusted) and hops:
        candidate = _address(hops.pop())
        if candidate is None:
            break
        current = candidate
    return str(current)


def requestAddress(request, trusted) -> str:
    """
    L{clientAddress} of a C{twisted.web} request.
    """
    peer = getattr(request.getClientAddress(), "host", "") or ""
    values = [v.decode("latin-1") for v in
              request.requestHeaders.getRawHeaders(b"x-forwarded-for", [])]
    return clientAddress(peer, values, trusted)
