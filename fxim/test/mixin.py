"""
A base for test mixins that use the test case's methods (C{addCleanup},
assertions): L{twisted.trial.unittest.TestCase} for the type checker,
L{object} at run time, so trial still collects only the concrete classes.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twisted.trial.unittest import TestCase as TestCaseMixin
else:
    TestCaseMixin = object

__all__ = ["TestCaseMixin"]
