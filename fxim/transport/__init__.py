# -*- test-case-name: fxim.test.test_http -*-
"""
Transports: TCP frames, WebSocket JSON, HTTP.
"""
