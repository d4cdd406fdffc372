# Declarations only: the `twistd fxim` ServiceMaker and the built-in handler
# plugins (one per family, so --disable-plugin can drop a family).
from twisted.application.service import ServiceMaker

from fxim.handlers.connect import plugin as fximConnect

fxim = ServiceMaker("fxim", "fxim.tap", "fxim (飞享 IM) instant-messaging server", "fxim")
from fxim.handlers.messages import plugin as fximMessages
