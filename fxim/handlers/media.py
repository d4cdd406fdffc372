# -*- test-case-name: fxim.test.unit.test_media -*-
"""
The C{fxim.media} family: GQNUT and GMURL, thin wrappers around
L{fxim.services.media.MediaService}.
"""

from fxim.dispatch import HandlerSet, RequestContext
from fxim.wire.requests import GetUploadToken, GetUploadUrl, UploadToken, UploadUrl
from fxim.wire.signals import Signal, SubSignal

plugin = HandlerSet("fxim.media", "upload tokens and presigned upload URLs")


@plugin.handler(Signal.PUBLISH, SubSignal.GQNUT)
def uploadToken(context: RequestContext, request: GetUploadToken) -> UploadToken:
    return context.server.media.uploadToken(context.userId, request.mediaType)


@plugin.handler(Signal.PUBLISH, SubSignal.GMURL)
async def uploadUrl(context: RequestContext, request: GetUploadUrl) -> UploadUrl:
    media = context.server.media
    grant = media.uploadUrl(context.userId, request.mediaType, request.key)
    # The PUT is refused anyway; saying so now spares the client an upload.
    await media.checkKeyAvailable(context.userId, request.mediaType, request.key)
    return grant
