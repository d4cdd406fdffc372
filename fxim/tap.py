# -*- test-case-name: fxim.test.unit.test_tap -*-
"""
C{twistd fxim}: command-line options and the composition root that builds
every object of a node.
"""

import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from functools import partial

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.defer import TimeoutError as DeferTimeoutError
from twisted.internet.endpoints import serverFromString
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.failure import Failure

from fxim.config import Config, limitParameters
from fxim.dispatch import HandlerRegistry
from fxim import heap
from fxim.lifecycle import ListenerService, OrderedService

if TYPE_CHECKING:
    from fxim.node import Node

_log = Logger()


def versionLine() -> str:
    """
    C{fxim X (Twisted Y, Autobahn Z, Python W)}.
    """
    import platform

    import autobahn
    import twisted

    from fxim import __version__
    return (f"fxim {__version__} (Twisted {twisted.__version__}, Autobahn {autobahn.__version__}, "
            f"Python {platform.python_version()})")


class Options(usage.Options):
    """
    Options of C{twistd fxim}.
    """

    synopsis = "[options]"
    longdesc = ("Run an fxim (飞享 IM) node. With no options: a complete single-node "
                "server with embedded SQLite storage under ./fxim-data.")

    optParameters = [
        ["tcp", None, "tcp:6789", "Endpoint of the binary TCP protocol (e.g. tcp:6789:interface=127.0.0.1, ssl:...)."],
        ["ws", None, "tcp:9326", "Endpoint of the WebSocket JSON protocol."],
        ["http", None, "tcp:8081", "Endpoint of the HTTP login, admin and media API."],
        ["data-dir", None, "fxim-data", "Folder for the embedded database, keys and media."],
        ["database", None, None, "postgresql://user@host:port/db (default: SQLite under --data-dir)."],
        ["redis", None, None, "redis://host:port/db for sessions, presence and cross-node delivery."],
        ["redis-prefix", None, "fxim:", "Prefix of every Redis key and channel (one per cluster)."],
        ["node-id", None, 0, "This node's id (0-63), unique in a cluster.", int],
        ["login-code", None, None, "Accept this fixed SMS code for every mobile (demos and tests only)."],
        ["admin-secret-file", None, None, "File holding the admin API secret (no file: admin API off)."],
        ["hmac-key-file", None, None, "File holding the token signing key (default: generated in --data-dir)."],
        ["public-url", None, None, "Base URL clients reach the HTTP API at (used in media URLs)."],
    ] + limitParameters() + [
        # i12: code senders, admin API
        ["code-sender", None, "log", "Login code sender plugin (log, http, smtp or a third-party one)."],
        ["email-code-sender", None, None, "Sender for e-mail logins (default: smtp when --smtp-host is set, else --code-sender)."],
        ["code-sender-url", None, None, "The http sender's gateway URL."],
        ["code-sender-secret-file", None, None, "File with the http sender's HMAC secret (or $FXIM_CODE_SENDER_SECRET)."],
        ["smtp-host", None, None, "SMTP relay of the smtp sender (account: $FXIM_SMTP_USER, $FXIM_SMTP_PASSWORD)."],
        ["smtp-port", None, 587, "SMTP relay port.", int],
        ["smtp-from", None, None, "From address of login code mails."],
        ["smtp-starttls", None, "require", "require (default) or off (only for a relay on this host)."],
        ["smtp-ca-file", None, None, "PEM CA certificate to trust for the relay (default: the system's)."],
        ["retention-days", None, 0.0, "Delete messages older than N days in the background (0: keep forever).", float],
        ["retention-interval", None, 3600.0, "Seconds between two retention purges.", float],
        # i14: push, webhooks, moderation, cluster-wide limits
        ["push-gateway", None, None, "Matrix push gateway (e.g. Sygnal) base URL for offline push."],
        ["push-webhook", None, None, "URL receiving offline pushes as signed JSON (pusher 'webhook')."],
        ["push-webhook-secret-file", None, None, "File holding the push webhook's HMAC secret."],
        ["pusher", None, None, "Pusher plugin name (default: matrix with --push-gateway, else webhook)."],
        ["push-preview", None, "on", "on: pushes carry a text preview; off: they do not."],
        ["webhook-url", None, None, "URL receiving signed event callbacks (webhooks)."],
        ["webhook-secret-file", None, None, "File holding the HMAC secret of webhooks and the before-send hook."],
        ["webhook-events", None, None, "Comma-separated webhook events to send (default: all)."],
        ["before-send-url", None, None, "URL asked to accept, reject or rewrite every message."],
        ["before-send-policy", None, "open", "When the before-send hook fails: open (accept) or closed (refuse)."],
        ["word-list-file", None, None, "Sensitive words, one per line (UTF-8); reloadable via the admin API."],
        ["word-action-message", None, "reject", "On a sensitive word in a message: reject, drop, mask or pass."],
        ["word-action-name", None, "reject", "On a sensitive word in a nickname or group name: reject, mask or pass."],
        ["trusted-proxies", None, None, "Comma-separated proxy addresses/CIDRs whose X-Forwarded-For is believed."],
        # i15: web chat
        ["web-root", None, None, "Serve this folder at / of the HTTP port instead of the built-in web chat."],
        # i11: metrics
        ["metrics-allow", None, "127.0.0.1,::1",
         "Addresses/networks (comma-separated) allowed to GET /metrics; the admin secret as "
         "a bearer token is accepted from anywhere. Empty: the secret only."],
        # i11: configuration file and logs
        ["config", None, None, "TOML configuration file (keys: option names; see "
         "--generate-config). Precedence: flags > FXIM_* environment > file > defaults."],
        ["log-format", None, "text", "Log format: text, or json (one JSON object per line on "
         "standard output)."],
        ["log-level", None, "info", "Lowest level logged: debug, info, warn, error, critical."],
    ]

    optFlags = [
        # i15: web chat
        ["no-web", None, "Do not serve the web chat (nor /config.json) on the HTTP port."],
        # i11: configuration file
        ["generate-config", None, "Print a commented default configuration file and exit."],
    ]

    #: The environment read for FXIM_* overrides (None: os.environ).
    environ: Any = None

    def parseOptions(self, options: Any = None) -> None:
        """
        Apply the C{--config} file and C{FXIM_*} variables, then the command
        line (see L{fxim.configfile}).
        """
        import sys

        from fxim import configfile
        if options is None:
            options = sys.argv[1:]
        path, generating = configfile.findConfigArgument(options)
        if generating:
            print(configfile.generate(self))
            raise SystemExit(0)
        environ = self.environ if self.environ is not None else configfile.environment()
        configfile.apply(self, configfile.loadFile(path) if path else {}, environ)
        usage.Options.parseOptions(self, options)

    def __init__(self) -> None:
        usage.Options.__init__(self)
        self["disable-plugin"] = []
        # i12: code senders, admin API
        self["code-sender-option"] = []
        self["admin-cors-origin"] = []
        # i13: agents
        self["agent"] = []

    def opt_code_sender_option(self, value: str) -> None:
        """
        KEY=VALUE setting for a third-party code sender (repeatable).
        """
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise usage.UsageError("--code-sender-option must be KEY=VALUE")
        self["code-sender-option"].append((key, rest))

    def opt_admin_cors_origin(self, origin: str) -> None:
        """
        Allow browser pages from ORIGIN to call the admin API (repeatable;
        default: no CORS on the admin API).
        """
        if not origin.startswith(("http://", "https://")):
            raise usage.UsageError("--admin-cors-origin must be an http(s):// origin")
        self["admin-cors-origin"].append(origin.rstrip("/"))

    def opt_version(self) -> None:
        """
        Print fxim's version (and Twisted's, Autobahn's) and exit.
        """
        print(versionLine())
        raise SystemExit(0)

    def opt_disable_plugin(self, name: str) -> None:
        """
        Do not load the handler plugin NAME (repeatable).
        """
        self["disable-plugin"].append(name)

    # i13: agents
    def opt_agent(self, spec: str) -> None:
        """
        Make user UID an AI agent answered by URL: http(s)://host:port/stream,
        openai+http(s)://host:port/v1?model=NAME or plugin:NAME (repeatable).
        """
        from fxim.agents.service import AgentSpecError, parseAgentSpec
        try:
            self["agent"].append(parseAgentSpec(spec))
        except AgentSpecError as e:
            raise usage.UsageError(str(e))

    def postOptions(self) -> None:
        if not 0 <= self["node-id"] <= 63:
            raise usage.UsageError("--node-id must be between 0 and 63")
        database = self["database"]
        if database and not database.startswith(("postgresql://", "postgres://", "sqlite:")):
            raise usage.UsageError("--database must be a postgresql:// or sqlite: URL")
        if self["redis"] and not self["redis"].startswith("redis://"):
            raise usage.UsageError("--redis must be a redis:// URL")
        for name, low, high in _RANGES:
            value = self[name]
            if value < low or (high is not None and value > high):
                bound = f"at least {low}" if high is None else f"between {low} and {high}"
                raise usage.UsageError(f"--{name} must be {bound}")
        if self["ping-min"] > self["ping-max"]:
            raise usage.UsageError("--ping-min must not exceed --ping-max")
        for name in ("tcp", "ws", "http"):
            kind = self[name].split(":", 1)[0]
            if kind not in ("tcp", "tcp6", "ssl", "unix", "systemd"):
                raise usage.UsageError(f"--{name}: unsupported endpoint type {kind!r}")
        if self["public-url"] and not self["public-url"].startswith(("http://", "https://")):
            raise usage.UsageError("--public-url must be an http:// or https:// URL")
        # i12: code senders
        if self["smtp-starttls"] not in ("require", "off"):
            raise usage.UsageError("--smtp-starttls must be require or off")
        if not 0 < self["smtp-port"] < 65536:
            raise usage.UsageError("--smtp-port must be a TCP port")
        if self["retention-days"] < 0 or self["retention-interval"] < 1:
            raise usage.UsageError("--retention-days must be >= 0 and --retention-interval >= 1")
        from fxim.senders.select import checkCodeSenders
        checkCodeSenders(Config.fromOptions(self))
        # i14: push
        for name in ("push-gateway", "push-webhook"):
            if self[name] and not self[name].startswith(("http://", "https://")):
                raise usage.UsageError(f"--{name} must be an http:// or https:// URL")
        for name in ("webhook-url", "before-send-url"):
            if self[name] and not self[name].startswith(("http://", "https://")):
                raise usage.UsageError(f"--{name} must be an http:// or https:// URL")
        if (self["webhook-url"] or self["before-send-url"]) and not self["webhook-secret-file"]:
            raise usage.UsageError("--webhook-url and --before-send-url need --webhook-secret-file")
        if self["before-send-policy"] not in ("open", "closed"):
            raise usage.UsageError("--before-send-policy must be open or closed")
        if self["webhook-events"]:
            from fxim.webhooks.service import parseEvents
            try:
                parseEvents(self["webhook-events"])
            except ValueError as e:
                raise usage.UsageError(str(e))
        if self["word-action-message"] not in ("reject", "drop", "mask", "pass"):
            raise usage.UsageError("--word-action-message must be reject, drop, mask or pass")
        if self["word-action-name"] not in ("reject", "mask", "pass"):
            raise usage.UsageError("--word-action-name must be reject, mask or pass")
        if self["word-list-file"]:
            from fxim.moderation.words import loadWords
            try:
                loadWords(self["word-list-file"])
            except ValueError as e:
                raise usage.UsageError(str(e))
        if self["trusted-proxies"]:
            from fxim.limits.clientip import parseNetworks
            try:
                parseNetworks(self["trusted-proxies"])
            except ValueError as e:
                raise usage.UsageError(f"--trusted-proxies: {e}")
        if self["push-preview"] not in ("on", "off"):
            raise usage.UsageError("--push-preview must be on or off")
        # i15: web chat
        if self["web-root"] and not os.path.isdir(self["web-root"]):
            raise usage.UsageError("--web-root must be an existing folder")
        if self["log-format"] not in ("text", "json"):
            raise usage.UsageError("--log-format must be text or json")
        if self["log-level"] not in ("debug", "info", "warn", "error", "critical"):
            raise usage.UsageError("--log-level must be debug, info, warn, error or critical")
        from fxim.metrics import parseAllowList
        try:
            parseAllowList(self["metrics-allow"] or "")
        except ValueError as e:
            raise usage.UsageError(f"--metrics-allow: {e}")
        code = self["login-code"]
        if code is not None and not (code.isdigit() and 4 <= len(code) <= 8):
            raise usage.UsageError("--login-code must be 4-8 digits")


