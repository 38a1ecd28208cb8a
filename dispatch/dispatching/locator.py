"""Available members in Redis GEO sets, and the atomic nearest-member claim.

Keys (prefix ``sl:``):
- ``sl:member:{id}``: hash lat, lon, cap, load, cats (newline-joined), duty, geokey.
- ``sl:geo:t:{town}``: town- and village-level members of a town who can take one more case.
- ``sl:geo:d``: district-level members who can take one more case.
- ``sl:locator:ready``: set once the sets were rebuilt from the database (absent after a Redis restart).

The database stays the truth; the sets are rebuilt from it whenever ``ready`` is missing. A claim runs as
one Lua script, so two cases can never take a member's last slot.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError

from dispatch.broker import get_broker

log = logging.getLogger(__name__)

PREFIX = "sl:member:"
READY = "sl:locator:ready"
REBUILD_LOCK = "sl:locator:rebuilding"
UNLOCK = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
DISTRICT_KEY = "sl:geo:d"


def town_key(town_code: str) -> str:
    return f"sl:geo:t:{town_code}"


def geo_key(level: str, town_code: str | None) -> str | None:
    if level == "district":
        return DISTRICT_KEY
    return town_key(town_code) if town_code else None


_COMMON = """
local PREFIX = 'sl:member:'
local function refresh(id)
  local key = PREFIX .. id
  local h = redis.call('HMGET', key, 'lat', 'lon', 'cap', 'load', 'duty', 'geokey')
  if not h[6] or h[6] == '' then return end
  if h[5] == '1' and h[1] and h[1] ~= '' and tonumber(h[4] or '0') < tonumber(h[3] or '0') then
    redis.call('GEOADD', h[6], h[2], h[1], id)
  else
    redis.call('ZREM', h[6], id)
  end
end
"""

# KEYS: member hash. ARGV: id, lat, lon, cap, cats, duty, geokey, load ('' keeps the current load)
SYNC = (
    _COMMON
    + """
local key = KEYS[1]
local old = redis.call('HGET', key, 'geokey')
if old and old ~= '' then redis.call('ZREM', old, ARGV[1]) end
redis.call('HSET', key, 'lat', ARGV[2], 'lon', ARGV[3], 'cap', ARGV[4], 'cats', ARGV[5], 'duty', ARGV[6],
  'geokey', ARGV[7])
if ARGV[8] ~= '' then redis.call('HSET', key, 'load', ARGV[8])
elseif not redis.call('HGET', key, 'load') then redis.call('HSET', key, 'load', 0) end
refresh(ARGV[1])
return 1
"""
)

# KEYS: GEO sets in priority order. ARGV: lon, lat, radius_m, category, ',excluded,ids,'
CLAIM = (
    _COMMON
    + """
if redis.call('EXISTS', 'sl:locator:ready') == 0 then return {'rebuild'} end
local lon = tonumber(ARGV[1]); local lat = tonumber(ARGV[2]); local radius = tonumber(ARGV[3])
local cat = ARGV[4]; local excluded = ARGV[5]
local R = 6371008.8
local rad = math.pi / 180
local function hav(lat1, lon1, lat2, lon2)
  local dlat = (lat2 - lat1) * rad
  local dlon = (lon2 - lon1) * rad
  local a = math.sin(dlat / 2) ^ 2 + math.cos(lat1 * rad) * math.cos(lat2 * rad) * math.sin(dlon / 2) ^ 2
  return 2 * R * math.asin(math.min(1, math.sqrt(a)))
