"""The one request/response core both HTTP clients share.

``endpoints`` describes each endpoint (and builds an ``ApiCall``); ``answers`` and ``failures``
say what an answer, or its absence, means; ``normalize`` turns both API revisions into one
shape. ``sync_transport`` (requests, on workers) and ``async_transport`` (aiohttp, in the
triggerer) only do I/O. Nothing here is imported by a DAG parse.
"""
