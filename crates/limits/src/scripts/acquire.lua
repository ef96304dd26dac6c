-- Decide and consume every limit of one tool call, atomically.
--
-- KEYS[i]  one counter per limit, all under one {account} hash tag.
-- ARGV[1]  request id: sliding members are "<id>:<n>", unique per call.
-- ARGV[2]  clock offset in ms (test-only; 0 in production).
-- ARGV[3 + 5(i-1) ..] per limit: algorithm ("f" fixed, "s" sliding),
--          window ms, max, cost, first member index.
--
-- Phase 1 only reads. If any limit is over, the script returns before
-- writing anything: Redis does not roll back a script that fails halfway.
-- Phase 2 cannot fail on valid input (keys are namespaced by algorithm, so
-- no WRONGTYPE) and sets every key's TTL in the same call.
--
-- Returns {0, index (1-based), retry ms} or {1, now ms, window per limit}.

local GRACE_MS = 1000
local ZADD_BATCH = 500

local function int(x)
  return string.format('%d', x)
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
local req = ARGV[1]

local limits = {}
local need = {}
for i = 1, #KEYS do
  local b = 2 + (i - 1) * 5
  local l = {
    algo = ARGV[b + 1],
    w = tonumber(ARGV[b + 2]),
    max = tonumber(ARGV[b + 3]),
    cost = tonumber(ARGV[b + 4]),
    first = tonumber(ARGV[b + 5]),
  }
  limits[i] = l
  -- Limits of one call naming the same counter add up.
  need[KEYS[i]] = (need[KEYS[i]] or 0) + l.cost
end

-- Phase 1: check, write nothing.
local refused, latest = 0, -1
for i = 1, #KEYS do
  local l, k = limits[i], KEYS[i]
  if l.cost > 0 then
    local wait = nil
    if l.algo == 'f' then
      local cur = math.floor(now / l.w)
      local v = redis.call('HMGET', k, 'w', 'c')
      local used = 0
      -- A stored window after the current one means the clock stepped back:
      -- keep counting in it rather than hand out a fresh window.
      if v[1] and tonumber(v[1]) >= cur then
        used = tonumber(v[2]) or 0
        cur = tonumber(v[1])
      end
      if used + need[k] > l.max then
        wait = (cur + 1) * l.w - now
      end
    else
      local floor = '(' .. int(now - l.w)
      local used = redis.call('ZCOUNT', k, floor, '+inf')
      if used + need[k] > l.max then
        -- The (used + need - max)-th oldest live entry must leave first.
        local rank = used + need[k] - l.max
        wait = l.w
        if rank <= used then
          local e = redis.call('ZRANGEBYSCORE', k, floor, '+inf', 'WITHSCORES', 'LIMIT', rank - 1, 1)
          wait = tonumber(e[2]) + l.w - now
        end
      end
    end
    if wait and wait > latest then
      refused, latest = i, wait
    end
  end
end
if refused > 0 then
  if latest < 1 then latest = 1 end
  return {0, refused, latest}
end

-- Phase 2: consume everything and set every TTL.
local out = {1, now}
for i = 1, #KEYS do
  local l, k = limits[i], KEYS[i]
  local window = 0
  if l.cost > 0 then
    if l.algo == 'f' then
      window = math.floor(now / l.w)
      local stored = tonumber(redis.call('HGET', k, 'w'))
      if stored and stored >= window then
        window = stored
        redis.call('HINCRBY', k, 'c', l.cost)
      else
        redis.call('HSET', k, 'w', int(window), 'c', l.cost)
      end
      redis.call('PEXPIRE', k, int((window + 1) * l.w - now + GRACE_MS))
    else
      redis.call('ZREMRANGEBYSCORE', k, '-inf', int(now - l.w))
      local score = int(now)
      local n, left = l.first, l.cost
      while left > 0 do
        local args = {}
        for _ = 1, math.min(left, ZADD_BATCH) do
          args[#args + 1] = score
          args[#args + 1] = req .. ':' .. int(n)
          n = n + 1
          left = left - 1
        end
        redis.call('ZADD', k, unpack(args))
      end
      redis.call('PEXPIRE', k, int(l.w + GRACE_MS))
    end
  end
  out[#out + 1] = window
end
return out
