"""On-demand transforms: one definition, computed identically offline and online.

- ``definitions``: SQL-expression and Python transforms, their grammar and pinned semantics;
- ``to_sql``: offline, into the training query (the warehouse computes it);
- ``to_arrow``: online and for Python-side tables, vectorized pyarrow.compute;
- ``to_python``: online, a generated Python loop over a request's few plain values;
- ``bound``: a transform within one request, its compiled forms kept;
- ``apply``: running a request's transforms over a table.

Each compiler is one dispatch table over ``definitions.GRAMMAR``
(like sqlglot's ``Generator.TRANSFORMS``); a test checks every table covers it.
``to_python`` also has a faster path for the expressions that are NULL exactly
when an input is (``_strict``): a subset, which falls back to its table.
"""
