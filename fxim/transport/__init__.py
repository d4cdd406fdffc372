"""
Transports: TCP frames, WebSocket JSON, HTTP.
"""
