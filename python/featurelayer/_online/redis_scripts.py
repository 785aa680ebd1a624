"""The Lua scripts of the Redis store: the write rule, the removal pass, the watermark's advance.

They run inside Redis, atomically per call, so each key is changed old-or-new
whatever happens to the client; ``redis_store`` registers and calls them, and
``sqlite_store`` applies the same rules in Python (docs/online-store.md).
"""

from __future__ import annotations

import string

from .codec import FIELD_AT, TOMBSTONE_EVENT, TOMBSTONE_VALID_TO, VALUES_AT

__all__ = ["ADVANCE_LUA", "REMOVE_LUA", "WRITE_LUA"]

# The scripts' byte positions come from the codec's layout (codec.FIELD_AT, counted from 1
# as Lua counts): a header field's 0xd3 marker is the byte before it, its 8 bytes from it.
_LAYOUT = {
    "valid_to": FIELD_AT["valid_to"],
    "event": FIELD_AT["event"],
    "snapshot": FIELD_AT["snapshot"],
    "seen": FIELD_AT["seen"],
    "seen_end": FIELD_AT["seen"] + 7,
    "before_seen": FIELD_AT["seen"] - 1,
    "values": VALUES_AT,
    "header_end": VALUES_AT - 1,
    "tombstone": TOMBSTONE_VALID_TO,
    "tombstone_event": TOMBSTONE_EVENT,
    "markers": " and ".join(f"string.byte(row, {at - 1}) == 0xd3" for at in FIELD_AT.values()),
}

# Helpers of both scripts: whether a stored value is a row of this layout, a header field,
# whether a row is a tombstone, and a row with another row's `seen` bytes.
_ROW_LUA = """
local function ours(row)
  return #row >= $header_end and string.byte(row, 1) == 0xdc and $markers
end
local function field(row, at)
  return (struct.unpack('>i8', row, at))
end
local function tomb(row)
  return field(row, $valid_to) == $tombstone and field(row, $event) == $tombstone_event
end
local function with_seen(row, from)
  return string.sub(row, 1, $before_seen) .. string.sub(from, $seen, $seen_end) .. string.sub(row, $values)
end
"""

# The write rule (docs/online-store.md), many rows per call. KEYS: the rows' keys.
# ARGV[1]: the snapshot the sync read, or -(pushed at, µs) for a push; ARGV[2]: its now (µs);
# ARGV[3]: the view's landing window (µs: how long a pushed row may take to reach the
# warehouse); then for each key the row as
# stored (codec: a MessagePack array whose valid_to, event, snapshot and seen are int64s at
# fixed byte positions, seen = now), then for each key its expiry in ms ('' = never).
# A row is stored when (snapshot, event) >= the stored row's: a newer snapshot always wins
# (rollbacks and retractions propagate), within one snapshot the row valid later wins, an
# equal row is rewritten (idempotent). A row refused within the same snapshot still raises
# the stored `seen` to now (the sync saw the entity, so its removal pass keeps the key); a
# stored row keeps a later `seen` of its snapshot. Snapshots and µs timestamps compare
# exactly as Lua numbers (doubles) up to 2^53 µs, the year 2255; `seen` is moved as its 8
# bytes. A value in no layout featurelayer knows (hand-written, or from an older version)
# is replaced. A script runs atomically: each key is old or new, whatever happens to the
# client. A push (negative snapshot) is stored when its event is at least the stored row's,
# pushed or synced; a synced row replaces a pushed one when its event is newer, or as new from
# a build that started after the push (the warehouse caught up), or when its snapshot is at
# least the push's time plus the landing window (the warehouse should hold the push by then:
# it was retracted or lost).
# Returns {rows stored, keys that held no row (nothing, a tombstone, a foreign value)}.
WRITE_LUA = string.Template(
    _ROW_LUA
    + """
local v, now, landing, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), #KEYS
local stored, created = 0, 0
for i = 1, n do
  local value, px = ARGV[i + 3], ARGV[n + i + 3]
  local cur = redis.call('GET', KEYS[i])
  local write, new = true, true
  if cur and ours(cur) then
    local cv, ce, cs = field(cur, $snapshot), field(cur, $event), field(cur, $seen)
    new = tomb(cur)
    if v < 0 or cv < 0 then
      local e = field(value, $event)
      if v < 0 then
        write = e >= ce
      else
        write = e > ce or (e == ce and v >= -cv) or v >= -cv + landing
      end
    elseif v < cv or (v == cv and field(value, $event) < ce) then
      write = false
      if v == cv and cs < now then
        redis.call('SET', KEYS[i], with_seen(cur, value), 'KEEPTTL')
      end
    elseif v == cv and cs > now then
      value = with_seen(value, cur)
    end
  end
  if write then
    if px == '' then
      redis.call('SET', KEYS[i], value)
    else
      redis.call('SET', KEYS[i], value, 'PX', px)
    end
    stored = stored + 1
    if new then created = created + 1 end
  end
end
return {stored, created}
"""
).substitute(_LAYOUT)

# A full sync's removal pass. KEYS: keys of a view; ARGV: the full sync's snapshot, its now
# (µs), the retention (µs), the tombstone to store, its lifetime (ms), '1' for a dry run, the
# view's landing window (µs). Each row whose (snapshot, seen) is older than the full sync's
# was in no snapshot as new as its own, at its instant: it becomes a tombstone (read as not
# found; an older snapshot cannot overwrite it). Rows written or seen by this sync or a newer
# one stay, and so does a pushed row the snapshot may not hold yet (pushed less than the
# landing window before it). A value in
# another layout (an older featurelayer's, unreachable for readers of this one, whose keys
# differ) is deleted. Returns {removed (in force or expired within the retention), aged
# (retention passed, or foreign), live (rows left)}.
REMOVE_LUA = string.Template(
    _ROW_LUA
    + """
local v, now, retention = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local grave, grave_px, dry, landing = ARGV[4], ARGV[5], ARGV[6] == '1', tonumber(ARGV[7])
local removed, aged, live = 0, 0, 0
for i = 1, #KEYS do
  local cur = redis.call('GET', KEYS[i])
  if cur then
    if not ours(cur) then
      aged = aged + 1
      if not dry then redis.call('DEL', KEYS[i]) end
    elseif not tomb(cur) then
      local cv, cs = field(cur, $snapshot), field(cur, $seen)
      local unseen
      if cv < 0 then unseen = v >= -cv + landing else unseen = cv < v or (cv == v and cs < now) end
      if unseen then
        local cx = field(cur, $valid_to)
        if cx ~= -1 and cx + retention <= now then aged = aged + 1 else removed = removed + 1 end
        if not dry then redis.call('SET', KEYS[i], grave, 'PX', grave_px) end
      else
        live = live + 1
      end
    end
  end
end
return {removed, aged, live}
"""
).substitute(_LAYOUT)

# KEYS[1]: a view's meta hash; ARGV: field, value, field, value, ...: each integer field is
# raised to the value, never lowered (a slower sync finishing late cannot pull a watermark back).
ADVANCE_LUA = """
for i = 1, #ARGV, 2 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if not cur or tonumber(ARGV[i + 1]) > tonumber(cur) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
return 0
"""
