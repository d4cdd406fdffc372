"""
The fxim client SDK: log in over HTTP, connect over TCP or WebSocket, send,
pull and receive with typed objects.  See docs/client.md.

    creds = await login(reactor, "http://127.0.0.1:8081", "13800000000", "556677", "my-device")
    conn = await openConnection(reactor, "tcp", "127.0.0.1", 6789)
    await conn.connect(creds.uid, creds.token, creds.clientId)
"""

from fxim.client.connection import (
    ClientConnection, RequestFailed, connectTcp, connectWs, openConnection,
)
from fxim.wire.envelope import registerSubSignalName as registerPluginSubsignal
from fxim.client.inbox import Inbox
from fxim.client.http import Credentials, LoginError, login, sendCode

__all__ = [
    "ClientConnection", "Inbox", "registerPluginSubsignal", "RequestFailed", "connectTcp", "connectWs",
    "openConnection", "Credentials", "LoginError", "login", "sendCode",
]
