# Declarations only: the login code senders shipped with fxim (--code-sender NAME).
from fxim.senders.http import plugin as fximHttpSender
from fxim.senders.log import plugin as fximLogSender
from fxim.senders.smtp import plugin as fximSmtpSender
