# -*- test-case-name: fxim.test.e2e.test_tls -*-
"""
TLS for the client SDK: which certificate authorities a client trusts,
for C{https://} logins, C{wss://} and TLS TCP connections.
"""

from typing import Any, Optional

import attr
from twisted.internet import ssl
from twisted.web.client import BrowserLikePolicyForHTTPS


@attr.s(frozen=True, auto_attribs=True)
class ClientTLS:
    """
    TLS settings of a client.

    @ivar caFile: a PEM file of the certificate authorities to trust; by
        default the platform's trust store.
    """

    caFile: Optional[str] = None

    def _trustRoot(self) -> Any:
        if self.caFile is None:
            return ssl.platformTrust()
        with open(self.caFile, "rb") as f:
            return ssl.Certificate.loadPEM(f.read())

    def forHost(self, hostname: str, alpn: Any = None) -> Any:
        """
        @return: the C{IOpenSSLClientConnectionCreator} that checks
            C{hostname}'s certificate against the trusted authorities.
        """
        return ssl.optionsForClientTLS(hostname, trustRoot=self._trustRoot(),
                                       acceptableProtocols=alpn)

    def httpPolicy(self) -> BrowserLikePolicyForHTTPS:
        """
        @return: the policy an C{Agent} uses for C{https://} URLs.
        """
        return BrowserLikePolicyForHTTPS(trustRoot=self._trustRoot())
