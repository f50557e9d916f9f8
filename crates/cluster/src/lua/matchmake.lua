-- ARGV: prefix, room name ('' for any), spectate (0/1), seat id, seat ttl ms, player seats,
-- spectator seats. Picks or places a room and reserves a seat, in one step. Returns
-- {'ok', node, url, room, created (0/1), epoch}, or {'full'}, {'nonode'}, {'closing'}, {'dup'}.
local wanted, spectate, seat = ARGV[2], ARGV[3] == '1', ARGV[4]
local ttl, cp, cs = tonumber(ARGV[5]), ARGV[6], ARGV[7]
if redis.call('EXISTS', key('seat', seat)) == 1 then
  return {'dup'}
end

local function free(name)
  local r = redis.call('HMGET', key('room', name), 'players', 'spectators', 'rp', 'rs', 'cp', 'cs')
  if spectate then
    return num(r[2]) + num(r[4]) < num(r[6])
  end
  return num(r[1]) + num(r[3]) < num(r[5])
end

-- The least-loaded usable node under its cap (ties by id).
local function place(name)
  local best, best_load
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', key('nodes'), '(' .. now, '+inf')) do
    local n = redis.call('HMGET', key('node', id), 'cap', 'draining')
    local load = redis.call('SCARD', key('owned', id))
    if n[2] ~= '1' and load < num(n[1]) then
      if not best or load < best_load or (load == best_load and id < best) then
        best, best_load = id, load
      end
    end
  end
  if not best then
    return nil
  end
  redis.call('HSET', key('room', name), 'node', best, 'players', 0, 'spectators', 0,
    'rp', 0, 'rs', 0, 'cp', cp, 'cs', cs)
  redis.call('HSET', key('rooms'), name, best)
  redis.call('SADD', key('owned', best), name)
  return name
end

local name, created = nil, 0
if wanted ~= '' then
  local owner = redis.call('HGET', key('rooms'), wanted)
  if owner and usable(owner) then
    if not free(wanted) then
      return {'full'}
    end
    name = wanted
  elseif owner and alive(owner) then
    return {'closing'}
  else
    -- New, or its owner died: placed afresh. A dead owner is evicted here and then, so when it
    -- wakes it learns so and closes its copy of the room.
    if owner then
      evict(owner)
      remove_room(wanted)
    end
    name = place(wanted)
    if not name then
      return {'nonode'}
    end
    created = 1
  end
else
  -- The fullest room with a free seat of this kind whose owner is usable (a bounded look).
  local index = spectate and key('watch') or key('open')
  for _, candidate in ipairs(redis.call('ZRANGE', index, 0, 63)) do
    local owner = redis.call('HGET', key('room', candidate), 'node')
    if owner and usable(owner) and free(candidate) then
      name = candidate
      break
    end
  end
  if not name then
    -- Named from the (random) seat id, so names do not repeat after Redis restarts empty
    -- while nodes still run rooms they will claim back.
    local fresh = 'room-' .. string.sub(seat, 1, 8)
    while redis.call('HEXISTS', key('rooms'), fresh) == 1 do
      fresh = 'room-' .. string.sub(seat, 1, 8) .. '-' .. redis.call('INCR', key('roomseq'))
    end
    name = place(fresh)
    if not name then
      return {'nonode'}
    end
    created = 1
  end
end

local owner = redis.call('HGET', key('room', name), 'node')
redis.call('HINCRBY', key('room', name), spectate and 'rs' or 'rp', 1)
refresh(name)
redis.call('HSET', key('seat', seat), 'room', name, 'node', owner,
  'spectate', spectate and '1' or '0', 'expires', now + ttl)
redis.call('ZADD', key('seats'), now + ttl, seat)
redis.call('SADD', key('nseats', owner), seat)
local n = redis.call('HMGET', key('node', owner), 'url', 'epoch')
return {'ok', owner, n[1], name, tostring(created), n[2]}
