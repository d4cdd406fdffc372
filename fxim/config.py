# -*- test-case-name: fxim.test.unit.test_tap -*-
"""
L{Config}: every setting of a node, parsed once from the command line.
"""

from typing import Optional, Tuple

import attr


@attr.s(frozen=True, auto_attribs=True)
class Config:
    """
    A node's settings; see C{twistd fxim --help} and docs/operating.md.
    """

    tcp: str = "tcp:6789"
    ws: str = "tcp:9326"
    http: str = "tcp:8081"
    dataDir: str = "fxim-data"
    database: Optional[str] = None
    redis: Optional[str] = None
    redisPrefix: str = "fxim:"
    nodeId: int = 0
    loginCode: Optional[str] = None
    adminSecretFile: Optional[str] = None
    hmacKeyFile: Optional[str] = None
    disabledPlugins: Tuple[str, ...] = ()
    publicUrl: Optional[str] = None
    maxFrameSize: int = 4 * 1024 * 1024
    maxWsPayload: int = 1024 * 1024
    tcpIdle: float = 120.0
    wsIdle: float = 60.0
    pingMin: int = 10_000
    pingMax: int = 30 * 60_000
    tokenTtl: float = 30 * 86400.0
    pullMaxBytes: int = 1024 * 1024
    dedupTtl: float = 86400.0
    recallWindow: float = 0.0
    historyMaxCount: int = 100
    maxGroupSize: int = 2000
    maxDevices: int = 10
    requestRate: float = 200.0
    requestBurst: int = 400
    loginMaxAttempts: int = 5
    codeLength: int = 6
    maxUploadSize: int = 100 * 1024 * 1024
    uploadTokenTtl: float = 3600.0
    # i12: code senders, admin API
    codeSender: str = "log"
    emailCodeSender: Optional[str] = None
    codeSenderUrl: Optional[str] = None
    codeSenderSecretFile: Optional[str] = None
    codeSenderOptions: Tuple[Tuple[str, str], ...] = ()
    smtpHost: Optional[str] = None
    smtpPort: int = 587
    smtpFrom: Optional[str] = None
    smtpStarttls: str = "require"
    smtpCaFile: Optional[str] = None
    adminCorsOrigins: Tuple[str, ...] = ()
    retentionDays: float = 0.0
    retentionInterval: float = 3600.0
    # i10a: hardening (pre-auth limits, deadlines, connection caps, list caps)
    connectTimeout: float = 30.0
    preAuthMaxFrame: int = 64 * 1024
    maxConnections: int = 20000
    maxConnectionsPerIp: int = 1000
    httpHeaderTimeout: float = 20.0
    httpBodyTimeout: float = 30.0
    httpBodyMinRate: int = 16 * 1024
    maxRequestIds: int = 2000
    # i13: agents
    #: C{(uid, url)} of every C{--agent UID=URL}.
    agents: Tuple[Tuple[str, str], ...] = ()
    agentConcurrency: int = 16
    agentUserConcurrency: int = 1
    agentConnectTimeout: float = 5.0
    agentReadTimeout: float = 60.0
    # i10b: per-user caps
    maxSessionsPerUser: int = 20
    maxGroupsPerUser: int = 500
    # i14: push, webhooks, moderation, cluster-wide limits
    pushGateway: Optional[str] = None
    pushWebhook: Optional[str] = None
    pushWebhookSecretFile: Optional[str] = None
    pusher: Optional[str] = None
    pushPreview: bool = True
    pushCollapseWindow: float = 1.0
    pushTimeout: float = 10.0
    outboxMaxAttempts: int = 10
    outboxPoll: float = 1.0
    outboxBackoff: float = 1.0
    webhookUrl: Optional[str] = None
    webhookSecretFile: Optional[str] = None
    webhookEvents: Optional[str] = None
    beforeSendUrl: Optional[str] = None
    beforeSendTimeout: float = 2.0
    beforeSendPolicy: str = "open"
    wordListFile: Optional[str] = None
    wordActionMessage: str = "reject"
    wordActionName: str = "reject"
    trustedProxies: Optional[str] = None
    limitWindow: float = 600.0
    sendCodeIpLimit: int = 0
    sendCodeAccountLimit: int = 0
    loginIpLimit: int = 0
    loginAccountLimit: int = 0
    userSendLimit: int = 0
    userSendWindow: float = 60.0
    # i15: web chat
    webRoot: Optional[str] = None
    web: bool = True
    # i11: metrics, logs
    metricsAllow: str = "127.0.0.1,::1"
    logFormat: str = "text"
    logLevel: str = "info"
    # perf-cache: send-check cache
    sendCheckCache: int = 100000
    sendCheckTtl: float = 5.0

    @classmethod
    def fromOptions(cls, options: dict) -> "Config":
        """
        Build a config from parsed L{fxim.tap.Options}.
        """
        def opt(name, convert=lambda v: v):
            value = options.get(name)
            return None if value is None else convert(value)

        kwargs = dict(
            tcp=options["tcp"], ws=options["ws"], http=options["http"],
            dataDir=options["data-dir"], database=opt("database"), redis=opt("redis"),
            redisPrefix=options["redis-prefix"],
            nodeId=int(options["node-id"]), loginCode=opt("login-code"),
            adminSecretFile=opt("admin-secret-file"), hmacKeyFile=opt("hmac-key-file"),
            disabledPlugins=tuple(options["disable-plugin"]), publicUrl=opt("public-url"),
        )
        # i12: code senders, admin API
        kwargs.update(
            codeSender=options.get("code-sender") or "log",
            emailCodeSender=opt("email-code-sender"), codeSenderUrl=opt("code-sender-url"),
            codeSenderSecretFile=opt("code-sender-secret-file"),
            codeSenderOptions=tuple(options.get("code-sender-option") or ()),
            smtpHost=opt("smtp-host"), smtpPort=int(options.get("smtp-port") or 587),
            smtpFrom=opt("smtp-from"), smtpStarttls=options.get("smtp-starttls") or "require",
            smtpCaFile=opt("smtp-ca-file"),
            adminCorsOrigins=tuple(options.get("admin-cors-origin") or ()),
            retentionDays=float(options.get("retention-days") or 0),
            retentionInterval=float(options.get("retention-interval") or 3600),
        )
        # i15: web chat
        kwargs.update(webRoot=opt("web-root"), web=not options.get("no-web"))
        for optionName, field, convert in _LIMITS:
            kwargs[field] = convert(options[optionName])
        # i13: agents
        kwargs["agents"] = tuple(options.get("agent") or ())
        # i14: push, webhooks, moderation, cluster-wide limits
        kwargs.update(
            pushGateway=opt("push-gateway"), pushWebhook=opt("push-webhook"),
            pushWebhookSecretFile=opt("push-webhook-secret-file"), pusher=opt("pusher"),
            pushPreview=options.get("push-preview", "on") != "off",
            webhookUrl=opt("webhook-url"), webhookSecretFile=opt("webhook-secret-file"),
            webhookEvents=opt("webhook-events"), beforeSendUrl=opt("before-send-url"),
            beforeSendPolicy=options.get("before-send-policy") or "open",
            wordListFile=opt("word-list-file"),
            wordActionMessage=options.get("word-action-message") or "reject",
            wordActionName=options.get("word-action-name") or "reject",
            trustedProxies=opt("trusted-proxies"),
        )
        # i11: metrics, logs
        for name, field in (("metrics-allow", "metricsAllow"), ("log-format", "logFormat"),
                            ("log-level", "logLevel")):
            if options.get(name) is not None:
                kwargs[field] = options[name]
        return cls(**kwargs)


