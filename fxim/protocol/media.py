# -*- test-case-name: fxim.test.unit.test_codecs -*-
"""
The media commands: GQNUT (upload token) and GMURL (pre-signed upload URL).
"""

from fxim.errors import WireError
from fxim.protocol.command import Command
from fxim.wire import im_pb2 as pb
from fxim.wire.codecs_convert import dumps, jint, jint32, jobj, jstr, parsePb, pb_, ps
from fxim.wire.requests import GetUploadToken, GetUploadUrl, UploadToken, UploadUrl
from fxim.wire.signals import SubSignal


def _gqnutFromTcp(body: bytes) -> GetUploadToken:
    if len(body) < 1:
        raise WireError("GQNUT: empty body")
    return GetUploadToken(body[0])


class GetUploadTokenCommand(Command):
    """
    GQNUT: one media-type byte on TCP; answered with an upload token.
    """

    subsignal = int(SubSignal.GQNUT)
    request = GetUploadToken
    response = UploadToken
    requestFromTcp = staticmethod(_gqnutFromTcp)
    requestFromWs = staticmethod(lambda c: GetUploadToken(jint(jobj(c).get("mediaType"), 0, 0, 255)))
    responseToTcp = staticmethod(lambda r: pb.GetUploadTokenResult(
        domain=r.domain, token=r.token, server=r.server, port=r.port).SerializeToString())
    responseToWs = staticmethod(lambda r: dumps({"domain": r.domain, "server": r.server,
                                                 "token": r.token, "port": r.port}))
    requestToTcp = staticmethod(lambda r: bytes((r.mediaType,)))
    requestToWs = staticmethod(lambda r: {"mediaType": r.mediaType})
    responseFromTcp = staticmethod(lambda body: (lambda m: UploadToken(
        ps(m.domain), ps(m.token), ps(m.server), m.port))(parsePb(pb.GetUploadTokenResult, body)))
    responseFromWs = staticmethod(lambda v: UploadToken(
        jstr(jobj(v).get("domain")), jstr(v.get("token")), jstr(v.get("server")),
        jint(v.get("port"))))


class GetUploadUrlCommand(Command):
    """
    GMURL: a pre-signed upload URL for a key.
    """

    subsignal = int(SubSignal.GMURL)
    request = GetUploadUrl
    response = UploadUrl
    requestFromTcp = staticmethod(lambda body: (lambda m: GetUploadUrl(m.type, ps(m.key)))(
        parsePb(pb.GetMinioUploadUrlRequest, body)))
    requestFromWs = staticmethod(lambda c: (lambda o: GetUploadUrl(
        jint32(o.get("mediaType")), jstr(o.get("key"))))(jobj(c)))
    responseToTcp = staticmethod(lambda r: pb.GetMinioUploadUrlResult(
        domain=r.domain, server=r.server, port=r.port, url=r.url).SerializeToString())
    responseToWs = staticmethod(lambda r: dumps({"domain": r.domain, "server": r.server,
                                                 "port": r.port, "url": r.url}))
    requestToTcp = staticmethod(lambda r: pb_(pb.GetMinioUploadUrlRequest, type=r.mediaType,
                                              key=r.key))
    requestToWs = staticmethod(lambda r: {"mediaType": r.mediaType, "key": r.key})
    responseFromTcp = staticmethod(lambda body: (lambda m: UploadUrl(
        ps(m.domain), ps(m.server), m.port, ps(m.url)))(parsePb(pb.GetMinioUploadUrlResult, body)))
    responseFromWs = staticmethod(lambda v: UploadUrl(
        jstr(jobj(v).get("domain")), jstr(v.get("server")), jint(v.get("port")),
        jstr(v.get("url"))))


COMMANDS = (GetUploadTokenCommand, GetUploadUrlCommand)
