-- ARGV: prefix, node, room, spectate (0/1). One seat of a room the node owns is free again; an
-- empty room with nothing reserved is removed.
local node, name, spectate = ARGV[2], ARGV[3], ARGV[4] == '1'
if redis.call('HGET', key('room', name), 'node') ~= node then
  return {'ignored'}
end
local field = spectate and 'spectators' or 'players'
if redis.call('HINCRBY', key('room', name), field, -1) < 0 then
  redis.call('HSET', key('room', name), field, 0)
end
local r = redis.call('HMGET', key('room', name), 'players', 'spectators', 'rp', 'rs')
if num(r[1]) + num(r[2]) + num(r[3]) + num(r[4]) == 0 then
  remove_room(name)
else
  refresh(name)
end
return {'ok'}