end
local function takes(cats)
  if cat == '' or not cats or cats == '' then return true end
  for c in string.gmatch(cats, '[^\\n]+') do
    if cat == c or string.sub(cat, 1, #c + 1) == c .. '/' then return true end
  end
  return false
end
-- The nearest eligible member within circle r of one set (r + 50 m: geohash distances are approximate).
local function search(gkey, r)
  local count = 32
  while true do
    local res = redis.call('GEOSEARCH', gkey, 'FROMLONLAT', lon, lat, 'BYRADIUS', r + 50, 'm',
      'ASC', 'COUNT', count, 'WITHDIST')
    local best, bestd, settled = nil, nil, false
    for _, item in ipairs(res) do
      local id = item[1]
      local gd = tonumber(item[2])
      if bestd and gd > bestd + 5 then settled = true; break end
      if not string.find(excluded, ',' .. id .. ',', 1, true) then
        local h = redis.call('HMGET', PREFIX .. id, 'lat', 'lon', 'cap', 'load', 'cats', 'duty')
        if h[6] == '1' and tonumber(h[4]) < tonumber(h[3]) and takes(h[5]) then
          local d = hav(lat, lon, tonumber(h[1]), tonumber(h[2]))
          if d <= radius and (not bestd or d < bestd or (d == bestd and tonumber(id) < tonumber(best))) then
            best, bestd = id, d
          end
        end
      end
    end
    if settled or #res < count then return best, bestd end
    count = count * 4
  end
end
-- GEOSEARCH costs grow with every member inside the circle, so look near first: a best member within the
-- step's radius is final (anyone nearer lies inside the same circle); otherwise widen.
for _, gkey in ipairs(KEYS) do
  for _, step in ipairs({300, 1200, radius}) do
    local r = math.min(step, radius)
    local best, bestd = search(gkey, r)
    if best and (bestd <= r or r >= radius) then
      redis.call('HINCRBY', PREFIX .. best, 'load', 1)
      refresh(best)
      return {best, tostring(bestd)}
    end
    if r >= radius then break end
  end
end
return {}
"""
)

# KEYS: member hash. ARGV: id, delta (+1 take, -1 release)
ADJUST = (
    _COMMON
    + """
local load = redis.call('HINCRBY', KEYS[1], 'load', tonumber(ARGV[2]))
if load < 0 then redis.call('HSET', KEYS[1], 'load', 0); load = 0 end
refresh(ARGV[1])
return load
"""
)


@dataclass(frozen=True)
class MemberState:
    id: int
    lat: float | None
    lon: float | None
    capacity: int
    load: int
    categories: list[str]
    on_duty: bool
    level: str
    town_code: str | None


@dataclass(frozen=True)
class Claim:
    member_id: int
    distance_m: float


class NeedsRebuild(Exception):
    """The GEO sets are gone (Redis restarted or was flushed)."""


class LocatorBusy(RedisError):
    """Another process is rebuilding the sets; dispatch waits (like a Redis outage) and the sweeper retries."""


def _claim_call(lat, lon, town_code, category, radius_m, excluded) -> dict:
    keys = ([town_key(town_code)] if town_code else []) + [DISTRICT_KEY]
    excl = "," + ",".join(str(i) for i in excluded) + ","
    return {"keys": keys, "args": [lon, lat, radius_m, category or "", excl]}


def _claimed(res) -> Claim | None | NeedsRebuild:
    if res and res[0] == "rebuild":
        return NeedsRebuild()
    return Claim(int(res[0]), float(res[1])) if res else None


class Locator:
    def __init__(self, r: Redis) -> None:
        self.r = r
        self._sync = r.register_script(SYNC)
        self._claim = r.register_script(CLAIM)
        self._adjust = r.register_script(ADJUST)
        self._unlock = r.register_script(UNLOCK)
        self.suspects: dict[int, tuple[int | None, int]] = {}  # load mismatches seen once (reconciliation)

    def sync(self, m: MemberState, *, set_load: bool = False, client=None) -> None:
        has_pos = m.lat is not None and m.lon is not None
        gkey = geo_key(m.level, m.town_code) if has_pos else None
        self._sync(
            keys=[PREFIX + str(m.id)],
            args=[
                m.id,
                m.lat if has_pos and m.lat is not None else "",
                m.lon if has_pos and m.lon is not None else "",
                m.capacity,
                "\n".join(m.categories),
                1 if m.on_duty else 0,
                gkey or "",
                m.load if set_load else "",
            ],
            client=client,
        )

    def rebuild(
        self, members: list[MemberState] | Callable[[], list[MemberState]], *, if_missing: bool = False
    ) -> bool:
        """Replace every set and member hash from the database's view; returns whether it rebuilt.

        One process at a time (a lock); ``ready`` is cleared first, so claims meanwhile wait instead of
        seeing half-built sets. ``if_missing``: only when the sets are still not ready once the lock is held —
        a second rebuild right after another one would reset the loads of slots claimed but not yet committed.
        ``members`` may be a function, called under the lock.
        """
        token = secrets.token_hex(8)
        if not self.r.set(REBUILD_LOCK, token, nx=True, ex=300):
            raise LocatorBusy("the dispatcher's member sets are being rebuilt")
        try:
            if if_missing and self.r.exists(READY):
                return False
            if callable(members):
                members = members()
            self.r.delete(READY)
            stale = list(self.r.scan_iter(match="sl:geo:*", count=1000))
            stale += list(self.r.scan_iter(match=PREFIX + "*", count=1000))
            for i in range(0, len(stale), 5000):
                self.r.delete(*stale[i : i + 5000])
            for i in range(0, len(members), 5000):
                pipe = self.r.pipeline(transaction=False)
                for m in members[i : i + 5000]:
                    self.sync(m, set_load=True, client=pipe)
                pipe.execute()
            self.r.set(READY, "1")
        finally:
            self._unlock(keys=[REBUILD_LOCK], args=[token])
        log.info("locator rebuilt with %d members", len(members))
        return True

    def claim(
        self,
        lat: float,
        lon: float,
        town_code: str | None,
        category: str | None,
        radius_m: float,
        excluded: list[int],
    ) -> Claim | None:
        """Atomically take a slot of the nearest eligible member; None when nobody is left."""
        res = self._claim(**_claim_call(lat, lon, town_code, category, radius_m, excluded))
        if isinstance(out := _claimed(res), NeedsRebuild):
            raise out
        return out

    def claim_many(self, requests: list[tuple]) -> list[Claim | None | NeedsRebuild]:
        """``claim`` for several cases (each a tuple of ``claim``'s arguments) in one round trip: the scripts
        run one after another, in order. A request that found the sets gone gets a NeedsRebuild in its place."""
        pipe = self.r.pipeline(transaction=False)
        for request in requests:
            self._claim(**_claim_call(*request), client=pipe)
        return [_claimed(res) for res in pipe.execute()]

    def take(self, member_id: int) -> int:
        """Count one more case against a member (manual assignment), whatever the capacity."""
        return int(self._adjust(keys=[PREFIX + str(member_id)], args=[member_id, 1]))

    def release(self, member_id: int) -> int:
        return int(self._adjust(keys=[PREFIX + str(member_id)], args=[member_id, -1]))

    def is_ready(self) -> bool:
        return bool(self.r.exists(READY))

    def loads(self, member_ids: list[int]) -> dict[int, int | None]:
        """The load counters as Redis holds them (None for a member Redis does not know)."""
        pipe = self.r.pipeline(transaction=False)
        for member_id in member_ids:
            pipe.hget(PREFIX + str(member_id), "load")
        return {m: None if v is None else int(v) for m, v in zip(member_ids, pipe.execute(), strict=True)}


def get_locator() -> Locator:
    broker = get_broker()
    loc = getattr(broker, "_locator", None)
    if loc is None:
        loc = broker._locator = Locator(broker.r)
    return loc
