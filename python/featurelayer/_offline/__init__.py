"""Training retrieval: the warehouse side.

- ``entity_rows``: a caller's entity dataframe, checked and normalised;
- ``guard``: a caller's entity_df SQL, parsed and let through only as a query;
- ``queries``: the SQL, built on one "valid at t" rule (point-in-time join,
  each entity's latest row and the table's version for the sync, every entity
  as of an instant, a lookup);
- ``base``, ``duckdb_store``, ``postgres_store``, ``warehouse``: the offline
  stores that run it, and the choice of one per target;
- ``spill``: a sync's snapshot on local disk, so the warehouse is held only
  while it is read;
- ``retrieval``: ``RetrievalJob``, the prepared query and its results;
- ``lookup``: single-entity lookups for people at a terminal.
"""
