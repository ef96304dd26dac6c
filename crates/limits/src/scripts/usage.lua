-- Read-only: units counted against one limit now.
-- KEYS[1] the counter; ARGV: clock offset ms, algorithm ("f"/"s"), window ms.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
local w = tonumber(ARGV[3])
if ARGV[2] == 'f' then
  local v = redis.call('HMGET', KEYS[1], 'w', 'c')
  if v[1] and tonumber(v[1]) >= math.floor(now / w) then
    return tonumber(v[2]) or 0
  end
  return 0
end
return redis.call('ZCOUNT', KEYS[1], '(' .. string.format('%d', now - w), '+inf')
