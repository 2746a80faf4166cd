import { createHash } from 'node:crypto';

/** A Lua script and its SHA-1, so it runs by EVALSHA and is sent in full only when the server lacks it. */
export interface RedisScript {
  readonly lua: string;
  readonly sha: string;
}

function script(lua: string): RedisScript {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

// Session hashes keep every field as its JSON text except `userId`, which is
// kept raw so a script can build the user's index key from it. A session is
// live exactly when its `revokedAt` field reads `null`; HGET through pcall so a
// key of the wrong type reads as "not live" instead of failing the script.
const isLive = (key: string): string => `redis.pcall('HGET', ${key}, 'revokedAt') == 'null'`;

/**
 * Writes a session hash, sets its TTL and adds it to the user's index, whose
 * own TTL only ever grows so it outlives every session it lists.
 * KEYS[sessionKey], KEYS[indexKey]; ARGV[id], ARGV[createdAt], ARGV[expiresAt], ARGV[firstField]…
 */
const insertSession = (
  sessionKey: string,
  indexKey: string,
  id: string,
  createdAt: string,
  expiresAt: string,
  firstField: number,
): string => `
redis.call('DEL', ${sessionKey})
redis.call('HSET', ${sessionKey}, unpack(ARGV, ${firstField}))
redis.call('PEXPIREAT', ${sessionKey}, ${expiresAt})
if redis.call('EXISTS', ${sessionKey}) == 1 then
  local fresh = redis.call('EXISTS', ${indexKey}) == 0
  redis.call('ZADD', ${indexKey}, ${createdAt}, ${id})
  if fresh then
    redis.call('PEXPIREAT', ${indexKey}, ${expiresAt})
  else
    redis.call('PEXPIREAT', ${indexKey}, ${expiresAt}, 'GT')
  end
end
`;

/**
 * KEYS: session, index. ARGV: session key base, id, createdAt, expiresAt, cap
 * (0 for none), field/value pairs. Returns the evicted ids.
 */
export const createSessionScript = script(`
local evicted = {}
local cap = tonumber(ARGV[5])
if cap > 0 then
  local live = {}
  for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if ${isLive('ARGV[1] .. member')} then
      live[#live + 1] = member
    else
      redis.call('ZREM', KEYS[2], member)
    end
  end
  for i = 1, #live - (cap - 1) do
    redis.call('HSET', ARGV[1] .. live[i], 'revokedAt', ARGV[3])
    redis.call('ZREM', KEYS[2], live[i])
    evicted[#evicted + 1] = live[i]
  end
end
${insertSession('KEYS[1]', 'KEYS[2]', 'ARGV[2]', 'ARGV[3]', 'ARGV[4]', 6)}
return evicted
`);

/**
 * KEYS: session. ARGV: index key base (without the user id), new expiresAt
 * or "", field/value pairs. Returns 1 when the live session was patched.
 */
export const updateSessionScript = script(`
if not (${isLive('KEYS[1]')}) then return 0 end
if #ARGV >= 3 then redis.call('HSET', KEYS[1], unpack(ARGV, 3)) end
if ARGV[2] ~= '' then
  -- The index key is not declared: it is derived from the stored user id and,
  -- by the hash tag, lives in the session's slot.
  local userId = redis.call('HGET', KEYS[1], 'userId')
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
  if userId then redis.call('PEXPIREAT', ARGV[1] .. userId, ARGV[2], 'GT') end
end
return 1
`);

/**
 * KEYS: old session, new session, index. ARGV: old id, new id, createdAt,
 * expiresAt, user id, field/value pairs. Returns 1 rotated, 0 not live, -1
 * when the old session belongs to another user.
 */
export const rotateSessionScript = script(`
if not (${isLive('KEYS[1]')}) then return 0 end
if redis.call('HGET', KEYS[1], 'userId') ~= ARGV[5] then return -1 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[1])
${insertSession('KEYS[2]', 'KEYS[3]', 'ARGV[2]', 'ARGV[3]', 'ARGV[4]', 6)}
return 1
`);

/** KEYS: session. ARGV: revokedAt. Returns 1 when a live session was revoked. */
export const revokeSessionScript = script(`
if not (${isLive('KEYS[1]')}) then return 0 end
redis.call('HSET', KEYS[1], 'revokedAt', ARGV[1])
return 1
`);

/**
 * KEYS: index. ARGV: session key base, revokedAt, id to keep (or ""). Revokes
 * every live session in the index but the kept one, prunes what is not live,
 * and returns the revoked ids.
 */
export const revokeUserSessionsScript = script(`
local revoked = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if not (${isLive('ARGV[1] .. member')}) then
    redis.call('ZREM', KEYS[1], member)
  elseif member ~= ARGV[3] then
    redis.call('HSET', ARGV[1] .. member, 'revokedAt', ARGV[2])
    redis.call('ZREM', KEYS[1], member)
    revoked[#revoked + 1] = member
  end
end
return revoked
`);

/**
 * KEYS: index. ARGV: session key base. Returns [id, [field, value, …], …] for
 * the live sessions, oldest first, and prunes the rest from the index.
 */
export const listUserSessionsScript = script(`
local records = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local key = ARGV[1] .. member
  if ${isLive('key')} then
    records[#records + 1] = member
    records[#records + 1] = redis.call('HGETALL', key)
  else
    redis.call('ZREM', KEYS[1], member)
  end
end
return records
`);

/** KEYS: index. ARGV: session key base. Removes entries that are not live; returns how many. */
export const pruneIndexScript = script(`
local pruned = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if not (${isLive('ARGV[1] .. member')}) then
    redis.call('ZREM', KEYS[1], member)
    pruned = pruned + 1
  end
end
return pruned
`);
