# -*- test-case-name: fxim.test.unit.test_crypto -*-
"""
Token and CONNECT password cryptography, sans-IO.

Two layers live here (see C{docs/auth.md} and C{docs/protocol.md}):

  - the B{outer layer} that clients compute themselves: AES-128-CBC with
    PKCS7 padding and IV = key over a 4-byte "hour" prefix and a payload
    (L{aesWrap}, L{aesUnwrap}).  Its default key L{DEFAULT_KEY} is a
    protocol constant hard-coded in every client, not a secret;

  - the B{usertoken}, opaque to clients: an HMAC-SHA256 signed record of
    uid, cid, issue time and expiry (L{signUserToken}, L{verifyUserToken}),
    keyed with the server's secret HMAC key, a multiple of 8 bytes long
    because the web client zero-pads it.

Every function that reads untrusted input raises only L{CryptoError} (or its
subclass L{TokenExpired}) on bad input.
"""

import base64
import binascii
import hashlib
import hmac
import struct

import attr
from Crypto.Cipher import AES
from Crypto.Util.Padding import pad, unpad

#: The outer token AES key: a protocol constant every client hard-codes
#: (the web client has it as Base64 C{ABEiM0RVZnd4eXp7fH1+fw==}).  Not a
#: secret.
DEFAULT_KEY = bytes.fromhex("00112233445566777879 7a7b7c7d7e7f")

#: 2018-01-01 00:00 China time (UTC+8), in seconds: hour 0 of the prefix.
HOUR_EPOCH = 1514736000

#: A wrapped payload whose hour is more than this many hours in the past is
#: refused when the time is checked.  Future hours are accepted (the web
#: client always sends the bogus hour 16356457).
MAX_AGE_HOURS = 24

#: The usertoken layout L{signUserToken} issues.  Version 1 (no padding) is
#: still accepted: tokens issued before version 2 keep working.
USERTOKEN_VERSION = 2

#: Issued usertokens are a multiple of this many bytes (see L{signUserToken}).
USERTOKEN_ALIGN = 8

#: How many zero bytes may follow a usertoken in a CONNECT password: the web
#: client pads the usertoken to a multiple of 4 bytes; 7 also covers a client
#: that pads to 8, and a version 1 usertoken that is not aligned.
MAX_TRAILING_ZEROS = 7

#: A ciphertext starting with these bytes is read by crypto-js's
#: C{CryptoJS.AES.decrypt(string, ...)} as OpenSSL's salted format: the next
#: 8 bytes are taken as a salt and dropped (see L{makeToken}).
_OPENSSL_SALTED = b"Salted__"

#: Layout version -> the length everything before the tag is padded to.
_ALIGN_OF_VERSION = {1: 1, 2: USERTOKEN_ALIGN}
_USERTOKEN_HEADER = struct.Struct(">BqqB")
_TAG_SIZE = 32


class CryptoError(ValueError):
    """
    Any token, password or usertoken that cannot be accepted: bad Base64,
    bad length, bad padding, a too old hour, a bad signature, a malformed
    record.
    """


class TokenExpired(CryptoError):
    """
    A correctly signed usertoken whose expiry has passed.
    """


def hourOf(nowMillis: int) -> int:
    """
    The hour number of the outer layer prefix.

    @param nowMillis: milliseconds since the Unix epoch.
    @return: C{floor((nowMillis / 1000 - 1514736000) / 3600)}.
    """
    return (int(nowMillis) - HOUR_EPOCH * 1000) // 3600000


def hourPrefix(hour: int) -> bytes:
    """
    The 4-byte prefix for C{hour}, byte 3 always 0 as upstream writes it.
    """
    return bytes([hour & 0xFF, (hour >> 8) & 0xFF, (hour >> 16) & 0xFF, 0])


def _checkKey(key: bytes) -> bytes:
    if not isinstance(key, (bytes, bytearray)) or len(key) != 16:
        raise CryptoError("an AES key is 16 bytes")
    return bytes(key)


def aesWrap(plain: bytes, key: bytes, hour: int) -> bytes:
    """
    Encrypt C{hourPrefix(hour) + plain} with AES-128-CBC, PKCS7 padding and
    IV = key, as every client does.

    @param plain: the payload.
    @param key: 16 bytes (L{DEFAULT_KEY} or L{convertUserKey}'s result).
    @param hour: the hour number (see L{hourOf}).
    @return: the ciphertext (not Base64-encoded).
    """
    key = _checkKey(key)
    cipher = AES.new(key, AES.MODE_CBC, iv=key)
    return cipher.encrypt(pad(hourPrefix(hour) + bytes(plain), AES.block_size))


