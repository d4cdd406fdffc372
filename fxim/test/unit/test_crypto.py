# -*- test-case-name: fxim.test.unit.test_crypto -*-
"""
Tests for L{fxim.crypto}.
"""

import hashlib
import hmac
import struct

from Crypto.Cipher import DES
from Crypto.Util.Padding import unpad
from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fxim import crypto
from fxim.crypto import (
    DEFAULT_KEY, CryptoError, TokenExpired, UserToken, aesUnwrap, aesWrap,
    b64decode, b64encode, convertUserKey, hourOf, makePassword, makeToken,
    openPassword, signUserToken, splitToken, verifyUserToken,
)

# docs/protocol.md
VECTOR_USERTOKEN = "hN0AF2XX6+pGXT3ry6TPpaaRcS7Wx3QpkDmajUGat68="
VECTOR_SECRET = "e9266a45-18dd-4180-a184-0c051cace456"
VECTOR_HOUR = 17346
VECTOR_PASSWORD = ("vjMhFfkSxkpvrL8V/W34Ol1lKc1pINgFq0MOUtIbpRt5G/"
                   "Z12qs1Spk0e2sVSKvx")

#: The hour the web client always sends (prefix C{69 94 f9 00}).
WEB_HOUR = 16356457

#: Some time in 2024, in ms.
NOW = 1700000000000
HMAC_KEY = bytes(range(32))
SECRET = "Ab3dEf6hIj9lMn0p"
DB_SECRET = "dbSecretdbSecretdbSecret"


def _msForHour(hour):
    return (crypto.HOUR_EPOCH + hour * 3600) * 1000


def _userToken(userId="u1", cid="04710539-6441-485a-b264-4b09b58eba3d"):
    return UserToken(userId, cid, NOW, NOW + 86400000)


class VectorTests(SynchronousTestCase):
    """
    The test vectors of docs/protocol.md
    """

    def test_hourPrefix(self):
        """
        The hour prefix puts the hour little-endian in 3 bytes and 0 last.
        """
        self.assertEqual(crypto.hourPrefix(VECTOR_HOUR), bytes.fromhex("c2430000"))
        self.assertEqual(crypto.hourPrefix(WEB_HOUR), bytes.fromhex("6994f900"))
        self.assertEqual(crypto.hourPrefix(0x12345678), bytes.fromhex("78563400"))

    def test_hourOf(self):
        """
        L{hourOf} counts whole hours since 2018-01-01 00:00 UTC+8.
        """
        self.assertEqual(hourOf(1514736000000), 0)
        self.assertEqual(hourOf(1514736000000 + 3599999), 0)
        self.assertEqual(hourOf(_msForHour(VECTOR_HOUR) + 1234), VECTOR_HOUR)

    def test_convertUserKey(self):
        """
        A secret's key is its first 16 characters.
        """
        self.assertEqual(convertUserKey(VECTOR_SECRET), b"e9266a45-18dd-41")
        self.assertEqual(convertUserKey(""), DEFAULT_KEY)
        self.assertRaises(CryptoError, convertUserKey, "short")

    def test_defaultKey(self):
        """
        The default key is the web client's C{ABEiM0RVZnd4eXp7fH1+fw==}.
        """
        self.assertEqual(b64encode(DEFAULT_KEY), "ABEiM0RVZnd4eXp7fH1+fw==")

    def test_passwordVector(self):
        """
        Wrapping the vector usertoken with the vector secret at hour 17346
        gives the vector password, and opening it gives the usertoken back.
        """
        usertoken = b64decode(VECTOR_USERTOKEN)
        key = convertUserKey(VECTOR_SECRET)
        self.assertEqual(b64encode(aesWrap(usertoken, key, VECTOR_HOUR)),
                         VECTOR_PASSWORD)
        opened = openPassword(VECTOR_PASSWORD, VECTOR_SECRET,
                              _msForHour(VECTOR_HOUR + 3))
        self.assertEqual(opened, usertoken)

    def test_passwordFromToken(self):
        """
        L{makePassword} on a token carrying the vector usertoken and secret
        gives the vector password.
        """
        token = makeToken(b64decode(VECTOR_USERTOKEN), VECTOR_SECRET,
                          "db", _msForHour(VECTOR_HOUR))
        self.assertEqual(makePassword(token, _msForHour(VECTOR_HOUR)),
                         VECTOR_PASSWORD)

    def test_desVector(self):
        """
        Upstream's usertoken is DES/CBC (key C{abcdefgh}, IV 01..08) of
        C{testim|<ms>|<uid>}; fxim does not issue these, this only checks
        the spec is understood.
        """
        cipher = DES.new(b"abcdefgh", DES.MODE_CBC, iv=bytes(range(1, 9)))
        plain = unpad(cipher.decrypt(b64decode(VECTOR_USERTOKEN)), 8)
        self.assertEqual(plain, b"testim|1577181750832|TYTzTz33")


