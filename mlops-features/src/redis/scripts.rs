//! The Lua scripts the Redis store runs on the server.

use super::*;

/// Upsert rows, newest version wins. Refuses the chunk when the group is no longer in the
/// registry (the server lost its data), and checks every key first, so a chunk with a foreign
/// key (wrong type, or a hash without a valid version) is refused before anything is written.
///
/// KEYS: the registry hash, the group's versions hash, then the entity hashes. ARGV: the group
/// name, `1` to keep versions in the versions hash (TTL groups) else `0`, then per entity:
/// version (40 digits), expiry in milliseconds from now (empty: none), the number of
/// (field, value) pairs, then the pairs. The newest version is the larger of the hash's `@v`
/// and the versions hash's entry, so a row whose hash expired still refuses older rows.
pub(super) const WRITE_LUA: &str = r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return redis.error_reply('MLOPSGONE feature group is not in the registry')
end
local keep = ARGV[2] == '1'
local stored = {}
for i = 3, #KEYS do
  local t = redis.call('TYPE', KEYS[i]).ok
  local prev = false
  if t == 'hash' then
    local v = redis.call('HGET', KEYS[i], '@v')
    if not v or #v ~= 40 or string.find(v, '%D') then
      return redis.error_reply('MLOPSBAD ' .. (i - 2) .. ' has no valid @v version field')
    end
    prev = v
  elseif t ~= 'none' then
    return redis.error_reply('MLOPSBAD ' .. (i - 2) .. ' holds a ' .. t .. ', not a hash')
  end
  if keep then
    local tv = redis.call('HGET', KEYS[2], KEYS[i])
    if tv and #tv == 40 and ((not prev) or tv > prev) then
      prev = tv
    end
  end
  stored[KEYS[i]] = prev
end
local a = 3
local written = 0
local args = {'@v'}
for i = 3, #KEYS do
  local key = KEYS[i]
  local version = ARGV[a]
  local expire = ARGV[a + 1]
  local n = tonumber(ARGV[a + 2])
  a = a + 3
  local prev = stored[key]
  if (not prev) or version >= prev then
    redis.call('DEL', key)
    args[2] = version
    for j = 0, 2 * n - 1 do
      args[3 + j] = ARGV[a + j]
    end
    redis.call('HSET', key, unpack(args, 1, 2 + 2 * n))
    if expire ~= '' then
      redis.call('PEXPIRE', key, expire)
    end
    if keep then
      redis.call('HSET', KEYS[2], key, version)
    end
    stored[key] = version
    written = written + 1
  end
  a = a + 2 * n
end
return written
";

/// Delete the hashes whose event time (first 20 digits of `@v`) is before ARGV[1].
pub(super) const EVICT_LUA: &str = r"
local n = 0
for i = 1, #KEYS do
  if redis.call('TYPE', KEYS[i]).ok == 'hash' then
    local v = redis.call('HGET', KEYS[i], '@v')
    if v and #v == 40 and string.sub(v, 1, 20) < ARGV[1] then
      redis.call('DEL', KEYS[i])
      n = n + 1
    end
  end
end
return n
";

/// Re-set the physical expiry of hashes after a TTL change, unless a writer replaced the row
/// meanwhile. KEYS: the hashes; ARGV, per key: the version the expiry was computed for, then
/// the expiry in milliseconds from now (empty: none).
pub(super) const REEXPIRE_LUA: &str = r"
local n = 0
for i = 1, #KEYS do
  if redis.call('TYPE', KEYS[i]).ok == 'hash' and
      redis.call('HGET', KEYS[i], '@v') == ARGV[2 * i - 1] then
    local e = ARGV[2 * i]
    if e == '' then
      redis.call('PERSIST', KEYS[i])
    else
      redis.call('PEXPIRE', KEYS[i], e)
    end
    n = n + 1
  end
end
return n
";

/// A transport failure (the connection is unusable), as opposed to a server reply.
pub(super) fn is_transport(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error()
}

/// The row index (0-based) and reason of a `MLOPSBAD <index> <reason>` script error
/// (`details` is what follows the error code).
pub(super) fn bad_key<'a>(code: &str, details: &'a str) -> Option<(usize, &'a str)> {
    if code != "MLOPSBAD" {
        return None;
    }
    let (index, why) = details.split_once(' ')?;
    let index: usize = index.parse().ok()?;
    Some((index.checked_sub(1)?, why))
}
