# -*- test-case-name: fxim.test.unit.test_http -*-
"""
Transports: TCP frames, WebSocket JSON, HTTP.
"""
