# -*- test-case-name: fxim.test.unit.test_identity -*-
"""
Login identities: what the HTTP login field C{mobile} may carry.

Three kinds are accepted, each normalised before it is stored or looked
up, so one person cannot hold two accounts by spelling their identity
differently:

  - C{"mobile"}: an 11-digit mainland-China mobile (C{1[3-9]} and nine
    digits); C{+86} and C{0086} prefixes, spaces and dashes are removed;
  - C{"phone"}: any other international number in E.164 (C{+} and
    digits), validated with the C{phonenumbers} library and kept in its
    canonical E.164 form (C{+4915112345678});
  - C{"email"}: an e-mail address, lower-cased.
"""

import re

import attr
import phonenumbers

#: An 11-digit Chinese mobile (ASCII digits only).
CHINA_MOBILE_RE = re.compile(r"1[3-9][0-9]{9}", re.ASCII)

#: The e-mail syntax the newer web client checks, with a length limit.
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}", re.ASCII)

#: Longest accepted login field, in characters.
MAX_IDENTITY = 254

MOBILE = "mobile"
PHONE = "phone"
EMAIL = "email"


class InvalidIdentity(ValueError):
    """
    The login field is neither a mobile, an E.164 number nor an e-mail.
    """


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Identity:
    """
    A normalised login identity.

    @ivar kind: L{MOBILE}, L{PHONE} or L{EMAIL}.
    @ivar value: the canonical text (the key codes and accounts are
        stored under).
    """

    kind: str
    value: str

    @property
    def isPhone(self) -> bool:
        """
        Whether codes for it go by SMS (a mobile or E.164 number).
        """
        return self.kind in (MOBILE, PHONE)


_SEPARATORS = re.compile(r"[ \-().]")


def parseIdentity(text) -> Identity:
    """
    Classify and normalise a login field.

    @raise InvalidIdentity: if C{text} is not a string of one of the three
        kinds.
    """
    if not isinstance(text, str) or not text or len(text) > MAX_IDENTITY:
        raise InvalidIdentity("invalid mobile or e-mail")
    text = text.strip()
    if "@" in text:
        if not EMAIL_RE.fullmatch(text) or ".." in text:
            raise InvalidIdentity("invalid e-mail address")
        return Identity(EMAIL, text.lower())
    compact = _SEPARATORS.sub("", text)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if CHINA_MOBILE_RE.fullmatch(compact):
        return Identity(MOBILE, compact)
    if not compact.startswith("+") or not compact[1:].isdigit() or not compact.isascii():
        raise InvalidIdentity("invalid mobile: use 11 digits or +<country code><number>")
    try:
        number = phonenumbers.parse(compact, None)
    except phonenumbers.NumberParseException:
        raise InvalidIdentity("invalid international number") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentity("invalid international number")
    canonical = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    national = str(number.national_number)
    if number.country_code == 86 and CHINA_MOBILE_RE.fullmatch(national):
        # +86 138... is the same person as 138...
        return Identity(MOBILE, national)
    return Identity(PHONE, canonical)
