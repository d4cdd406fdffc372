# -*- test-case-name: fxim.test.unit.test_senders -*-
"""
The C{log} code sender: writes each code to the server log (development
and demos; fxim's default).
"""

from twisted.internet.defer import succeed
from twisted.logger import Logger
from zope.interface import implementer

from fxim.senders import ICodeSender, SenderPlugin


@implementer(ICodeSender)
class LogCodeSender:
    """
    Logs C{"SMS login code for <address>: <code>"} (the line tests and
    demos read; the same for e-mail addresses).
    """

    log = Logger()

    def sendCode(self, address, code, kind="mobile"):
        self.log.info("SMS login code for {mobile}: {code}", mobile=address, code=code)
        return succeed(None)


plugin = SenderPlugin("log", "write login codes to the server log (development only)",
                      lambda config, reactor: LogCodeSender())
