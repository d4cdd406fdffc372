"""
fxim's unit tests: in-process, with twins, Clock and StringTransport; and
the small doubles several of them share.
"""


class RecordingBus:
    """
    The C{deliver} of an L{fxim.interfaces.IDeliveryBus}, recording each
    delivery.

    @ivar pushes: C{(userId, push)} pairs, in order.
    """

    def __init__(self):
        self.pushes = []

    async def deliver(self, userId, push, excludeCid=None):
        self.pushes.append((userId, push))
