-- kv_set_if_absent: first writer wins. KEYS[1] the KV key; ARGV: now, encoded value, ttl ms.
-- A stored value starts with its expiry as 8 big-endian bytes (unix ms). Returns the live
-- stored value (nothing written), or nil after storing the new one.
local now = tonumber(ARGV[1])
local cur = redis.call('GET', KEYS[1])
if cur and #cur >= 8 then
  local expires = 0
  for i = 1, 8 do expires = expires * 256 + string.byte(cur, i) end
  if expires > now then return cur end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return false
