-- ARGV: prefix. Every node: id, url, rooms, cap, epoch, deadline - now (ms), draining (flat).
local out = {}
local ids = redis.call('ZRANGE', key('nodes'), 0, -1, 'WITHSCORES')
local sorted = {}
for i = 1, #ids, 2 do
  table.insert(sorted, {ids[i], ids[i + 1]})
end
table.sort(sorted, function(a, b) return a[1] < b[1] end)
for _, entry in ipairs(sorted) do
  local id = entry[1]
  local n = redis.call('HMGET', key('node', id), 'url', 'cap', 'epoch', 'draining')
  table.insert(out, id)
  table.insert(out, tostring(n[1] or ''))
  table.insert(out, tostring(redis.call('SCARD', key('owned', id))))
  table.insert(out, tostring(n[2] or '0'))
  table.insert(out, tostring(n[3] or '0'))
  table.insert(out, tostring(math.floor(tonumber(entry[2]) - now)))
  table.insert(out, tostring(n[4] or '0'))
end
return out
