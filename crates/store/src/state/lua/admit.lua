-- admit: all-or-nothing admission over several counters.
-- ARGV: now, number of charges, then per charge
--   L amount limit <counter>                     a limit charge
--   C amount ntiers { limit <counter> } x ntiers  a cascade
-- Returns {1, take, take, ..., used, used, ...} (one take per counter, in order, then the
--         used amount before admission of each charge; a cascade's is the sum of its tiers) or
--         {0, charge index (1-based), retry_after ms or -1, used, limit}.
local now = num()
local n = num()
local plan = {}
local useds = {}
for i = 1, n do
  local kind = arg()
  local amount = num()
  if kind == 'L' then
    local limit = num()
    local c = counter()
    local used = used_of(c, now)
    if used + amount > limit then
      local retry = -1
      if amount <= limit then
        if c.kind == 'w' then
          table.sort(c.live, function(a, b) return a[1] < b[1] end)
          local need = used + amount - limit
          local freed = 0
          for _, e in ipairs(c.live) do
            freed = freed + e[2]
            if freed >= need then retry = (e[1] + c.nb) * c.b - now; break end
          end
        elseif c.kind == 'p' then
          retry = math.max(c.ends - now, 0)
        end
      end
      return { 0, i, retry, used, limit }
    end
    plan[#plan + 1] = { c, amount }
    useds[i] = used
  else
    local ntiers = num()
    local rem = amount
    local used_sum, limit_sum = 0, 0
    local tiers = {}
    for j = 1, ntiers do
      local limit = num()
      local c = counter()
      local used = used_of(c, now)
      local take = math.min(math.max(limit - used, 0), rem)
      rem = rem - take
      used_sum = used_sum + used
      limit_sum = limit_sum + limit
      tiers[j] = { c, take }
    end
    if rem > 0 then return { 0, i, -1, used_sum, limit_sum } end
    for _, t in ipairs(tiers) do plan[#plan + 1] = t end
    useds[i] = used_sum
  end
end
local out = { 1 }
for _, e in ipairs(plan) do
  local c = e[1]
  add(c, e[2], now)
  out[#out + 1] = e[2]
end
for i = 1, n do out[#out + 1] = useds[i] end
return out
