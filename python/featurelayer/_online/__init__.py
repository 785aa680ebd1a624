"""Online serving: the stores, how rows are laid out in them, the sync that fills them, the read.

- ``base``: the store protocol, the write batch, URL redaction;
- ``codec``: keys and stored rows (the layout, and the byte positions the Lua scripts use);
- ``redis_store``, ``sqlite_store``: Redis (production) and SQLite (embedded); ``connect`` picks one by URL;
- ``sync``: copies each entity's latest row from the warehouse, ordered by its snapshot;
- ``read``: ``get_online_features``' read and its transforms; ``response``: what it returns.
"""