class OuterLayerTests(SynchronousTestCase):
    """
    Tests for L{aesWrap} and L{aesUnwrap}.
    """

    def test_roundTrip(self):
        """
        L{aesUnwrap} gives back what L{aesWrap} wrapped.
        """
        data = aesWrap(b"hello", DEFAULT_KEY, 5)
        self.assertEqual(len(data), 16)
        self.assertEqual(aesUnwrap(data, DEFAULT_KEY, False), b"hello")

    def test_futureHourAccepted(self):
        """
        The web client's bogus future hour passes the time check.
        """
        data = aesWrap(b"payload", DEFAULT_KEY, WEB_HOUR)
        self.assertEqual(aesUnwrap(data, DEFAULT_KEY, True, NOW), b"payload")

    def test_hourBoundary(self):
        """
        An hour 24 hours old passes, one 25 hours old is refused, unless the
        time is not checked.
        """
        now = _msForHour(1000) + 10
        ok = aesWrap(b"payload", DEFAULT_KEY, 1000 - 24)
        old = aesWrap(b"payload", DEFAULT_KEY, 1000 - 25)
        self.assertEqual(aesUnwrap(ok, DEFAULT_KEY, True, now), b"payload")
        self.assertRaises(CryptoError, aesUnwrap, old, DEFAULT_KEY, True, now)
        self.assertEqual(aesUnwrap(old, DEFAULT_KEY, False, now), b"payload")

    def test_shortPayload(self):
        """
        A payload of nothing after the prefix is refused.
        """
        data = aesWrap(b"", DEFAULT_KEY, 5)
        self.assertRaises(CryptoError, aesUnwrap, data, DEFAULT_KEY, False)

    def test_badLength(self):
        """
        Ciphertext whose length is not a positive multiple of 16 is refused.
        """
        for data in [b"", b"x" * 15, b"x" * 17]:
            self.assertRaises(CryptoError, aesUnwrap, data, DEFAULT_KEY, False)

    def test_wrongKey(self):
        """
        A wrong key almost always breaks the padding: refused.
        """
        data = aesWrap(b"payload", DEFAULT_KEY, 5)
        self.assertRaises(CryptoError, aesUnwrap, data, b"k" * 16, False)


class Base64Tests(SynchronousTestCase):
    """
    Tests for the strict L{b64decode}.
    """

    def test_canonical(self):
        """
        Canonical Base64 decodes; surrounding whitespace is ignored.
        """
        self.assertEqual(b64decode("aGk="), b"hi")
        self.assertEqual(b64decode(" aGk=\n"), b"hi")

    def test_nonCanonical(self):
        """
        Missing padding, stray characters and non-zero unused bits are
        refused.
        """
        for text in ["aGk", "aGl=", "a Gk=", "aG*k", "\u00e9", "aGk=aGk="]:
            self.assertRaises(CryptoError, b64decode, text)
        self.assertRaises(CryptoError, b64decode, 12)


