-- Shared by every script: ARGV[1] is the key prefix; the clock is Redis's own (TIME), so every
-- node judges deadlines by one clock. Keys, under the prefix P:
--   P:epoch, P:roomseq        counters
--   P:nodes                   zset: node id -> heartbeat deadline (ms)
--   P:node:<id>               hash: url, cap, epoch, draining
--   P:owned:<id>              set: rooms the node owns
--   P:nseats:<id>             set: seats reserved in the node's rooms
--   P:rooms                   hash: room name -> owner (at most one entry per name)
--   P:room:<name>             hash: node, players, spectators, rp, rs (reserved), cp, cs (capacity)
--   P:open, P:watch           zsets: rooms with a free player / spectator seat, by -(players + rp)
--   P:seat:<id>               hash: room, node, spectate, expires
--   P:seats                   zset: seat id -> expiry (ms)
local P = ARGV[1]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

local function key(...)
  return P .. ':' .. table.concat({...}, ':')
end

local function num(value)
  return tonumber(value) or 0
end

local function alive(id)
  local deadline = redis.call('ZSCORE', key('nodes'), id)
  return deadline and tonumber(deadline) > now
end

local function usable(id)
  return alive(id) and redis.call('HGET', key('node', id), 'draining') ~= '1'
end

-- Keeps a room's entries in the open and watch indexes in step with its occupancy.
local function refresh(name)
  local r = redis.call('HMGET', key('room', name), 'players', 'spectators', 'rp', 'rs', 'cp', 'cs')
  if not r[1] then
    redis.call('ZREM', key('open'), name)
    redis.call('ZREM', key('watch'), name)
    return
  end
  local fill = num(r[1]) + num(r[3])
  if fill < num(r[5]) then
    redis.call('ZADD', key('open'), -fill, name)
  else
    redis.call('ZREM', key('open'), name)
  end
  if num(r[2]) + num(r[4]) < num(r[6]) then
    redis.call('ZADD', key('watch'), -fill, name)
  else
    redis.call('ZREM', key('watch'), name)
  end
end

local function remove_room(name)
  local node = redis.call('HGET', key('room', name), 'node')
  if node then
    redis.call('SREM', key('owned', node), name)
  end
  redis.call('DEL', key('room', name))
  redis.call('HDEL', key('rooms'), name)
  redis.call('ZREM', key('open'), name)
  redis.call('ZREM', key('watch'), name)
end

-- Removes a node with its rooms and seats; returns how many rooms went with it (0 when the
-- node was already gone: evicting twice is evicting once).
local function evict(id)
  local rooms = redis.call('SMEMBERS', key('owned', id))
  for _, name in ipairs(rooms) do
    if redis.call('HGET', key('rooms'), name) == id then
      redis.call('DEL', key('room', name))
      redis.call('HDEL', key('rooms'), name)
      redis.call('ZREM', key('open'), name)
      redis.call('ZREM', key('watch'), name)
    end
  end
  for _, seat in ipairs(redis.call('SMEMBERS', key('nseats', id))) do
    redis.call('DEL', key('seat', seat))
    redis.call('ZREM', key('seats'), seat)
  end
  redis.call('DEL', key('owned', id), key('nseats', id), key('node', id))
  redis.call('ZREM', key('nodes'), id)
  return #rooms
end

-- Gives a seat's reservation back to its room, and removes a room left with nothing in it.
local function give_back(seat)
  local s = redis.call('HMGET', key('seat', seat), 'room', 'node', 'spectate')
  redis.call('DEL', key('seat', seat))
  redis.call('ZREM', key('seats'), seat)
  if not s[1] then
    return
  end
  redis.call('SREM', key('nseats', s[2]), seat)
  if redis.call('HGET', key('room', s[1]), 'node') ~= s[2] then
    return
  end
  local field = (s[3] == '1') and 'rs' or 'rp'
  if redis.call('HINCRBY', key('room', s[1]), field, -1) < 0 then
    redis.call('HSET', key('room', s[1]), field, 0)
  end
  local r = redis.call('HMGET', key('room', s[1]), 'players', 'spectators', 'rp', 'rs')
  if num(r[1]) + num(r[2]) + num(r[3]) + num(r[4]) == 0 then
    remove_room(s[1])
  else
    refresh(s[1])
  end
end
