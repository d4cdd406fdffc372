# -*- test-case-name: fxim.test.unit.test_media -*-
"""
Media uploads: signed upload grants (L{fxim.media.signing}), key rules
and local file storage (L{fxim.media.storage}) and the HTTP resource
mounted at C{/media} (L{fxim.media.resource}).
"""

#: Bucket name of each media type (0 general ... 6 favorite).
BUCKETS = ("general", "image", "voice", "video", "file", "portrait", "favorite")