class TokenTests(SynchronousTestCase):
    """
    Tests for L{makeToken}, L{splitToken} and L{makePassword}.
    """

    def test_anatomy(self):
        """
        A token is Base64 of the outer layer over C{Base64(usertoken) |
        secret | dbSecret}, with the current hour.
        """
        token = makeToken(b"\x01\x02\xff", SECRET, DB_SECRET, NOW)
        inner = aesUnwrap(b64decode(token), DEFAULT_KEY, True, NOW)
        self.assertEqual(inner, ("AQL/|%s|%s" % (SECRET, DB_SECRET)).encode())
        self.assertEqual(splitToken(token), (b"\x01\x02\xff", SECRET, DB_SECRET))

    def test_pipeRefused(self):
        """
        Token parts may not contain C{|}.
        """
        self.assertRaises(ValueError, makeToken, b"x", "a|" * 8, "db", NOW)
        self.assertRaises(ValueError, makeToken, b"x", SECRET, "d|b", NOW)

    def test_passwordRoundTrip(self):
        """
        A client's password opens with the session secret to the usertoken,
        which verifies.
        """
        tok = _userToken()
        signed = signUserToken(tok, HMAC_KEY)
        token = makeToken(signed, SECRET, DB_SECRET, NOW)
        password = makePassword(token, NOW)
        opened = openPassword(password, SECRET, NOW + 3600000)
        self.assertEqual(opened, signed)
        self.assertEqual(verifyUserToken(opened, HMAC_KEY, NOW), tok)

    def test_webPassword(self):
        """
        A password with the web client's future hour opens.
        """
        signed = signUserToken(_userToken(), HMAC_KEY)
        token = makeToken(signed, SECRET, DB_SECRET, NOW)
        password = makePassword(token, NOW, hour=WEB_HOUR)
        self.assertEqual(openPassword(password, SECRET, NOW), signed)

    def test_oldPassword(self):
        """
        A password made more than 24 hours ago is refused.
        """
        signed = signUserToken(_userToken(), HMAC_KEY)
        token = makeToken(signed, SECRET, DB_SECRET, NOW)
        password = makePassword(token, NOW)
        self.assertRaises(CryptoError, openPassword, password, SECRET,
                          NOW + 26 * 3600000)

    def test_wrongSecret(self):
        """
        A password opened with another secret is refused, or gives bytes
        that do not verify.
        """
        signed = signUserToken(_userToken(), HMAC_KEY)
        password = makePassword(makeToken(signed, SECRET, DB_SECRET, NOW), NOW)

        def attempt():
            verifyUserToken(openPassword(password, "x" * 16, NOW), HMAC_KEY,
                            NOW)
        self.assertRaises(CryptoError, attempt)


class UserTokenTests(SynchronousTestCase):
    """
    Tests for L{signUserToken} and L{verifyUserToken}.
    """

    def test_roundTrip(self):
        """
        A signed usertoken verifies to the same record.
        """
        tok = UserToken("\u7528\u6237", "c" * 255, 1, NOW + 1)
        self.assertEqual(verifyUserToken(signUserToken(tok, HMAC_KEY),
                                         HMAC_KEY, NOW), tok)

    def test_expired(self):
        """
        At and after its expiry a usertoken raises L{TokenExpired}.
        """
        signed = signUserToken(_userToken(), HMAC_KEY)
        self.assertRaises(TokenExpired, verifyUserToken, signed, HMAC_KEY,
                          NOW + 86400000)

    def test_otherKey(self):
        """
        A usertoken signed with another key is refused.
        """
        signed = signUserToken(_userToken(), HMAC_KEY)
        exc = self.assertRaises(CryptoError, verifyUserToken, signed,
                                b"k" * 32, NOW)
        self.assertNotIsInstance(exc, TokenExpired)

    def test_limits(self):
        """
        Ids over 255 bytes and short keys are refused when signing.
        """
        self.assertRaises(ValueError, signUserToken,
                          UserToken("u", "c" * 256, 0, 1), HMAC_KEY)
        self.assertRaises(ValueError, signUserToken, _userToken(), b"short")

    def test_base64Able(self):
        """
        The token's first part is Base64 of the usertoken bytes, as clients
        require.
        """
        signed = signUserToken(_userToken(), HMAC_KEY)
        token = makeToken(signed, SECRET, DB_SECRET, NOW)
        first = aesUnwrap(b64decode(token), DEFAULT_KEY, False).split(b"|")[0]
        self.assertEqual(b64decode(first.decode()), signed)


def _flip(data, index, bit):
    index %= len(data)
    out = bytearray(data)
    out[index] ^= 1 << bit
    return bytes(out)


_TOK = _userToken()
_SIGNED = signUserToken(_TOK, HMAC_KEY)
_TOKEN = makeToken(_SIGNED, SECRET, DB_SECRET, NOW)
_PASSWORD = makePassword(_TOKEN, NOW)


def _accept(password):
    """
    What the server accepts: open with the session secret, verify, compare.
    """
    tok = verifyUserToken(openPassword(password, SECRET, NOW), HMAC_KEY, NOW)
    if (tok.userId, tok.cid) != (_TOK.userId, _TOK.cid):
        raise CryptoError("mismatch")
    return tok


