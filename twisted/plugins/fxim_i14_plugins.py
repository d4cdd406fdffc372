# Declarations only: the fxim.push handler family (push registration and
# preferences on plugin subsignals 70-72) and the built-in pushers.
from fxim.push.handlers import plugin as fximPush
from fxim.push.pushers import MatrixPusherFactory, WebhookPusherFactory
# The fxim.moderation family: message reports (plugin subsignal 73).
from fxim.moderation.handlers import plugin as fximModeration

fximMatrixPusher = MatrixPusherFactory()
fximWebhookPusher = WebhookPusherFactory()
