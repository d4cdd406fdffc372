# -*- test-case-name: fxim.test.unit.test_auth -*-
"""
SMS senders (L{fxim.interfaces.ISmsSender}).

L{LogSmsSender}, the default, writes each code to the server log: that is
its whole job, for development and demos.  It is the only place in fxim
allowed to log a login code.  A production sender (an SMS gateway client)
must never log the code, nor put it in an exception message.
"""

from twisted.internet.defer import fail, succeed
from twisted.logger import Logger
from zope.interface import implementer

from fxim.interfaces import ISmsSender


@implementer(ISmsSender)
class LogSmsSender:
    """
    Development sender: logs C{"SMS login code for <mobile>: <code>"}.
    """

    log = Logger()

    def sendCode(self, mobile, code, kind=None):
        """
        Write the code to the log.  @return: a fired L{Deferred}.
        """
        self.log.info("SMS login code for {mobile}: {code}",
                      mobile=mobile, code=code)
        return succeed(None)


@implementer(ISmsSender)
class MemorySmsSender:
    """
    Test sender: remembers what it was asked to send, logs nothing.

    @ivar sent: list of C{(mobile, code)}.
    @ivar failing: if true, L{sendCode} fails (to test gateway errors).
    """

    def __init__(self):
        self.sent = []
        self.failing = False

    def sendCode(self, mobile, code, kind=None):
        """
        Record the code.  @return: a fired L{Deferred}.
        """
        if self.failing:
            return fail(RuntimeError("SMS gateway down"))
        self.sent.append((mobile, code))
        return succeed(None)

    def lastCode(self, mobile):
        """
        @return: the last code sent to C{mobile}, or L{None}.
        """
        for m, code in reversed(self.sent):
            if m == mobile:
                return code
        return None