class TamperTests(SynchronousTestCase):
    """
    Property tests: nothing tampered is accepted, nothing raises anything
    but L{CryptoError}.
    """

    def test_untampered(self):
        """
        The untampered fixtures are accepted (so the properties below are
        meaningful).
        """
        self.assertEqual(_accept(_PASSWORD), _TOK)

    @given(st.integers(min_value=0), st.integers(min_value=0, max_value=7))
    def test_passwordBitFlip(self, index, bit):
        """
        Flipping any bit of a password's text is refused.
        """
        tampered = _flip(_PASSWORD.encode("ascii"), index, bit)
        self.assertRaises(CryptoError, _accept, tampered)
        self.assertRaises(CryptoError, _accept,
                          tampered.decode("latin-1"))

    @given(st.integers(min_value=0), st.integers(min_value=0, max_value=7))
    def test_passwordCiphertextBitFlip(self, index, bit):
        """
        Flipping any bit of a password's ciphertext is refused.
        """
        tampered = b64encode(_flip(b64decode(_PASSWORD), index, bit))
        self.assertRaises(CryptoError, _accept, tampered)

    @given(st.integers(min_value=0), st.integers(min_value=0, max_value=7))
    def test_userTokenBitFlip(self, index, bit):
        """
        Flipping any bit of a usertoken is refused, not as expired.
        """
        exc = self.assertRaises(CryptoError, verifyUserToken,
                                _flip(_SIGNED, index, bit), HMAC_KEY, NOW)
        self.assertNotIsInstance(exc, TokenExpired)

    @given(st.integers(min_value=0), st.integers(min_value=0, max_value=7))
    def test_tokenBitFlip(self, index, bit):
        """
        A password made from a tampered token is refused, unless the flip
        only touched the unchecked dbSecret, in which case it still names
        exactly the original usertoken: never a wrong acceptance.
        """
        raw = b64decode(_TOKEN)
        tampered = b64encode(_flip(raw, index, bit))
        try:
            tok = _accept(makePassword(tampered, NOW))
        except CryptoError:
            return
        self.assertEqual(tok, _TOK)
        self.assertEqual(splitToken(tampered)[:2], (_SIGNED, SECRET))

    @given(st.binary(max_size=300))
    def test_userTokenTruncation(self, suffix):
        """
        Truncating or extending a usertoken is refused.
        """
        for n in range(len(_SIGNED)):
            self.assertRaises(CryptoError, verifyUserToken, _SIGNED[:n],
                              HMAC_KEY, NOW)
        if suffix:
            self.assertRaises(CryptoError, verifyUserToken, _SIGNED + suffix,
                              HMAC_KEY, NOW)

    @given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
    def test_anyPassword(self, data):
        """
        Any input to L{openPassword} raises only L{CryptoError}, or opens.
        """
        try:
            openPassword(data, SECRET, NOW)
        except CryptoError:
            pass

    @given(st.binary(max_size=200).map(b64encode))
    def test_anyBase64Password(self, data):
        """
        Any valid Base64 given as a password is refused or gives bytes that
        do not verify.
        """
        self.assertRaises(CryptoError, _accept, data)

    @given(st.binary(max_size=300))
    def test_anyUserToken(self, data):
        """
        Any bytes given to L{verifyUserToken} raise L{CryptoError}.
        """
        self.assertRaises(CryptoError, verifyUserToken, data, HMAC_KEY, NOW)

    @given(st.binary(max_size=200), st.booleans())
    def test_anyUnwrap(self, data, checkTime):
        """
        Any bytes given to L{aesUnwrap} raise only L{CryptoError}, or unwrap.
        """
        try:
            aesUnwrap(data, DEFAULT_KEY, checkTime, NOW)
        except CryptoError:
            pass

    @given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
    def test_anyToken(self, data):
        """
        Any input to L{splitToken} and L{makePassword} raises only
        L{CryptoError}, or splits.
        """
        for f in [splitToken, lambda t: makePassword(t, NOW)]:
            try:
                f(data)
            except CryptoError:
                pass


def _legacySign(tok, key):
    """
    A usertoken in layout version 1 (no padding), as fxim issued before.
    """
    userId, cid = tok.userId.encode("utf-8"), tok.cid.encode("utf-8")
    body = (struct.pack(">BqqB", 1, tok.issuedAt, tok.expiresAt, len(userId))
            + userId + bytes([len(cid)]) + cid)
    return body + hmac.new(key, body, hashlib.sha256).digest()


def _resign(body, key):
    return body + hmac.new(key, body, hashlib.sha256).digest()


