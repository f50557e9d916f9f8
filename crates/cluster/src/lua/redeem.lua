-- ARGV: prefix, node, seat id. Returns {'ok', room, spectate (0/1)}, {'unknown'} or {'wrong'}.
local node, seat = ARGV[2], ARGV[3]
local s = redis.call('HMGET', key('seat', seat), 'room', 'node', 'spectate', 'expires')
if not s[1] then
  return {'unknown'}
end
if s[2] ~= node then
  return {'wrong'}
end
if num(s[4]) <= now or redis.call('HGET', key('room', s[1]), 'node') ~= node then
  give_back(seat)
  return {'unknown'}
end
redis.call('DEL', key('seat', seat))
redis.call('ZREM', key('seats'), seat)
redis.call('SREM', key('nseats', node), seat)
local spectate = s[3] == '1'
if redis.call('HINCRBY', key('room', s[1]), spectate and 'rs' or 'rp', -1) < 0 then
  redis.call('HSET', key('room', s[1]), spectate and 'rs' or 'rp', 0)
end
redis.call('HINCRBY', key('room', s[1]), spectate and 'spectators' or 'players', 1)
refresh(s[1])
return {'ok', s[1], s[3]}
