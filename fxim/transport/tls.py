# -*- test-case-name: fxim.test.e2e.test_tls -*-
"""
TLS listening for C{ssl:} endpoint descriptions.

fxim builds its own TLS context instead of letting C{serverFromString} do
it, for two reasons:

  - Twisted's ALPN selection callback (C{twisted.internet._sslverify.
    setupForALPN}) answers an empty protocol name when the listening
    factory advertises none, which OpenSSL turns into a fatal
    C{internal error} alert.  Every client that offers ALPN (browsers,
    Python's C{ssl} with C{set_alpn_protocols}, most TLS libraries) was
    refused on the TCP and WebSocket ports.  Our callback picks the
    best common protocol, or negotiates none (the TLS handshake goes on
    without ALPN, as RFC 7301 lets a server do).
  - The certificate and key can be re-read without a restart
    (L{TLSServerContext.reload}, wired to SIGHUP by L{fxim.tap}).

The description syntax is Twisted's C{ssl:} one: C{ssl:PORT:privateKey=KEY
[:certKey=CERT][:extraCertChain=CHAIN][:dhParameters=DH][:interface=IP]
[:backlog=N][:sslmethod=NAME]}.
"""

import re
from typing import Any, Dict, List, Optional, Sequence, Tuple, TypedDict

from OpenSSL import SSL, crypto
from twisted.internet import ssl
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.interfaces import IOpenSSLServerConnectionCreator, IProtocolNegotiationFactory
from twisted.logger import Logger
from twisted.python.filepath import FilePath
from zope.interface import implementer

_log = Logger()

#: ALPN protocols a port's factory is willing to speak when it does not say
#: itself (L{IProtocolNegotiationFactory}); the WebSocket upgrade is HTTP/1.1.
ALPN_BY_PORT: Dict[str, Tuple[bytes, ...]] = {"tcp": (), "ws": (b"http/1.1",), "http": (b"http/1.1",)}


def splitDescription(description: str) -> Tuple[List[str], Dict[str, str]]:
    """
    Split an endpoint description the way Twisted does: fields separated
    by C{:}, C{key=value} fields are keyword arguments, C{\\} escapes the
    next character.

    @return: C{(positional, keywords)}, the endpoint type first.
    """
    positional: List[str] = []
    keywords: Dict[str, str] = {}
    for raw in _rawFields(description):
        key, sep, value = _splitUnescaped(raw, "=")
        if sep:
            keywords[_unescape(key)] = _unescape(value)
        else:
            positional.append(_unescape(raw))
    return positional, keywords


def _rawFields(description: str) -> List[str]:
    return re.split(r"(?<!\\):", description)


def _splitUnescaped(text: str, separator: str) -> Tuple[str, str, str]:
    match = re.search(r"(?<!\\)" + re.escape(separator), text)
    if match is None:
        return text, "", ""
    return text[:match.start()], separator, text[match.end():]


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


class TLSConfigError(Exception):
    """
    A certificate, key or option of an C{ssl:} description is unusable.
    """


class CertificateFiles(TypedDict):
    """
    The files and options of an C{ssl:} listener: the keyword arguments of
    L{_certificateOptions}.
    """

    privateKey: str
    certKey: Optional[str]
    extraCertChain: Optional[str]
    dhParameters: Optional[str]
    sslmethod: Optional[str]


def _certificateOptions(privateKey: str, certKey: Optional[str] = None,
                        extraCertChain: Optional[str] = None, dhParameters: Optional[str] = None,
                        sslmethod: Optional[str] = None) -> ssl.CertificateOptions:
    try:
        certPEM = FilePath(certKey or privateKey).getContent()
        keyPEM = FilePath(privateKey).getContent()
        private = ssl.PrivateCertificate.loadPEM(certPEM + b"\n" + keyPEM)
        chain = None
        if extraCertChain is not None:
            pems = re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----",
                              FilePath(extraCertChain).getContent(), flags=re.DOTALL)
            if not pems:
                raise TLSConfigError(f"{extraCertChain}: no PEM certificate in it")
            chain = [ssl.Certificate.loadPEM(pem).original for pem in pems]
        kwargs: Dict[str, Any] = {}
        if dhParameters is not None:
            kwargs["dhParameters"] = ssl.DiffieHellmanParameters.fromFile(FilePath(dhParameters))
        if sslmethod is not None:
            kwargs["method"] = getattr(SSL, sslmethod)
        return ssl.CertificateOptions(privateKey=private.privateKey.original,
                                      certificate=private.original, extraCertChain=chain, **kwargs)
    except TLSConfigError:
        raise
    except (OSError, SSL.Error, crypto.Error, ValueError, AttributeError) as e:
        raise TLSConfigError(f"cannot load TLS certificate/key ({certKey or privateKey}, "
                             f"{privateKey}): {e or type(e).__name__}") from e


