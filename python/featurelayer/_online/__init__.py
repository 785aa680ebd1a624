"""Online serving: the stores, how rows are laid out in them, the sync that fills them, pushes, the read.

- ``base``: the store protocol, the write batch, URL redaction;
- ``codec``: keys and stored rows (the layout, and the byte positions the Lua scripts use);
- ``redis_store``, ``sqlite_store``: Redis (production) and SQLite (embedded); ``connect`` picks one by URL;
  ``redis_scripts``: the write rule and removal pass as Lua, which Redis runs atomically;
- ``sync``: copies each entity's latest row from the warehouse, ordered by its snapshot;
- ``push``: rows pushed online at once, ordered against syncs by the write rule's push part;
- ``read``: ``get_online_features``' read (a program per resolved request; ``request_keys`` casts the keys,
  ``online_transforms`` applies a service's transforms); ``response``: what it returns;
- ``aio``: the same reads, awaited, for a server on an event loop.
"""
