-- ARGV: prefix, node, epoch, room, players, spectators, player seats, spectator seats. After an
-- eviction: takes a room the node still runs back, unless another node owns the name now.
-- Returns {'1'} when claimed, {'0'} when another node owns the name, {'stale'} when the node is
-- not registered with this epoch (it was evicted again: nothing is decided about the room).
local node, epoch, name = ARGV[2], ARGV[3], ARGV[4]
if redis.call('HGET', key('node', node), 'epoch') ~= epoch then
  return {'stale'}
end
local owner = redis.call('HGET', key('rooms'), name)
if owner and owner ~= node then
  return {'0'}
end
if owner then
  redis.call('HSET', key('room', name), 'players', ARGV[5], 'spectators', ARGV[6])
else
  redis.call('HSET', key('room', name), 'node', node, 'players', ARGV[5], 'spectators', ARGV[6],
    'rp', 0, 'rs', 0, 'cp', ARGV[7], 'cs', ARGV[8])
  redis.call('HSET', key('rooms'), name, node)
  redis.call('SADD', key('owned', node), name)
end
refresh(name)
return {'1'}
