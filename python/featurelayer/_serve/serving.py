"""One worker's serving state: the registry it serves, its online-store reader, and reloads.

A reload reads the manifest anew, checks it and swaps the registry in one
assignment, so a request sees the old registry or the new one, never a mix.
A manifest that does not load keeps the old registry; the error shows in
``/health`` until a good one arrives.

A view whose definition changed in a way that changes its stored rows (its
schema tag, ``_online.codec.schema_tag``) keeps serving its old definition
until the online store's sync state shows rows of the new one: a dbt build
lands before the sync that writes the new rows, and reading the new keys
before then would answer NOT_FOUND for every entity.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from .._dbt.project import Project
from .._errors import FeatureLayerError, ValidationError
from .._online.aio import AsyncReader, open_async_reader
from .._online.base import OnlineStore, Written
from .._online.codec import view_schema_tag
from .._online.connect import open_online_store
from .._online.online_transforms import complete_online
from .._online.push import push_online
from .._online.read import ReadProgram, compile_read, decode_read, plan_read
from .._online.response import OnlineResponse
from .._registry.push_sources import PushSource
from .._registry.registry import Registry
from .._registry.resolve import ResolvedRequest, resolve_request
from .._registry.views import FeatureView
from .._store import FeatureStore
from .._time import micros, utc_naive, utc_now
from .config import ServeConfig
from .feast_json import FeaturesRequest, PushRequest

__all__ = ["ServedRead", "Serving"]

log = logging.getLogger("featurelayer.serve")


@dataclass(frozen=True)
class _Resolved:
    request: ResolvedRequest
    program: ReadProgram
    join_keys: tuple[str, ...]


class ServedRead(NamedTuple):
    """One request's answer: the response, the join keys it echoes, each feature column's view and table."""

    response: OnlineResponse
    join_keys: tuple[str, ...]
    view_of: Mapping[str, str]
    source_of: Mapping[str, str]

    def newest_events(self) -> dict[str, int]:
        """Per table read, the newest event timestamp (µs) among the rows served, for the freshness metric."""
        out: dict[str, int] = {}
        seen: set[str] = set()
        for column, view in self.view_of.items():
            if view in seen:
                continue
            seen.add(view)
            events = self.response.event_micros(column)
            if not events:
                continue
            try:
                newest = max(events)  # type: ignore[type-var]  # (every row in force: no None, one C-level pass)
            except TypeError:
                newest = max(filter(None, events), default=None)
            table = self.source_of[column]
            if newest is not None and newest > out.get(table, newest - 1):
                out[table] = newest
        return out


class Serving:
    """What a worker serves from. ``Serving.open(config)`` loads it, or raises a one-line error."""

    def __init__(
        self,
        project: Project,
        registry: Registry,
        reader: AsyncReader,
        config: ServeConfig,
        stamp: tuple[int, int] | None = None,
    ) -> None:
        self.project = project
        self.registry = registry
        self.reader = reader
        self.config = config
        self.reload_error: str | None = None
        self.loaded_at = time.time()
        self.held: dict[str, str] = {}  # views served by their old definition: name -> the new schema tag
        self._resolved: dict[tuple[Any, ...], _Resolved] = {}  # for self.registry: emptied when it is swapped
        self._stamp = stamp  # the manifest's (mtime, size) when the registry was read from it
        self._writer: OnlineStore | None = None  # the blocking store, for pushes (opened on the first)
        self._writer_lock = threading.Lock()
        self.online_url: str | None = None
        self.online_default_path = project.root / "warehouse" / "online.sqlite"
        self._reloading = asyncio.Lock()  # (a SIGHUP and the watcher: one reload at a time, the newer last)
        self._as_of = None if config.as_of is None else micros(utc_naive(config.as_of))

    @classmethod
    def open(cls, config: ServeConfig) -> Serving:
        store = FeatureStore(config.project_dir, config.profiles_dir, config.target, online_url=config.online_url)
        stamp = _manifest_stamp(store.project.manifest_path)  # (before reading: a change meanwhile is seen next)
        registry = Registry.from_project(store.project, check_fresh=False)
        reader = open_async_reader(store.online_url, store.online_default_path, timeout=config.store_timeout)
        serving = cls(store.project, registry, reader, config, stamp)
        serving.online_url, serving.online_default_path = store.online_url, store.online_default_path
        return serving

    @property
    def project_name(self) -> str:
        return self.registry.project_name

    def resolve(self, features: str | tuple[str, ...], full_feature_names: bool) -> _Resolved:
        """The resolved request, its join keys and its columns' views, cached per registry (resolution is pure)."""
        registry = self.registry
        key = (features, full_feature_names)
        cached = self._resolved.get(key)
        if cached is None:
            request = resolve_request(registry, features, full_feature_names=full_feature_names)
            join_keys = tuple(dict.fromkeys(k for ref in request.refs for k in ref.view.join_keys))
            cached = _Resolved(request, compile_read(registry.project_name, request.refs), join_keys)
            if len(self._resolved) > 512:
                self._resolved.clear()
            self._resolved[key] = cached
        return cached

    async def read(self, request: FeaturesRequest) -> ServedRead:
        """The features of one request, valid now; transforms applied. Raises ``FeatureLayerError``."""
        resolved = self.resolve(request.features, request.full_feature_names)
        program = resolved.program
        plan = plan_read(program, request.entities, request.request_data)
        raw = await self.reader.read(plan.keys)
        now = micros(utc_now()) if self._as_of is None else self._as_of
        response = complete_online(resolved.request, decode_read(program, plan, raw, now, self.reader.retention_us))
        join_keys = tuple(k for k in request.entities if k in resolved.join_keys)
        return ServedRead(response, join_keys, program.view_of, program.source_of)

    async def push(self, request: PushRequest) -> Written:
        """Writes pushed rows online at once (in a thread: the write script's round trip blocks)."""
        if request.to != "online":
            raise ValidationError(
                f'"to": {request.to!r}: only "online" is available; landing pushed rows in the warehouse is not '
                "built yet."
            )
        registry = self.registry
        source = registry.push_source(request.source)
        view = registry.feature_view(source.feature_view)
        return await asyncio.to_thread(self._push, view, source, request.rows)

    def _push(self, view: FeatureView, source: PushSource, rows: Any) -> Written:
        """In a worker thread: opening the store (a file, for SQLite) and the write both block."""
        with self._writer_lock:
            if self._writer is None:
                self._writer = open_online_store(self.online_url, self.online_default_path)
        return push_online(self.project_name, self._writer, view, source, rows, utc_now())

    async def close(self) -> None:
        await self.reader.close()
        if self._writer is not None:
            self._writer.close()

    async def unsynced_views(self) -> list[str]:
        """The views no sync has written to this online store: all of them, for a mistyped URL or path."""
        names = []
        for name, view in self.registry.feature_views.items():
            meta = await self.reader.get_meta(self.project_name, view.stored_name)
            if int(meta.get("synced_at", "0") or 0) <= 0:
                names.append(name)
        return names

    # --- reloads ---------------------------------------------------------------------------

    def manifest_changed(self) -> bool:
        return _manifest_stamp(self.registry.manifest_path) != self._stamp

    async def reload(self, why: str) -> bool:
        """Loads the manifest again and swaps the registry in; keeps the old one if it does not load."""
        async with self._reloading:
            return await self._reload(why)

    async def _reload(self, why: str) -> bool:
        stamp = _manifest_stamp(self.registry.manifest_path)
        try:  # in a thread: parsing takes tens of ms, and a manifest being written is read again until whole
            new = await asyncio.to_thread(Registry.from_project, self.project, check_fresh=False)
        except FeatureLayerError as exc:
            self._stamp = stamp  # (tried: not again until it changes)
            self.reload_error = f"the manifest changed ({why}) but does not load, still serving the previous one: {exc}"
            log.error("registry reload failed: %s", exc)
            return False
        current = self.registry
        held: dict[str, str] = {}
        views = dict(new.feature_views)
        for name, view in new.feature_views.items():
            old = current.feature_views.get(name)
            tag = view_schema_tag(view)
            if old is None or view_schema_tag(old) == tag:
                continue
            meta = await self.reader.get_meta(self.project_name, view.stored_name)
            if meta.get("schema_tag") != tag:  # no sync has written the new definition's rows yet
                views[name] = old
                held[name] = tag
        self.registry = dataclasses.replace(new, feature_views=views) if held else new
        self._resolved = {}  # (resolutions of the previous registry: never looked up again)
        self._stamp = stamp
        self.held = held
        self.reload_error = None
        self.loaded_at = time.time()
        log.info(
            "registry reloaded (%s): %d feature views%s",
            why,
            len(views),
            f"; {sorted(held)} keep their previous definition until synced" if held else "",
        )
        return True

    async def check(self) -> None:
        """The watcher's tick: reload on a new manifest, or once a held view's new rows are synced."""
        if self.manifest_changed():
            await self.reload("manifest.json changed")
        elif self.held:
            for name, tag in self.held.items():
                meta = await self.reader.get_meta(self.project_name, self.registry.feature_views[name].stored_name)
                if meta.get("schema_tag") == tag:
                    await self.reload(f"'{name}' synced with its new definition")
                    return


def _manifest_stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size
