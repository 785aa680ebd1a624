"""The dbt side of a project: where it lives and what it declares, the warehouse target, running dbt.

- ``project``: finding the project on disk, its ``dbt_project.yml`` and the
  ``vars: feature_layer:`` block (the one reader of it);
- ``target``: the profile's target, rendered, as one ``Target`` object;
- ``runner``: ``dbt build`` and friends, in this process.
"""
