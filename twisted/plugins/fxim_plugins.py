# Declarations only: the `twistd fxim` ServiceMaker and the built-in handler
# plugins, one per family, so `--disable-plugin NAME` can drop a family.
from twisted.application.service import ServiceMaker

from fxim.handlers.connect import plugin as fximConnect
from fxim.handlers.friends import plugin as fximFriends
from fxim.handlers.groups import plugin as fximGroups
from fxim.handlers.media import plugin as fximMedia
from fxim.handlers.messages import plugin as fximMessages
from fxim.handlers.users import plugin as fximUsers
# i13: newer clients
from fxim.handlers.receipts import plugin as fximReceipts
from fxim.handlers.settings import plugin as fximSettings

fxim = ServiceMaker("fxim", "fxim.tap", "fxim (飞享 IM) instant-messaging server", "fxim")
