-- Give back what one admitted call consumed.
--
-- KEYS[i]  the counters the call consumed.
-- ARGV[1]  the call's request id.
-- ARGV[2 + 4(i-1) ..] per counter: algorithm ("f"/"s"), window, cost,
--          first member index.
--
-- Fixed: decrement only while the counter is still in the same window, and
-- never below zero. Sliding: remove exactly the members the call added.

local ZREM_BATCH = 500
local req = ARGV[1]

for i = 1, #KEYS do
  local b = 1 + (i - 1) * 4
  local k, algo = KEYS[i], ARGV[b + 1]
  local window, cost, first = ARGV[b + 2], tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  if algo == 'f' then
    local v = redis.call('HMGET', k, 'w', 'c')
    if v[1] == window then
      local c = (tonumber(v[2]) or 0) - cost
      if c < 0 then c = 0 end
      redis.call('HSET', k, 'c', string.format('%d', c))
    end
  else
    local n, left = first, cost
    while left > 0 do
      local members = {}
      for _ = 1, math.min(left, ZREM_BATCH) do
        members[#members + 1] = req .. ':' .. string.format('%d', n)
        n = n + 1
        left = left - 1
      end
      redis.call('ZREM', k, unpack(members))
    end
  end
end
return 0
