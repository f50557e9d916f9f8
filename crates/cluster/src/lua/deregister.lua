-- ARGV: prefix, node. A graceful exit: the node, its rooms and its seats go.
evict(ARGV[2])
return {'ok'}
