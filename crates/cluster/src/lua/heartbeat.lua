-- ARGV: prefix, id, epoch, ttl ms, draining (0/1). Returns {'alive'} or {'evicted'}.
local id, epoch, ttl, draining = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
if redis.call('HGET', key('node', id), 'epoch') ~= epoch then
  return {'evicted'}
end
redis.call('ZADD', key('nodes'), now + ttl, id)
redis.call('HSET', key('node', id), 'draining', draining)
return {'alive'}
