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

// Scripts that end a session or replace its data publish its id on the store's
// invalidation channel, inside the same atomic step, so every writer (any
// instance, the CLI) tells every near cache. Plain PUBLISH: keyspace
// notifications need \`notify-keyspace-events\` in the server's configuration,
// which managed Redis services often forbid changing, and RESP3 client-side
// caching (CLIENT TRACKING) is not supported by ioredis. On a Cluster a
// classic PUBLISH reaches the subscribers of every node over the cluster bus.
const publish = (channel: string, message: string): string =>
  `if ${channel} ~= '' then redis.call('PUBLISH', ${channel}, ${message}) end`;

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
 * KEYS: session, index. ARGV: id, createdAt, expiresAt, field/value pairs.
 * Eviction beyond a cap is the engine's, on top of this and the other primitives.
 */
export const createSessionScript = script(`
${insertSession('KEYS[1]', 'KEYS[2]', 'ARGV[1]', 'ARGV[2]', 'ARGV[3]', 4)}
return 1
`);

/**
 * KEYS: session. ARGV: index key base (without the user id), new expiresAt
 * or "", invalidation channel or "" (a renewal does not publish), session id,
 * field/value pairs. Returns the patched hash; empty when not live.
 */
export const updateSessionScript = script(`
if not (${isLive('KEYS[1]')}) then return {} end
if #ARGV >= 5 then redis.call('HSET', KEYS[1], unpack(ARGV, 5)) end
${publish('ARGV[3]', 'ARGV[4]')}
if ARGV[2] ~= '' then
  -- The index key is not declared: it is derived from the stored user id and,
  -- by the hash tag, lives in the session's slot.
  local userId = redis.call('HGET', KEYS[1], 'userId')
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
  if userId then redis.call('PEXPIREAT', ARGV[1] .. userId, ARGV[2], 'GT') end
end
return redis.call('HGETALL', KEYS[1])
`);

/**
 * KEYS: session. ARGV: the `data` text as read, the merged `data` text,
 * invalidation channel or "", session id. Sets the merged data only while the
 * stored text is still the one read (a data merge is computed by the client,
 * then compared and set here in one step). Returns the patched hash; empty
 * when not live; 0 when the data changed meanwhile.
 */
export const mergeSessionDataScript = script(`
if not (${isLive('KEYS[1]')}) then return {} end
if redis.call('HGET', KEYS[1], 'data') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[2])
${publish('ARGV[3]', 'ARGV[4]')}
return redis.call('HGETALL', KEYS[1])
`);

/**
 * KEYS: old session, new session, index. ARGV: old id, new id, createdAt,
 * expiresAt, user id, invalidation channel, field/value pairs. Returns 1
 * rotated, 0 not live, -1 when the old session belongs to another user.
 */
export const rotateSessionScript = script(`
if not (${isLive('KEYS[1]')}) then return 0 end
if redis.call('HGET', KEYS[1], 'userId') ~= ARGV[5] then return -1 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[1])
${insertSession('KEYS[2]', 'KEYS[3]', 'ARGV[2]', 'ARGV[3]', 'ARGV[4]', 7)}
${publish('ARGV[6]', 'ARGV[1]')}
return 1
`);

/** KEYS: session. ARGV: revokedAt, invalidation channel, id. Returns the revoked hash; empty when it was not live. */
export const revokeSessionScript = script(`
if not (${isLive('KEYS[1]')}) then return {} end
redis.call('HSET', KEYS[1], 'revokedAt', ARGV[1])
${publish('ARGV[2]', 'ARGV[3]')}
return redis.call('HGETALL', KEYS[1])
`);

/**
 * KEYS: session. ARGV: invalidation channel, id. Returns the deleted hash
 * (empty when there was none); the index entry is pruned later.
 */
export const deleteSessionScript = script(`
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'none' then return {} end
local hash = {'corrupt', '1'}
if kind == 'hash' then hash = redis.call('HGETALL', KEYS[1]) end
redis.call('DEL', KEYS[1])
${publish('ARGV[1]', 'ARGV[2]')}
return hash
`);

/**
 * KEYS: index. ARGV: session key base, revokedAt, id to keep (or ""),
 * invalidation channel. Revokes every live session in the index but the kept
 * one, prunes what is not live, publishes the revoked ids (one message,
 * separated by spaces) and returns [id, [field, value, …], …] for them.
 */
export const revokeUserSessionsScript = script(`
local revoked = {}
local ids = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local key = ARGV[1] .. member
  if not (${isLive('key')}) then
    redis.call('ZREM', KEYS[1], member)
  elseif member ~= ARGV[3] then
    redis.call('HSET', key, 'revokedAt', ARGV[2])
    redis.call('ZREM', KEYS[1], member)
    revoked[#revoked + 1] = member
    revoked[#revoked + 1] = redis.call('HGETALL', key)
    ids[#ids + 1] = member
  end
end
if #ids > 0 then
  ${publish('ARGV[4]', "table.concat(ids, ' ')")}
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
