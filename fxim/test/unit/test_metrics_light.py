# -*- test-case-name: fxim.test.unit.test_metrics_light -*-
"""
Tests for L{fxim.metrics.LightCounter} and L{fxim.metrics.LightHistogram}:
scraped, they read exactly as C{prometheus_client}'s own.
"""

import re

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from twisted.trial.unittest import SynchronousTestCase

from fxim.metrics import LightCounter, LightHistogram


def _scrape(registry: CollectorRegistry) -> str:
    # The _created values are times of creation: only their presence counts.
    return re.sub(r"(_created\{?[^ ]*) \S+", r"\1 T", generate_latest(registry).decode())


class LightMetricTests(SynchronousTestCase):
    """
    The same updates give the same samples, names and labels.
    """

    def _pair(self, light, library, *args, **kwargs):
        mine, theirs = CollectorRegistry(), CollectorRegistry()
        return light(*args, registry=mine, **kwargs), library(*args, registry=theirs, **kwargs), mine, theirs

    def test_counter(self):
        """
        Labelled and unlabelled counters, before and after updates.
        """
        a, b, mine, theirs = self._pair(LightCounter, Counter, "x_requests", "Requests",
                                        ["request", "code"])
        self.assertEqual(_scrape(mine), _scrape(theirs))
        for metric in (a, b):
            metric.labels("a.MS", "0").inc()
            metric.labels("a.MS", 0).inc(2)
            metric.labels("a.MP", "5").inc()
        self.assertEqual(_scrape(mine), _scrape(theirs))
        c, d, mine, theirs = self._pair(LightCounter, Counter, "x_stored", "Stored")
        self.assertEqual(_scrape(mine), _scrape(theirs))
        c.inc(3)
        d.inc(3)
        self.assertEqual(_scrape(mine), _scrape(theirs))
        self.assertIn("x_stored_total 3.0", _scrape(mine))

    def test_histogram(self):
        """
        Values on, between and beyond the bucket bounds.
        """
        a, b, mine, theirs = self._pair(LightHistogram, Histogram, "x_seconds", "Seconds",
                                        ["request"], buckets=(0.001, 0.01, 1))
        for metric in (a, b):
            for value in (0, 0.001, 0.002, 0.01, 0.5, 7):
                metric.labels("a.MS").observe(value)
        self.assertEqual(_scrape(mine), _scrape(theirs))
        c, d, mine, theirs = self._pair(LightHistogram, Histogram, "x_pulled", "Pulled",
                                        buckets=(0, 1, 5))
        self.assertEqual(_scrape(mine), _scrape(theirs))
        for metric in (c, d):
            metric.observe(0)
            metric.observe(3)
        self.assertEqual(_scrape(mine), _scrape(theirs))

    def test_wrongLabels(self):
        """
        The wrong number of label values is refused, as by the library.
        """
        counter = LightCounter("x_bad", "Bad", ["a"])
        self.assertRaises(ValueError, counter.labels, "1", "2")
