-- Shared prelude of the admit, settle and usage scripts (prepended by redis.rs).
-- ARGV is read as a stream: arg() / num() take the next value; each counter takes the next KEY.
local p = 1
local ki = 0
local function arg() local v = ARGV[p]; p = p + 1; return v end
local function num() return tonumber(arg()) end
-- Exact decimal text of an integer-valued number (Lua's default %.14g would round big ones).
local function s(n) return string.format('%.0f', n) end

-- A counter spec: kind letter, then its parameters.
--   w cur nb b at   sliding window: current bucket index, buckets per window, bucket ms,
--                   bucket index an adjustment belongs to (the admission's bucket)
--   p ttl ends      period counter: key time-to-live ms, period end (unix ms)
--   t               total
--   l id ttl        lease set: lease id, lease ttl ms
local function counter()
  ki = ki + 1
  local c = { key = KEYS[ki], kind = arg() }
  if c.kind == 'w' then c.cur = num(); c.nb = num(); c.b = num(); c.at = num()
  elseif c.kind == 'p' then c.ttl = num(); c.ends = num()
  elseif c.kind == 'l' then c.id = arg(); c.ttl = num() end
  return c
end

-- Used amount at `now`; drops window buckets and leases that have expired.
local function used_of(c, now)
  if c.kind == 'w' then
    local h = redis.call('HGETALL', c.key)
    local sum = 0
    local live = {}
    local stale = {}
    for i = 1, #h, 2 do
      local idx = tonumber(h[i])
      local v = tonumber(h[i + 1])
      if idx > c.cur - c.nb then
        sum = sum + v
        live[#live + 1] = { idx, v }
      else
        stale[#stale + 1] = h[i]
      end
    end
    if #stale > 0 then redis.call('HDEL', c.key, unpack(stale)) end
    c.live = live
    return sum
  elseif c.kind == 'l' then
    redis.call('ZREMRANGEBYSCORE', c.key, '-inf', s(now))
    return redis.call('ZCARD', c.key)
  else
    return tonumber(redis.call('GET', c.key) or '0')
  end
end

-- Adds `delta` (to bucket c.at for windows), never taking a counter below zero. Returns the change.
local function add(c, delta, now)
  if c.kind == 'l' then
    redis.call('ZADD', c.key, s(now + c.ttl), c.id)
    if redis.call('PTTL', c.key) < c.ttl then redis.call('PEXPIRE', c.key, s(c.ttl)) end
    return 1
  end
  if delta == 0 then return 0 end
  local v
  if c.kind == 'w' then
    local field = c.at
    if field <= c.cur - c.nb then
      if delta < 0 then return 0 end
      field = c.cur
    end
    v = tonumber(redis.call('HINCRBY', c.key, s(field), s(delta)))
    if v < 0 then redis.call('HINCRBY', c.key, s(field), s(-v)) end
    redis.call('PEXPIRE', c.key, s((c.nb + 1) * c.b))
  else
    v = tonumber(redis.call('INCRBY', c.key, s(delta)))
    if v < 0 then redis.call('INCRBY', c.key, s(-v)) end
    if c.kind == 'p' then redis.call('PEXPIRE', c.key, s(c.ttl)) end
  end
  if v < 0 then return delta - v end
  return delta
end
