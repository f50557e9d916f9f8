-- ARGV: prefix, id, url, room cap, ttl ms. A registering node starts afresh (after an eviction
-- it claims back the rooms it still runs). Returns its new epoch.
local id, url, cap, ttl = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
evict(id)
local epoch = redis.call('INCR', key('epoch'))
redis.call('HSET', key('node', id), 'url', url, 'cap', cap, 'epoch', epoch, 'draining', '0')
redis.call('ZADD', key('nodes'), now + ttl, id)
return {tostring(epoch)}
