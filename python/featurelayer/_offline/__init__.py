"""Training retrieval: the warehouse side.

- ``entity_rows``: a caller's entity dataframe, checked and normalised;
- ``queries``: the SQL, built on one "valid at t" rule (point-in-time join,
  rows valid now for the sync, every entity as of an instant, a lookup);
- ``base``, ``duckdb_store``, ``postgres_store``, ``warehouse``: the offline
  stores that run it, and the choice of one per target;
- ``retrieval``: ``RetrievalJob``, the prepared query and its results;
- ``lookup``: single-entity lookups for people at a terminal.
"""
