"""The HTTP feature server, ``featurelayer serve`` (the ``serve`` extra).

``app`` is the ASGI app and its routes (on ``asgi``, the little of HTTP it needs); ``serving`` what a worker serves
from (the registry, reloads, the online-store reader); ``feast_json`` the
request and response JSON, as Feast's feature server has them; ``metrics``
the Prometheus metrics; ``config`` the settings handed to each worker.
"""
