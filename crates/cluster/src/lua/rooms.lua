-- ARGV: prefix. Every room: name, node, players, spectators, rp, rs, cp, cs (flat).
local out = {}
local names = redis.call('HKEYS', key('rooms'))
table.sort(names)
for _, name in ipairs(names) do
  local r = redis.call('HMGET', key('room', name), 'node', 'players', 'spectators', 'rp', 'rs', 'cp', 'cs')
  table.insert(out, name)
  for i = 1, 7 do
    table.insert(out, tostring(r[i] or '0'))
  end
end
return out