def aesUnwrap(data: bytes, key: bytes, checkTime: bool,
              nowMillis: int = 0) -> bytes:
    """
    Reverse L{aesWrap}.

    @param data: the ciphertext.
    @param key: 16 bytes.
    @param checkTime: if true, refuse a prefix hour more than
        L{MAX_AGE_HOURS} before C{nowMillis}'s hour (a future hour passes).
    @param nowMillis: the current time in ms, used only with C{checkTime}.
    @return: the payload after the 4-byte prefix.
    @raise CryptoError: on a bad length, bad padding, a payload of 4 bytes
        or less, or a too old hour.
    """
    key = _checkKey(key)
    if (not isinstance(data, (bytes, bytearray)) or not data
            or len(data) % AES.block_size):
        raise CryptoError("ciphertext length is not a positive multiple of 16")
    cipher = AES.new(key, AES.MODE_CBC, iv=key)
    try:
        plain = unpad(cipher.decrypt(bytes(data)), AES.block_size)
    except ValueError:
        raise CryptoError("bad padding") from None
    if len(plain) <= 4:
        raise CryptoError("payload too short")
    if checkTime:
        hour = int.from_bytes(plain[:4], "little")
        if hourOf(nowMillis) - hour > MAX_AGE_HOURS:
            raise CryptoError("hour prefix too old")
    return plain[4:]


def convertUserKey(secret: str) -> bytes:
    """
    Turn a session secret into an AES key as clients do: its first 16
    characters, each C{& 0xFF}.  An empty secret means L{DEFAULT_KEY}.

    @raise CryptoError: if C{secret} is not a string of at least 16
        characters (nor empty).
    """
    if not isinstance(secret, str):
        raise CryptoError("a secret is a string")
    if secret == "":
        return DEFAULT_KEY
    if len(secret) < 16:
        raise CryptoError("a secret has at least 16 characters")
    return bytes(ord(c) & 0xFF for c in secret[:16])


def b64encode(data: bytes) -> str:
    """
    Standard Base64 with padding, as C{java.util.Base64}.
    """
    return base64.b64encode(data).decode("ascii")


def b64decode(text) -> bytes:
    """
    Strict standard Base64: surrounding ASCII whitespace is ignored, the
    rest must be the canonical encoding of the result (no stray characters,
    correct padding, zero unused bits), so two different strings never
    decode to the same bytes.

    @param text: C{str} or C{bytes}.
    @raise CryptoError: if C{text} is not such Base64.
    """
    if isinstance(text, str):
        try:
            text = text.encode("ascii")
        except UnicodeEncodeError:
            raise CryptoError("Base64 is ASCII") from None
    if not isinstance(text, (bytes, bytearray)):
        raise CryptoError("Base64 is text")
    text = bytes(text).strip(b" \t\r\n")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError("bad Base64") from None
    if base64.b64encode(data) != text:
        raise CryptoError("non-canonical Base64")
    return data


def makeToken(usertoken: bytes, secret: str, dbSecret: str,
              nowMillis: int) -> str:
    """
    Build the token handed to a client at login:
    C{Base64(aesWrap(Base64(usertoken) + "|" + secret + "|" + dbSecret,
    DEFAULT_KEY))}.

    @param usertoken: the signed usertoken bytes (L{signUserToken}).
    @param secret: the session secret (16 printable ASCII characters).
    @param dbSecret: the session's third token part (no C{"|"}).
    @param nowMillis: the current time in ms, for the hour prefix.
    """
    if "|" in secret or "|" in dbSecret:
        raise ValueError("token parts must not contain '|'")
    inner = "|".join([b64encode(usertoken), secret, dbSecret]).encode("utf-8")
    hour = hourOf(nowMillis)
    data = aesWrap(inner, DEFAULT_KEY, hour)
    if data.startswith(_OPENSSL_SALTED):
        # crypto-js would take this token for OpenSSL's salted format and
        # decrypt the wrong bytes (odds 2**-64).  Clients ignore the hour of
        # a token, so the previous hour gives other, usable ciphertext.
        data = aesWrap(inner, DEFAULT_KEY, hour - 1)
    return b64encode(data)


def splitToken(token: str):
    """
    What a client reads from a token.

    @return: C{(usertoken bytes, secret, dbSecret)}.
    @raise CryptoError: if C{token} is malformed.
    """
    inner = aesUnwrap(b64decode(token), DEFAULT_KEY, checkTime=False)
    try:
        text = inner.decode("utf-8")
    except UnicodeDecodeError:
        raise CryptoError("token payload is not UTF-8") from None
    parts = text.split("|")
    if len(parts) != 3:
        raise CryptoError("a token has three parts")
    return b64decode(parts[0]), parts[1], parts[2]


def makePassword(token: str, nowMillis: int, hour=None) -> str:
    """
    Compute the CONNECT password from a token, as a client does (used by
    fxim's own client code and tests):
    C{Base64(aesWrap(Base64dec(usertoken), convertUserKey(secret)))}.  The
    web client also zero-pads the usertoken to a multiple of 4 bytes, which
    changes nothing for the usertokens L{signUserToken} issues.

    @param hour: the prefix hour to use instead of C{nowMillis}'s (the web
        client always uses 16356457).
    @raise CryptoError: if C{token} is malformed.
    """
    usertoken, secret, _ = splitToken(token)
    if hour is None:
        hour = hourOf(nowMillis)
    return b64encode(aesWrap(usertoken, convertUserKey(secret), hour))