#: (option, lowest, highest or None) of every numeric limit.
_RANGES = [
    ("max-frame-size", 64, None), ("max-ws-payload", 1024, None),
    ("tcp-idle", 1, None), ("ws-idle", 1, None), ("ping-min", 1000, None), ("ping-max", 1000, None),
    ("token-ttl", 60, None), ("pull-max-bytes", 1024, None), ("dedup-ttl", 0, None),
    ("recall-window", 0, None), ("history-max-count", 1, 10000), ("max-group-size", 2, None),
    ("max-devices", 1, None), ("request-rate", 0, None), ("request-burst", 1, None),
    ("login-max-attempts", 1, None), ("code-length", 4, 6), ("max-upload-size", 1, None),
    ("upload-token-ttl", 1, None),
    # i10a: hardening
    ("connect-timeout", 0, None), ("preauth-max-frame", 1024, None), ("max-connections", 0, None),
    ("max-connections-per-ip", 0, None), ("http-header-timeout", 1, None),
    ("http-body-timeout", 1, None), ("http-body-min-rate", 1, None), ("max-request-ids", 1, None),
    # i13: agents
    ("agent-concurrency", 1, None), ("agent-user-concurrency", 1, None),
    ("agent-connect-timeout", 0.1, None), ("agent-read-timeout", 0.1, None),
    # i10b: per-user caps
    ("max-sessions-per-user", 0, None), ("max-groups-per-user", 0, None),
    # i14
    ("push-collapse-window", 0, None), ("push-timeout", 0.1, None), ("outbox-max-attempts", 1, None),
    ("outbox-poll", 0.05, None), ("outbox-backoff", 0.01, None), ("before-send-timeout", 0.05, None),
    ("limit-window", 1, None), ("send-code-ip-limit", 0, None), ("send-code-account-limit", 0, None),
    ("login-ip-limit", 0, None), ("login-account-limit", 0, None), ("user-send-limit", 0, None),
    ("user-send-window", 1, None),
    # perf-cache: send-check cache
    ("send-check-cache", 0, None), ("send-check-ttl", 0.1, None),
]