class AlignedUserTokenTests(SynchronousTestCase):
    """
    The padded usertoken layout (version 2) and the trailing zeros a CONNECT
    password may carry after a usertoken.
    """

    def test_everyLength(self):
        """
        For every uid length (1-64) and cid length (1-255) the usertoken is
        a multiple of 8 bytes, is read back with 0 to 7 zero bytes after it
        and not with 8; the version 1 layout of the same record too.
        """
        for uidLen in range(1, 65):
            for cidLen in range(1, 256):
                tok = UserToken("u" * uidLen, "c" * cidLen, 1, NOW + 1)
                signed = signUserToken(tok, HMAC_KEY)
                self.assertEqual(len(signed) % crypto.USERTOKEN_ALIGN, 0)
                self.assertEqual(len(signed) - (51 + uidLen + cidLen),
                                 -(51 + uidLen + cidLen) % 8)
                legacy = _legacySign(tok, HMAC_KEY)
                for data in (signed, legacy):
                    for zeros in (0, -len(data) % 4, 7):
                        self.assertEqual(verifyUserToken(
                            data + bytes(zeros), HMAC_KEY, NOW, 7), tok)
                    self.assertRaises(CryptoError, verifyUserToken,
                                      data + bytes(8), HMAC_KEY, NOW, 7)

    def test_layout(self):
        """
        Version 2 is the version 1 record with zeros up to a multiple of 8
        before the tag, all signed.
        """
        tok = UserToken("abcdefgh", "8d785094-0928-4a3d-89af-1117f66c7829",
                        1, NOW + 1)
        signed = signUserToken(tok, HMAC_KEY)
        legacy = _legacySign(tok, HMAC_KEY)
        self.assertEqual((len(legacy), len(signed)), (95, 96))
        self.assertEqual(signed[0], 2)
        self.assertEqual(signed[1:63], legacy[1:63])
        self.assertEqual(signed[63:64], b"\x00")
        self.assertEqual(signed, _resign(signed[:64], HMAC_KEY))

    def test_strictByDefault(self):
        """
        Without C{trailingZeros}, nothing may follow a usertoken.
        """
        signed = signUserToken(_userToken(), HMAC_KEY)
        self.assertRaises(CryptoError, verifyUserToken, signed + b"\x00",
                          HMAC_KEY, NOW)
        self.assertEqual(verifyUserToken(signed, HMAC_KEY, NOW), _userToken())

    @given(st.binary(min_size=1, max_size=7).filter(any))
    def test_nonZeroTrailing(self, trailing):
        """
        Trailing bytes that are not all zero are refused, not as expired.
        """
        signed = signUserToken(_userToken(), HMAC_KEY)
        exc = self.assertRaises(CryptoError, verifyUserToken,
                                signed + trailing, HMAC_KEY, NOW, 7)
        self.assertNotIsInstance(exc, TokenExpired)

    def test_signedNonZeroPadding(self):
        """
        Padding inside the signed layout must be zero even when the tag
        covers it.
        """
        signed = signUserToken(UserToken("u", "c", 1, NOW + 1), HMAC_KEY)
        body = bytearray(signed[:-32])
        body[-1] = 1
        self.assertRaises(CryptoError, verifyUserToken,
                          _resign(bytes(body), HMAC_KEY), HMAC_KEY, NOW, 7)

    def test_unknownVersion(self):
        """
        A correctly signed usertoken of another version is refused.
        """
        signed = signUserToken(_userToken(), HMAC_KEY)
        for version in (0, 3, 255):
            body = bytes([version]) + signed[1:-32]
            self.assertRaises(CryptoError, verifyUserToken,
                              _resign(body, HMAC_KEY), HMAC_KEY, NOW, 7)

    def test_truncatedPadding(self):
        """
        A version 2 usertoken that lacks its padding is refused.
        """
        signed = signUserToken(UserToken("u", "c", 1, NOW + 1), HMAC_KEY)
        body = signed[:-32].rstrip(b"\x00")
        self.assertRaises(CryptoError, verifyUserToken,
                          _resign(body, HMAC_KEY), HMAC_KEY, NOW, 7)

    @given(st.binary(max_size=120), st.integers(min_value=0, max_value=7))
    def test_anyBytes(self, data, trailingZeros):
        """
        Any bytes raise only L{CryptoError}.
        """
        self.assertRaises(CryptoError, verifyUserToken, data, HMAC_KEY, NOW,
                          trailingZeros)

    def test_saltedPrefixAvoided(self):
        """
        A token whose ciphertext would start with C{Salted__} (which
        crypto-js reads as OpenSSL's salted format) is made with the
        previous hour instead.
        """
        real = crypto.aesWrap
        hours = []

        def aesWrap(plain, key, hour):
            hours.append(hour)
            data = real(plain, key, hour)
            return b"Salted__" + data[8:] if len(hours) == 1 else data
        self.patch(crypto, "aesWrap", aesWrap)
        token = makeToken(b"usertoken", SECRET, DB_SECRET, NOW)
        self.assertEqual(hours, [hourOf(NOW), hourOf(NOW) - 1])
        self.assertFalse(b64decode(token).startswith(b"Salted__"))
        self.assertEqual(splitToken(token), (b"usertoken", SECRET, DB_SECRET))
