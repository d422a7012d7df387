"""The API's routes, one ``APIRouter`` per concern; ``app.api.factory`` includes them in this order.

- ``ask``: ``POST /ask``, the answer streamed as server-sent events (``app.api.stream``).
- ``collections``, ``documents``: what the caller may read; upload and delete for admins.
- ``service``: ``/health`` and ``/metrics``.

The routers are module-level and shared by every app a process builds; each route finds its app's
parts and counters through the ``State`` dependency (``app.api.state``). No
``from __future__ import annotations`` in these modules: FastAPI reads the routes' annotations.
"""
