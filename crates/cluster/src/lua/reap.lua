-- ARGV: prefix, limit. Removes dead nodes (with their rooms) and gives expired seats back, at
-- most `limit` of each. Returns {nodes, rooms, seats}.
local limit = tonumber(ARGV[2])
local nodes, rooms, seats = 0, 0, 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', key('nodes'), '-inf', now, 'LIMIT', 0, limit)) do
  rooms = rooms + evict(id)
  nodes = nodes + 1
end
for _, seat in ipairs(redis.call('ZRANGEBYSCORE', key('seats'), '-inf', now, 'LIMIT', 0, limit)) do
  give_back(seat)
  seats = seats + 1
end
return {tostring(nodes), tostring(rooms), tostring(seats)}
