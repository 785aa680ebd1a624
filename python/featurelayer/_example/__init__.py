"""The example project's side of the package: its raw events (``data``) and what ``make demo`` shows (``demo``)."""
