"""
The fxim client SDK: log in over HTTP, connect over TCP or WebSocket, send,
pull and receive with typed objects.  See docs/client.md.

High level (reconnects, heartbeats, resends, MN-driven pull)::

    client = ChatClient(reactor, "tcp", "127.0.0.1", 6789, httpBase="http://127.0.0.1:8081")
    await client.login("13800000000", "556677")
    client.onMessage(print)
    await client.start()
    await client.sendText(peerUid, "hello")

Low level (one connection, typed requests)::

    creds = await login(reactor, "http://127.0.0.1:8081", "13800000000", "556677", "my-device")
    conn = await openConnection(reactor, "tcp", "127.0.0.1", 6789)
    await conn.connect(creds.uid, creds.token, creds.clientId)
"""

from fxim.client.connection import (
    ClientConnection, ConnectionLost, RequestFailed, connectTcp, connectWs, openConnection,
    registerPluginSubsignal,
)
from fxim.client.inbox import Inbox
from fxim.client.http import Credentials, LoginError, login, sendCode
from fxim.client.session import (
    Backoff, ChatClient, ConnectionState, GroupEvent, NotConnected, Recall, SendResult,
    Unauthorized, UploadFailed, describe, groupEvent,
)

__all__ = [
    "ClientConnection", "ConnectionLost", "Inbox", "registerPluginSubsignal", "RequestFailed",
    "connectTcp", "connectWs", "openConnection", "Credentials", "LoginError", "login", "sendCode",
    "Backoff", "ChatClient", "ConnectionState", "GroupEvent", "NotConnected", "Recall",
    "SendResult", "Unauthorized", "UploadFailed", "describe", "groupEvent",
]
