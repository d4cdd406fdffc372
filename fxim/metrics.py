# -*- test-case-name: fxim.test.e2e.test_metrics -*-
"""
Prometheus metrics of a node, served at C{GET /metrics}.

The metric objects live in one L{REGISTRY} per process (a process runs
one node); the code records at a few central points: the dispatcher
(requests, latency, rate-limit refusals), group commit (commit latency,
batch sizes, messages stored), delivery (pushes), the MP handler (pull
sizes), the HTTP login (logins and refusals) and L{fxim.health.OutageLog}
(database/Redis/disk errors).  Connections are counted at scrape time
from the node's connection table.

C{/metrics} answers only clients in C{--metrics-allow} (default
loopback) or presenting C{Authorization: Bearer <admin secret>}.
"""

import hmac
import ipaddress
import time
from bisect import bisect_left
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString
from twisted.web.resource import Resource

REGISTRY = CollectorRegistry(auto_describe=True)

class _Counted:
    """
    One labelled series of a L{LightCounter}.
    """

    __slots__ = ("value", "created")

    def __init__(self, created: float) -> None:
        self.value = 0.0
        self.created = created

    def inc(self, amount: float = 1) -> None:
        self.value += amount


class _Observed:
    """
    One labelled series of a L{LightHistogram}.
    """

    __slots__ = ("bounds", "counts", "total", "created")

    def __init__(self, bounds: Tuple[float, ...], created: float) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0
        self.created = created

    def observe(self, amount: float) -> None:
        self.counts[bisect_left(self.bounds, amount)] += 1
        self.total += amount


class _Light(Collector):
    """
    A metric of the per-request path, kept as plain numbers and turned
    into samples when scraped: C{prometheus_client}'s own take a lock and
    check their labels on every call, which cost as much as a fifth of a
    message's handling.  Updated on the reactor thread only; same names,
    labels and samples as the library's (C{_total}, C{_created},
    C{_bucket}, C{_count}, C{_sum}).
    """

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = (),
                 registry: Optional[CollectorRegistry] = None) -> None:
        self.name, self.documentation = name, documentation
        self.labelnames = tuple(labelnames)
        self._series: Dict[Tuple[str, ...], Any] = {}
        self._byValues: Dict[Tuple[Any, ...], Any] = {}
        if not self.labelnames:
            # Shown from the start, as the library's are; updated without
            # a call of ours in between.
            only = self.labels()
            if hasattr(only, "inc"):
                self.inc = only.inc  # type: ignore[method-assign]
            else:
                self.observe = only.observe  # type: ignore[method-assign]
        if registry is not None:
            registry.register(self)

    def labels(self, *values: Any) -> Any:
        series = self._byValues.get(values)
        if series is None:
            key = tuple(str(v) for v in values)
            if len(key) != len(self.labelnames):
                raise ValueError(f"{self.name}: labels {self.labelnames} expected, got {key}")
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = self._new()
            # Also under the values as given (an int code and its string
            # name the same series).
            self._byValues[values] = series
        return series

    def _new(self) -> Any:
        raise NotImplementedError()


class LightCounter(_Light):
    """
    A counter (see L{_Light}).
    """

    def _new(self) -> _Counted:
        return _Counted(time.time())

    def inc(self, amount: float = 1) -> None:
        self.labels().inc(amount)

    def collect(self) -> Iterable[Any]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for key, series in list(self._series.items()):
            family.add_metric(key, series.value, created=series.created)
        yield family


class LightHistogram(_Light):
    """
    A histogram (see L{_Light}).
    """

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = (),
                 registry: Optional[CollectorRegistry] = None, buckets: Sequence[float] = ()) -> None:
        self.bounds = tuple(float(b) for b in buckets)
        super().__init__(name, documentation, labelnames, registry)

    def _new(self) -> _Observed:
        return _Observed(self.bounds, time.time())

    def observe(self, amount: float) -> None:
        self.labels().observe(amount)

    def collect(self) -> Iterable[Any]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for key, series in list(self._series.items()):
            cumulative, buckets = 0, []
            for bound, count in zip(self.bounds + (float("inf"),), series.counts):
                cumulative += count
                buckets.append((floatToGoString(bound), cumulative))
            family.add_metric(key, buckets, series.total)
            family.samples.append(Sample(self.name + "_created",
                                         dict(zip(self.labelnames, key)), series.created))
        yield family


_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

REQUESTS = LightCounter("fxim_requests", "Requests answered, by signal/subsignal and result code",
                   ["request", "code"], registry=REGISTRY)