def openPassword(password, secret: str, nowMillis: int) -> bytes:
    """
    Decrypt a CONNECT password with the session secret, checking its hour
    as upstream does (only a prefix more than 24 hours old is refused).

    @return: the usertoken bytes it carries (still to be verified with
        L{verifyUserToken}).
    @raise CryptoError: on anything wrong.
    """
    return aesUnwrap(b64decode(password), convertUserKey(secret),
                     checkTime=True, nowMillis=nowMillis)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class UserToken:
    """
    The signed record inside a token.

    @ivar userId: the user id.
    @ivar cid: the device's clientId.
    @ivar issuedAt: ms since the epoch.
    @ivar expiresAt: ms since the epoch; the token is refused from then on.
    """

    userId: str
    cid: str
    issuedAt: int
    expiresAt: int


def _mac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()


def _padTo(length: int, unit: int) -> int:
    """
    C{length} rounded up to a multiple of C{unit}.
    """
    return -(-length // unit) * unit


def signUserToken(tok: UserToken, key: bytes) -> bytes:
    """
    Serialize and sign C{tok} in the current layout (version 2).

    The layout is C{version(1)=2 issuedAt(int64 BE) expiresAt(int64 BE)
    len(uid)(1) uid len(cid)(1) cid zeros(0-7) tag(32)}, with as many zero
    bytes as make everything before the tag a multiple of 8, and the tag an
    HMAC-SHA256 of everything before it.  The whole usertoken is therefore a
    multiple of 8 bytes, so a client that pads it with zeros to a multiple of
    4 or 8 (the web client does, see C{docs/auth.md}) sends it unchanged.

    @param key: the server's HMAC key (at least 16 bytes).
    @raise ValueError: if uid or cid is longer than 255 UTF-8 bytes or is
        not encodable as UTF-8.
    """
    if len(key) < 16:
        raise ValueError("the HMAC key must have at least 16 bytes")
    userId = tok.userId.encode("utf-8")
    cid = tok.cid.encode("utf-8")
    if len(userId) > 255 or len(cid) > 255:
        raise ValueError("uid and cid are at most 255 bytes")
    body = (_USERTOKEN_HEADER.pack(USERTOKEN_VERSION, tok.issuedAt,
                                   tok.expiresAt, len(userId))
            + userId + bytes([len(cid)]) + cid)
    body += bytes(_padTo(len(body), USERTOKEN_ALIGN) - len(body))
    return body + _mac(key, body)


def verifyUserToken(data: bytes, key: bytes, nowMillis: int,
                    trailingZeros: int = 0) -> UserToken:
    """
    Check a usertoken's signature, then its expiry.

    The usertoken is read by the lengths its own header declares: its
    version gives the layout (1: no padding, as fxim issued before; 2: the
    padded layout of L{signUserToken}), its uid and cid lengths where the
    tag is.  Up to C{trailingZeros} zero bytes may follow it (the web
    client's zero padding, L{MAX_TRAILING_ZEROS}); anything else after it
    is refused.  The header is only used to find the tag: nothing in it is
    believed before the tag is checked.

    @param trailingZeros: how many zero bytes may follow the usertoken.
    @raise TokenExpired: if it is correctly signed but C{nowMillis} is at or
        after its expiry.
    @raise CryptoError: if it is malformed or its signature is wrong.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise CryptoError("a usertoken is bytes")
    data = bytes(data)
    if len(data) < _USERTOKEN_HEADER.size + 1 + _TAG_SIZE:
        raise CryptoError("usertoken too short")
    version = data[0]
    if version not in _ALIGN_OF_VERSION:
        raise CryptoError("unknown usertoken version")
    offset = _USERTOKEN_HEADER.size
    uidLen = data[offset - 1]
    cidAt = offset + uidLen
    if cidAt >= len(data):
        raise CryptoError("malformed usertoken")
    cidLen = data[cidAt]
    fieldsEnd = cidAt + 1 + cidLen
    signedEnd = _padTo(fieldsEnd, _ALIGN_OF_VERSION[version])
    end = signedEnd + _TAG_SIZE
    if end > len(data):
        raise CryptoError("malformed usertoken")
    trailing = data[end:]
    if len(trailing) > trailingZeros or trailing.count(0) != len(trailing):
        raise CryptoError("unexpected bytes after the usertoken")
    body, tag = data[:signedEnd], data[signedEnd:end]
    if not hmac.compare_digest(_mac(key, body), tag):
        raise CryptoError("bad usertoken signature")
    if body[fieldsEnd:].count(0) != signedEnd - fieldsEnd:
        raise CryptoError("malformed usertoken")
    _, issuedAt, expiresAt, _ = _USERTOKEN_HEADER.unpack_from(body)
    try:
        tok = UserToken(body[offset:cidAt].decode("utf-8"),
                        body[cidAt + 1:fieldsEnd].decode("utf-8"),
                        issuedAt, expiresAt)
    except UnicodeDecodeError:
        raise CryptoError("malformed usertoken") from None
    if nowMillis >= tok.expiresAt:
        raise TokenExpired("usertoken expired")
    return tok