class FximService(OrderedService):
    """
    A node, as the tree of services L{makeService} builds: the store, Redis
    (with C{--redis}), presence, the Redis of the cluster-wide limits, the
    node's services (L{fxim.node.NodeService}, with its timed services as
    children), then one L{ListenerService} per port.  They start in that
    order, each once the previous one has started, so nothing listens
    before the store is open; a stop undoes them in reverse.
    L{whenReady} fires once every port listens.
    """

    def __init__(self, config: Config, registry: HandlerRegistry, reactor: Any) -> None:
        OrderedService.__init__(self)
        from fxim.node import NodeService, PresenceService, RedisService, StoreService
        self.config = config
        self.registry = registry
        self.reactor = reactor
        self.fileLimit: Optional[int] = None
        self.caps: Any = None
        self.tlsContexts: Dict[str, Any] = {}
        store = StoreService(config, reactor)
        redis = RedisService("redis", reactor, config.redis, 8) if config.redis else None
        limitsRedis = (RedisService("limits-redis", reactor, config.redis, 2) if config.redis
                       else None)
        presence = PresenceService(config, reactor, store, redis, registry.commands)
        self.nodeService = NodeService(config, reactor, registry, store, presence, limitsRedis)
        self.listeners = [
            ListenerService(name, description, partial(self._prepareListener, name, description))
            for name, description in (("tcp", config.tcp), ("ws", config.ws),
                                      ("http", config.http))]
        for service in [store, redis, limitsRedis, presence, self.nodeService, *self.listeners]:
            if service is not None:
                service.setServiceParent(self)

    #: Install the SIGHUP handler (certificate reload) and exit non-zero
    #: after a failed start; set by L{makeService}.
    handleSignals = False
    #: 1 once the start failed.
    exitStatus = 0
    #: Seconds SIGTERM may take before the process exits anyway.
    stopTimeout = 20.0

    @property
    def node(self) -> "Optional[Node]":
        """
        The L{Node} once built.
        """
        return self.nodeService.node

    @property
    def ports(self) -> List[Any]:
        """
        The listening ports.
        """
        return [listener.port for listener in self.listeners if listener.port is not None]

    def setServiceParent(self, parent: Any) -> None:
        OrderedService.setServiceParent(self, parent)
        observer = self.logObserver()
        if observer is not None and hasattr(parent, "setComponent"):
            # twistd starts logging after building the application and uses
            # an ILogObserver component of it when there is one.
            from twisted.logger import ILogObserver
            parent.setComponent(ILogObserver, observer)

    def logObserver(self) -> Any:
        """
        The observer for C{--log-format json} or a C{--log-level} other
        than info, on the real standard output (twistd later redirects
        C{sys.stdout} into the log); L{None} keeps twistd's own.
        """
        import sys

        from twisted.logger import (
            FilteringLogObserver, LogLevel, LogLevelFilterPredicate, jsonFileLogObserver,
            textFileLogObserver,
        )
        if self.config.logFormat == "text" and self.config.logLevel == "info":
            return None
        out = sys.stdout
        sink = (jsonFileLogObserver(out, recordSeparator="") if self.config.logFormat == "json"
                else textFileLogObserver(out))
        level = LogLevel.levelWithName(self.config.logLevel)
        return FilteringLogObserver(sink, [LogLevelFilterPredicate(defaultLogLevel=level)])

    def startService(self) -> None:
        _log.info("{version} starting", version=versionLine())
        # i10a: as many connections as the hard file limit allows.
        from fxim.transport.admission import ConnectionCaps, effectiveTotalCap, raiseFileLimit
        self.fileLimit = raiseFileLimit()
        if self.handleSignals:
            import signal
            # SIGHUP would otherwise end the process; the handler runs in the
            # main thread between reactor iterations, so hop back properly.
            signal.signal(signal.SIGHUP,
                          lambda *_: self.reactor.callFromThread(self.reloadCertificates))
        # i10a: one set of connection caps for every listener.
        config = self.config
        self.caps = caps = ConnectionCaps(
            self.reactor, effectiveTotalCap(config.maxConnections, self.fileLimit),
            config.maxConnectionsPerIp)
        _log.info("connection caps: {total} in all, {perIp} per IP (file limit {files}); "
                  "CONNECT within {connect}s", total=caps.maxTotal or "no cap",
                  perIp=caps.maxPerIp or "no cap", files=self.fileLimit or "unknown",
                  connect=config.connectTimeout)
        OrderedService.startService(self)
        self.whenStarted().addCallbacks(self._ready, self._startFailed)

    def whenReady(self) -> "Deferred[Optional[Node]]":
        """
        @return: a L{Deferred} firing with the L{Node} once every port
            listens.
        """
        return self.whenStarted().addCallback(lambda _: self.node)

    def _ready(self, _: None) -> None:
        if not self.running:
            return  # stopped while starting
        config = self.config
        _log.info("fxim node {node} ready, {version} (storage: {db}, presence: {presence}, plugins: {plugins})",
                  node=config.nodeId, version=versionLine(),
                  db="postgresql" if config.database else "sqlite",
                  presence="redis" if config.redis else "in-process",
                  plugins=", ".join(self.registry.plugins))
        heap.settle()

    def _startFailed(self, failure: Failure) -> None:
        from fxim.health import describeStartFailure
        message = describeStartFailure(failure.value, self.config)
        if message is None:
            _log.failure("fxim failed to start", failure)
        else:
            # An expected failure (port in use, database or Redis down, bad
            # certificate): one line saying what to do, no traceback.
            _log.critical("fxim failed to start: {message}", message=message)
        self.exitStatus = 1
        if self.handleSignals:
            _exitWithStatusAtEnd(1)
        if self.reactor.running:
            self.reactor.stop()

    def _prepareListener(self, name: str, description: str) -> Tuple[Any, Any]:
        """
        The endpoint and factory of port C{name} (called when it starts,
        once the node is built).
        """
        from fxim.transport.admission import CappedFactory
        endpoint = self._endpoint(name, description)
        factory = self.nodeService.factories[name]
        if name in self.tlsContexts:
            # TLS inside the caps: connections are counted (and refused)
            # before any TLS work, and the protocols see the TLS transport
            # itself (autobahn needs it for wss://).
            from fxim.transport.tls import wrapServerTLS
            factory = wrapServerTLS(self.tlsContexts[name], factory)
        return endpoint, CappedFactory(factory, self.caps)

    def _endpoint(self, name: str, description: str) -> Any:
        """
        The listening endpoint of port C{name}; for C{ssl:} ones a plain
        TCP endpoint, with fxim's own TLS context (ALPN that accepts
        browsers, reload on SIGHUP) in C{tlsContexts} for L{wrapServerTLS}.
        """
        description = withBacklog(description)
        if description.split(":", 1)[0] != "ssl":
            return serverFromString(self.reactor, description)
        from fxim.transport.tls import ALPN_BY_PORT, tlsServerEndpoint
        endpoint, context = tlsServerEndpoint(self.reactor, description, ALPN_BY_PORT[name])
        self.tlsContexts[name] = context
        return endpoint

    def reloadCertificates(self) -> None:
        """
        Re-read every TLS port's certificate and key (SIGHUP); a port whose
        files are unusable keeps its current ones.
        """
        from fxim.transport.tls import TLSConfigError
        if not self.tlsContexts:
            _log.info("fxim: SIGHUP: no TLS port, nothing to reload")
        for name, context in self.tlsContexts.items():
            try:
                context.reload()
            except TLSConfigError as e:
                _log.error("fxim {name}: certificate reload failed, keeping the current one: "
                           "{error}", name=name, error=str(e))
            else:
                _log.info("fxim {name}: certificate reloaded", name=name)

    def stopService(self) -> "Deferred[None]":
        def stopped(_: None) -> None:
            _log.info("fxim stopped")

        def late(failure: Failure) -> None:
            failure.trap(CancelledError, DeferTimeoutError)
            _log.warn("fxim stop took longer than {seconds} s; exiting anyway",
                      seconds=self.stopTimeout)
        d = OrderedService.stopService(self).addCallback(stopped)
        return d.addTimeout(self.stopTimeout, self.reactor).addErrback(late)