REQUEST_SECONDS = LightHistogram("fxim_request_seconds", "Time from dispatch to reply",
                            ["request"], buckets=_LATENCY, registry=REGISTRY)
RATE_LIMITED = Counter("fxim_rate_limited", "Requests refused by the per-connection rate limit",
                       registry=REGISTRY)
COMMIT_SECONDS = LightHistogram("fxim_store_commit_seconds",
                           "Time of one group-commit transaction (message batch)",
                           buckets=_LATENCY, registry=REGISTRY)
BATCH_SIZE = LightHistogram("fxim_store_batch_size", "Messages per group-commit transaction",
                       buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000), registry=REGISTRY)
MESSAGES_STORED = LightCounter("fxim_messages_stored", "Messages stored by group commit",
                          registry=REGISTRY)
PUSHES = LightCounter("fxim_pushes_delivered",
                 "Pushes written to connections of this node (MN and others), by kind",
                 ["kind"], registry=REGISTRY)
PULL_MESSAGES = LightHistogram("fxim_pull_messages", "Messages returned by one MP pull",
                          buckets=(0, 1, 5, 10, 50, 100, 500, 1000, 5000), registry=REGISTRY)
LOGINS = Counter("fxim_logins", "HTTP /login attempts by result (ok or the RestCode)",
                 ["result"], registry=REGISTRY)
CODE_SENDS = Counter("fxim_code_sends", "Login codes handed to a code sender, by identity kind and result",
                     ["kind", "result"], registry=REGISTRY)
DEPENDENCY_ERRORS = Counter("fxim_dependency_errors",
                            "Failures caused by an unreachable database or Redis, or a full disk",
                            ["kind"], registry=REGISTRY)


class ConnectionsCollector:
    """
    C{fxim_connections{transport}}: authenticated connections of this node.
    """

    def __init__(self, connections: Any) -> None:
        self.connections = connections

    def collect(self) -> Iterable[Any]:
        family = GaugeMetricFamily("fxim_connections", "Authenticated connections by transport",
                                   labels=["transport"])
        counts = {"tcp": 0, "ws": 0}
        for connection in list(self.connections):
            name = getattr(connection, "transportName", "?")
            counts[name] = counts.get(name, 0) + 1
        for name, count in sorted(counts.items()):
            family.add_metric([name], count)
        yield family


_collector: Optional[ConnectionsCollector] = None


def watchConnections(connections: Any) -> None:
    """
    Count C{connections} (a L{fxim.bus.local.LocalConnections}) at scrape
    time; a later call replaces the earlier table.
    """
    global _collector
    if _collector is None:
        _collector = ConnectionsCollector(connections)
        REGISTRY.register(_collector)
    _collector.connections = connections


def parseAllowList(text: str) -> List[Any]:
    """
    @param text: comma-separated addresses or networks (C{127.0.0.1,
        10.0.0.0/8}); empty: nobody.
    @raise ValueError: for a malformed entry.
    """
    return [ipaddress.ip_network(part.strip(), strict=False)
            for part in text.split(",") if part.strip()]


class ProtectedMetricsResource(Resource):
    """
    C{/metrics}: the Prometheus text format for allowed addresses or the
    admin secret as a bearer token; 403 otherwise.
    """

    isLeaf = True

    def __init__(self, allowed: List[Any], adminSecret: Optional[str] = None,
                 registry: CollectorRegistry = REGISTRY) -> None:
        Resource.__init__(self)
        from prometheus_client.twisted import MetricsResource
        self.allowed = allowed
        self._expected = (b"Bearer " + adminSecret.encode("utf-8")) if adminSecret else None
        self._metrics = MetricsResource(registry=registry)

    def _permitted(self, request: Any) -> bool:
        if self._expected is not None:
            given = request.getHeader(b"authorization") or b""
            if hmac.compare_digest(given.encode() if isinstance(given, str) else given,
                                   self._expected):
                return True
        host = getattr(request.getClientAddress(), "host", None)
        if host is None:
            return False
        try:
            address = ipaddress.ip_address(host)
        except (TypeError, ValueError):
            return False
        return any(address in network for network in self.allowed)

    def render_GET(self, request: Any) -> bytes:
        if not self._permitted(request):
            request.setResponseCode(403)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return b"forbidden: not in --metrics-allow and no valid admin bearer token\n"
        # prometheus_client's Twisted resource is a WSGIResource (it renders
        # in the reactor's thread pool).
        return self._metrics.render(request)
