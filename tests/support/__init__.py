"""Helpers shared by the test modules, one module per concern; no tests and no pytest hooks here.

- ``services``: the real servers the tests talk to: PostgreSQL's connection settings
  and start-up, a redis-server on a free port.
- ``projects``: the repository root and private copies of the example project.
- ``retrieval``: the retrieval test project (``tests/retrieval_project``), its raw rows,
  builds and warehouses, and the brute-force reference lookup.
- ``online``: what the ``test_online_*`` modules share: the ``online_url`` fixture
  (each backend) and small store helpers.

Fixtures defined here are not found by pytest on their own: a test module imports
them by name (and lists them in its ``__all__``), or ``tests/conftest.py`` wraps them.
"""