def _exitWithStatusAtEnd(status: int) -> None:
    """
    Make the process exit with C{status} once twistd has finished its own
    shutdown (pid file, logs): twistd itself always exits 0 after the
    reactor stops.
    """
    import atexit
    import sys

    def exit() -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(status)
    atexit.register(exit)


#: Listen backlog for endpoints that name none: a reconnect storm of
#: thousands of clients overflows Twisted's default of 50.
DEFAULT_BACKLOG = 1024


def withBacklog(description: str) -> str:
    """
    Add C{backlog=DEFAULT_BACKLOG} to a C{tcp:}/C{tcp6:}/C{ssl:} endpoint
    description that does not set one.
    """
    kind = description.split(":", 1)[0]
    if kind in ("tcp", "tcp6", "ssl") and "backlog=" not in description:
        return f"{description}:backlog={DEFAULT_BACKLOG}"
    return description


def makeService(options: Options, reactor: Any = None) -> FximService:
    """
    Build a node from parsed options.  Handler plugins are discovered here,
    so a conflict stops C{twistd} before anything listens.
    """
    if reactor is None:
        from twisted.internet import reactor  # type: ignore[no-redef]
    config = Config.fromOptions(options)
    if config.loginCode is not None:
        _log.warn("--login-code is set: every mobile can log in with the fixed code "
                  "(for demos and tests only)")
    registry = HandlerRegistry.fromPlugins(disabled=config.disabledPlugins)
    service = FximService(config, registry, reactor)
    service.handleSignals = True
    return service