def selectProtocol(offered: Sequence[bytes], acceptable: Sequence[bytes]) -> Any:
    """
    The ALPN choice: the first of C{acceptable} the client offered, else
    L{OpenSSL.SSL.NO_OVERLAPPING_PROTOCOLS} (continue without ALPN).
    """
    for protocol in acceptable:
        if protocol in offered:
            return protocol
    return SSL.NO_OVERLAPPING_PROTOCOLS


@implementer(IOpenSSLServerConnectionCreator)
class TLSServerContext:
    """
    The server side of TLS for one listening port, from certificate files;
    L{reload} swaps in freshly read files for new connections.

    @ivar files: the keyword arguments of L{_certificateOptions}.
    @ivar acceptableProtocols: ALPN protocols offered besides the ones the
        wrapped factory declares.
    """

    def __init__(self, files: CertificateFiles,
                 acceptableProtocols: Sequence[bytes] = ()) -> None:
        self.files = files
        self.acceptableProtocols = tuple(acceptableProtocols)
        self._context = self._build()

    def _build(self) -> SSL.Context:
        context = _certificateOptions(**self.files).getContext()
        # Replaces the callback Twisted installed (see the module docstring).
        context.set_alpn_select_callback(self._selectALPN)
        return context

    def _selectALPN(self, connection: SSL.Connection, offered: List[bytes]) -> Any:
        acceptable: Tuple[bytes, ...] = ()
        tlsProtocol = connection.get_app_data()
        wrapped = getattr(getattr(tlsProtocol, "factory", None), "wrappedFactory", None)
        negotiation = IProtocolNegotiationFactory(wrapped, None)
        if negotiation is not None:
            acceptable = tuple(negotiation.acceptableProtocols())
        return selectProtocol(offered, acceptable + self.acceptableProtocols)

    def serverConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
        return SSL.Connection(self._context, None)

    def reload(self) -> None:
        """
        Re-read the certificate, key and chain; connections opened from now
        on use them, open ones keep theirs.

        @raise TLSConfigError: if the files are unusable (the old ones stay).
        """
        self._context = self._build()


def wrapServerTLS(context: TLSServerContext, factory: Any) -> Any:
    """
    @return: a factory speaking TLS with C{context} around C{factory}'s
        protocols (listen with it on the endpoint of L{tlsServerEndpoint}).
    """
    from twisted.protocols.tls import TLSMemoryBIOFactory
    return TLSMemoryBIOFactory(context, False, factory)


def tlsServerEndpoint(reactor: Any, description: str,
                      acceptableProtocols: Sequence[bytes] = ()) -> Tuple[TCP4ServerEndpoint,
                                                                          TLSServerContext]:
    """
    Build the TCP listening endpoint and the L{TLSServerContext} of an
    C{ssl:} description; wrap the factory with L{wrapServerTLS}, so other
    wrappers (connection caps) can go outside TLS.

    @raise TLSConfigError: if a file is unusable or an argument unknown.
    """
    positional, keywords = splitDescription(description)
    if len(positional) != 2 or positional[0] != "ssl":
        raise TLSConfigError(f"{description!r}: expected ssl:PORT:privateKey=...")
    known = {"privateKey", "certKey", "extraCertChain", "dhParameters", "sslmethod",
             "interface", "backlog", "port"}
    unknown = set(keywords) - known
    if unknown:
        raise TLSConfigError(f"{description!r}: unknown argument {sorted(unknown)[0]!r}")
    try:
        port = int(positional[1])
        backlog = int(keywords.get("backlog", 50))
    except ValueError:
        raise TLSConfigError(f"{description!r}: port and backlog must be numbers")
    files = CertificateFiles(
        privateKey=keywords.get("privateKey", "server.pem"), certKey=keywords.get("certKey"),
        extraCertChain=keywords.get("extraCertChain"), dhParameters=keywords.get("dhParameters"),
        sslmethod=keywords.get("sslmethod"))
    context = TLSServerContext(files, acceptableProtocols)
    endpoint = TCP4ServerEndpoint(reactor, port, backlog=backlog,
                                  interface=keywords.get("interface", ""))
    return endpoint, context
