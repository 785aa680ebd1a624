"""The registry: what a project declares, read from dbt's manifest and ``dbt_project.yml``.

- ``views``: entities, features and feature views;
- ``services``: feature services (dbt exposures) and request sources;
- ``push_sources``: push sources (dbt sources marked ``push_source``) and the fields a pushed row holds;
- ``manifest``: reading the manifest's models into feature views, with the checks;
- ``ttl``: ttl strings to seconds and back;
- ``resolve``: feature references and services resolved into one request, for both stores;
- ``registry``: ``Registry``, all of it for one project, with lookups that suggest close names.
"""