#: (option name, Config field, converter, default, help) of every limit.
_LIMIT_SPECS = [
    ("max-frame-size", "maxFrameSize", int, "Largest TCP frame body in bytes."),
    ("max-ws-payload", "maxWsPayload", int, "Largest WebSocket message in bytes."),
    ("tcp-idle", "tcpIdle", float, "Seconds of TCP silence before closing (before any PING)."),
    ("ws-idle", "wsIdle", float, "Seconds of WebSocket silence before closing."),
    ("ping-min", "pingMin", int, "Smallest PING interval (ms) honoured; smaller ones are clamped."),
    ("ping-max", "pingMax", int, "Largest PING interval (ms) honoured; larger ones are clamped."),
    ("token-ttl", "tokenTtl", float, "Seconds a login token and its session stay valid."),
    ("pull-max-bytes", "pullMaxBytes", int, "Cap on the size of one MP result in bytes."),
    ("dedup-ttl", "dedupTtl", float, "Seconds a client's local message id is remembered."),
    ("recall-window", "recallWindow", float, "Seconds after sending a message may be recalled (0 = always)."),
    ("history-max-count", "historyMaxCount", int, "Most messages one LRM returns."),
    ("max-group-size", "maxGroupSize", int, "Most members a group may have."),
    ("max-devices", "maxDevices", int, "Most simultaneously connected devices per user."),
    ("request-rate", "requestRate", float, "Requests per second allowed per connection (sustained)."),
    ("request-burst", "requestBurst", int, "Requests allowed in a burst per connection."),
    ("login-max-attempts", "loginMaxAttempts", int, "Wrong codes accepted per sent code before it is burned."),
    ("code-length", "codeLength", int, "Digits in an SMS login code (4-6)."),
    ("max-upload-size", "maxUploadSize", int, "Largest media upload in bytes."),
    ("upload-token-ttl", "uploadTokenTtl", float, "Seconds an upload token or URL stays valid."),
    # i10a: hardening (pre-auth limits, deadlines, connection caps, list caps)
    ("connect-timeout", "connectTimeout", float,
     "Seconds a TCP/WebSocket connection may stay without an accepted CONNECT (0 = forever)."),
    ("preauth-max-frame", "preAuthMaxFrame", int,
     "Largest TCP frame body / WebSocket message accepted before CONNECT is accepted."),
    ("max-connections", "maxConnections", int,
     "Most open connections of all listeners together (0 = only the file limit)."),
    ("max-connections-per-ip", "maxConnectionsPerIp", int,
     "Most open connections from one IP address (0 = no cap)."),
    ("http-header-timeout", "httpHeaderTimeout", float,
     "Seconds an HTTP connection may take to send a request's headers (also the keep-alive idle)."),
    ("http-body-timeout", "httpBodyTimeout", float,
     "Seconds allowed for an HTTP request body, plus its length / --http-body-min-rate."),
    ("http-body-min-rate", "httpBodyMinRate", int,
     "Slowest HTTP body upload (bytes/s) the body deadline allows for."),
    ("max-request-ids", "maxRequestIds", int,
     "Most ids (users, groups, members) one request may name."),
    # i13: agents
    ("agent-concurrency", "agentConcurrency", int, "Agent questions answered at once on a node."),
    ("agent-user-concurrency", "agentUserConcurrency", int, "Agent questions of one user answered at once."),
    ("agent-connect-timeout", "agentConnectTimeout", float, "Seconds to connect to an agent endpoint."),
    ("agent-read-timeout", "agentReadTimeout", float, "Seconds to wait for an agent's next chunk."),
    # i10b: per-user caps
    ("max-sessions-per-user", "maxSessionsPerUser", int,
     "Most login sessions one user keeps; a new login evicts the oldest (0 = no cap)."),
    ("max-groups-per-user", "maxGroupsPerUser", int,
     "Most groups one user may own; GC beyond answers 245 (0 = no cap)."),
    # i14: push and the outbox
    ("push-collapse-window", "pushCollapseWindow", float,
     "Seconds a push waits so that a burst of messages in one conversation becomes one push."),
    ("push-timeout", "pushTimeout", float, "Seconds a pusher waits for the gateway or webhook."),
    ("outbox-max-attempts", "outboxMaxAttempts", int,
     "Delivery attempts of a push or webhook before it is dead-lettered."),
    ("outbox-poll", "outboxPoll", float, "Seconds between two looks at the durable outbox."),
    ("outbox-backoff", "outboxBackoff", float,
     "Seconds before the first retry of a failed delivery (doubling, at most 300)."),
    ("before-send-timeout", "beforeSendTimeout", float,
     "Seconds the before-send hook may take before its policy applies."),
    # i14: cluster-wide limits (0 = off)
    ("limit-window", "limitWindow", float, "Seconds of the /send_code and /login limit windows."),
    ("send-code-ip-limit", "sendCodeIpLimit", int, "/send_code requests per client IP per window (0: off)."),
    ("send-code-account-limit", "sendCodeAccountLimit", int,
     "/send_code requests per mobile per window (0: off)."),
    ("login-ip-limit", "loginIpLimit", int, "/login requests per client IP per window (0: off)."),
    ("login-account-limit", "loginAccountLimit", int, "/login requests per mobile per window (0: off)."),
    ("user-send-limit", "userSendLimit", int,
     "Messages a user may send per --user-send-window, over all devices and nodes (0: off)."),
    ("user-send-window", "userSendWindow", float, "Seconds of the per-user send limit window."),
    # perf-cache: send-check cache
    ("send-check-cache", "sendCheckCache", int,
     "Most send checks (sender, target, blacklist, group members) kept in memory (0: off)."),
    ("send-check-ttl", "sendCheckTtl", float,
     "Seconds a cached send check is kept at most (a safety net: changes invalidate it)."),
]
_LIMITS = [(name, field, convert) for name, field, convert, _ in _LIMIT_SPECS]


def limitParameters():
    """
    The C{optParameters} rows of every limit, with defaults from L{Config}.
    """
    defaults = Config()
    return [[name, None, getattr(defaults, field), text, convert]
            for name, field, convert, text in _LIMIT_SPECS]
