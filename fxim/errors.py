# -*- test-case-name: fxim.test.unit.test_dispatch -*-
"""
The one error vocabulary of fxim: L{ErrorCode} is the first byte of every
PUB_ACK body (universe_push C{ErrorCode.java}), L{SignalError} is how a
handler or service reports one to the client.
"""

from enum import IntEnum


class ErrorCode(IntEnum):
    """
    Wire values of universe_push's C{ErrorCode}; never renumber.
    """

    SUCCESS = 0
    SECRECT_KEY_MISMATCH = 1
    INVALID_DATA = 2
    NODE_NOT_EXIST = 3
    SERVER_ERROR = 4
    NOT_MODIFIED = 5
    TOKEN_ERROR = 6
    USER_FORBIDDEN = 8
    NOT_IN_GROUP = 9
    INVALID_MESSAGE = 10
    GROUP_ALREADY_EXIST = 11
    PASSWORD_INCORRECT = 15
    FRIEND_ALREADY_REQUEST = 16
    FRIEND_REQUEST_BLOCKED = 18
    FRIEND_REQUEST_OVERTIME = 19
    NOT_IN_CHATROOM = 20
    NOT_IN_CHANNEL = 21
    SENSITIVE_MATCHED = 242
    SIGN_EXPIRED = 243
    AUTH_FAILURE = 244
    CLIENT_COUNT_OUT_OF_LIMIT = 245
    IN_BLACK_LIST = 246
    FORBIDDEN_SEND_MSG = 247
    NOT_RIGHT = 248
    TIMEOUT = 249
    OVER_FREQUENCY = 250
    INVALID_PARAMETER = 251
    NOT_EXIST = 253
    NOT_IMPLEMENT = 254
    SUCCESS_GZIPED = 255


class SignalError(Exception):
    """
    A failure the client may see: the dispatcher answers the request with
    C{code} and keeps the connection.

    @ivar code: the L{ErrorCode} to send.
    @ivar description: text for the server log only.
    """

    def __init__(self, code: ErrorCode, description: str = "") -> None:
        super().__init__(code, description)
        self.code = ErrorCode(code)
        self.description = description

    def __str__(self) -> str:
        return f"{self.code.name}: {self.description}" if self.description else self.code.name


class WireError(ValueError):
    """
    The single error every decoder raises on input it cannot decode: a bad
    frame header, broken JSON, broken protobuf, a wrong-shaped body.

    A framing-level C{WireError} closes the connection; a body-level one
    becomes an C{INVALID_DATA} reply (see L{fxim.dispatch}).
    """
