-- renew: extend a live lease. KEYS[1] lease set; ARGV: now, lease id, ttl ms.
-- Returns 1 if the lease was live and now ends at now + ttl, 0 if it had ended.
local now = num()
local id = arg()
local ttl = num()
local score = redis.call('ZSCORE', KEYS[1], id)
if not score or tonumber(score) <= now then return 0 end
redis.call('ZADD', KEYS[1], 'XX', s(now + ttl), id)
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], s(ttl)) end
return 1
