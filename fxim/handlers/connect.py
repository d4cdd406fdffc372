# -*- test-case-name: fxim.test.unit.test_dispatch,fxim.test.e2e.test_logins -*-
"""
The C{fxim.connect} family: CONNECT, PING and DISCONNECT.
"""

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from fxim.dispatch import HandlerSet, RequestContext
from fxim.services.auth import ConnectRefused
from fxim.session import ConnectionGone, TooManyDevices
from fxim.wire.requests import (
    ConnectAck, ConnectRequest, DisconnectRequest, PingReply, PingRequest,
)
from fxim.wire.signals import Signal, SubSignal

_log = Logger()

plugin = HandlerSet("fxim.connect", "CONNECT, PING and DISCONNECT")

#: Added to a client's PING interval to get its idle timeout (upstream).
PING_GRACE = 60.0


@plugin.handler(Signal.CONNECT, anonymous=True)
async def connect(context: RequestContext, request: ConnectRequest) -> ConnectAck:
    """
    Verify the device's password against its session and bind the
    connection; refusals carry the CONNECT_ACK code of upstream's checks.
    """
    node, connection, state = context.node, context.connection, context.state
    if connection.userId is not None or state.pendingConnect is not None:
        _log.info("{peer}: second CONNECT on one connection", peer=connection.peer)
        return ConnectAck(SubSignal.CONNECTION_REFUSED_IDENTIFIER_REJECTED)
    waiting: "Deferred[None]" = Deferred()
    state.pendingConnect = waiting
    try:
        try:
            session = await node.auth.verifyConnect(
                request.userName, request.password, request.clientIdentifier)
        except ConnectRefused as e:
            _log.info("{peer}: CONNECT refused ({code}) for {user}", peer=connection.peer,
                      code=int(e.code), user=request.userName)
            return ConnectAck(int(e.code))
        devices = await node.directory.devicesOf(session.userId)
        if len([d for d in devices if d.cid != session.cid]) >= node.config.maxDevices:
            _log.info("{peer}: {user} already has {n} devices online", peer=connection.peer,
                      user=session.userId, n=len(devices))
            return ConnectAck(SubSignal.CONNECTION_REFUSED_NOT_AUTHORIZED)
        try:
            # The check above spares a kick in the common case; this one is
            # atomic with the registration (concurrent CONNECTs).
            await node.sessions.bind(connection, session.userId, session.cid,
                                     maxDevices=node.config.maxDevices)
        except TooManyDevices:
            _log.info("{peer}: {user} reached the device limit", peer=connection.peer,
                      user=session.userId)
            return ConnectAck(SubSignal.CONNECTION_REFUSED_NOT_AUTHORIZED)
        except ConnectionGone:
            _log.info("{peer}: closed during CONNECT", peer=connection.peer)
            return ConnectAck(SubSignal.CONNECTION_REFUSED_SERVER_UNAVAILABLE)
        # i13: agents are friends of every user (before the heads are read).
        agents = node.agents
        if agents is not None and agents.agents:
            await agents.befriend(session.userId, session.cid)
        heads = await node.sessions.heads(session.userId)
        if node.catchUp is not None:
            # i10b: what this device knows, for MN catch-up after a bus outage
            node.catchUp.connected(connection, heads["msgHead"])
        return ConnectAck(SubSignal.CONNECTION_ACCEPTED, serverTime=node.now(), **heads)
    finally:
        state.pendingConnect = None
        # Requests that arrived during verification run after the ack is out.
        node.reactor.callLater(0, waiting.callback, None)


@plugin.handler(Signal.PING, anonymous=True)
def ping(context: RequestContext, request: PingRequest) -> PingReply:
    """
    Answer a heartbeat and make the idle timeout interval + 60 s, with the
    interval clamped to the configured range.
    """
    config = context.node.config
    interval = request.interval if request.interval is not None else int(config.tcpIdle * 1000 - PING_GRACE * 1000)
    interval = max(config.pingMin, min(config.pingMax, interval))
    context.connection.setIdleTimeout(interval / 1000.0 + PING_GRACE)
    return PingReply(interval)


@plugin.handler(Signal.DISCONNECT)
async def disconnect(context: RequestContext, request: DisconnectRequest) -> None:
    """
    clearSession 1 logs the device out (its token stops working) and
    closes; 0 does nothing, as upstream.
    """
    if request.clearSession:
        await context.node.auth.logout(context.userId, context.cid)
        context.connection.disconnect()
