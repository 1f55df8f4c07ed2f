/* The Lua scripts of the "redis" backend (store_redis.c), one per operation, so that each
 * operation is one command that Redis runs atomically: a put checks the revision, the IMPUs and
 * the limits and writes everything, or writes nothing. Only store_redis.c includes this.
 *
 * Keys (p = the prefix option, "ims:" by default):
 *   p reg:<impi>   hash: rec (the record, store_reg_encode), rev (decimal), impus (the implicit
 *                  set, MessagePack, to drop the IMPU keys a later put leaves out)
 *   p impu:<impu>  string: the IMPI holding it
 *   p regs         sorted set of every IMPI, all scores 0 (so ordered by bytes: store_list)
 *   p exp          sorted set: IMPI scored by the earliest expires_at of its contacts and subs
 *   p ncont        hash: IMPI -> its number of contacts
 *   p stats        hash: contacts -> contacts over all registrations (store_contact_count)
 * Every script gets the prefix as ARGV[1]; the keys are built here (one Redis, not a cluster).
 * A record or IMPU key with a TTL (the latest expiry + grace) may vanish without a script:
 * the scripts that meet an IMPI of regs/exp without its record drop it from the indexes
 * (forget). Reads come before any write, so a script that fails (a key of the wrong type
 * planted by someone) fails before it changed anything. */
#ifndef CSCF_STORE_REDIS_LUA_H
#define CSCF_STORE_REDIS_LUA_H

/* What every script starts with: helpers. */
#define LUA_COMMON                                                                                 \
    "local p = ARGV[1]\n"                                                                          \
    "local function kind(k) return redis.call('TYPE', k)['ok'] end\n"                              \
    "local function num(v) return tonumber(v) or 0 end\n"                                          \
    "local function contacts() return num(redis.call('HGET', p..'stats', 'contacts')) end\n"       \
    "local function add_contacts(d)\n"                                                             \
    "  if d ~= 0 then redis.call('HSET', p..'stats', 'contacts', contacts() + d) end\n"            \
    "end\n"                                                                                        \
    "local function counts(code, why)\n"                                                           \
    "  return {code, why, redis.call('ZCARD', p..'regs'), contacts()}\n"                           \
    "end\n"                                                                                        \
    "local function indexes_ok()\n"                                                                \
    "  for _, k in ipairs({'regs', 'exp'}) do\n"                                                   \
    "    local t = kind(p..k) if t ~= 'none' and t ~= 'zset' then return false end\n"              \
    "  end\n"                                                                                      \
    "  for _, k in ipairs({'ncont', 'stats'}) do\n"                                                \
    "    local t = kind(p..k) if t ~= 'none' and t ~= 'hash' then return false end\n"              \
    "  end\n"                                                                                      \
    "  return true\n"                                                                              \
    "end\n"                                                                                        \
    "local function forget(impi)\n"                                                                \
    "  redis.call('ZREM', p..'regs', impi)\n"                                                      \
    "  redis.call('ZREM', p..'exp', impi)\n"                                                       \
    "  add_contacts(-num(redis.call('HGET', p..'ncont', impi)))\n"                                 \
    "  redis.call('HDEL', p..'ncont', impi)\n"                                                     \
    "end\n"                                                                                        \
    "local function set_of(packed)\n"                                                              \
    "  if not packed then return {} end\n"                                                         \
    "  local ok, list = pcall(cmsgpack.unpack, packed)\n"                                          \
    "  if not ok or type(list) ~= 'table' then return {} end\n"                                    \
    "  return list\n"                                                                              \
    "end\n"                                                                                        \
    "local function record(impi)\n"                                                                \
    "  local rk = p..'reg:'..impi\n"                                                               \
    "  if kind(rk) ~= 'hash' then return nil end\n"                                                \
    "  local f = redis.call('HMGET', rk, 'rec', 'rev')\n"                                          \
    "  if not f[1] then return nil end\n"                                                          \
    "  return f\n"                                                                                 \
    "end\n"                                                                                        \
    "local function gone_from(list, total)\n"                                                      \
    "  for _, impi in ipairs(list) do forget(impi) end\n"                                          \
    "  return total - #list\n"                                                                     \
    "end\n"

/* The IMPU keys of the old set that still name impi and are not in the new set (a table of
 * IMPU -> true): what a put or del deletes. */
#define LUA_STALE_IMPUS                                                                            \
    "local function stale_impus(impi, packed, keep)\n"                                             \
    "  local drop = {}\n"                                                                          \
    "  for _, u in ipairs(set_of(packed)) do\n"                                                    \
    "    if type(u) == 'string' and not keep[u] then\n"                                            \
    "      local k = p..'impu:'..u\n"                                                              \
    "      if kind(k) == 'string' and redis.call('GET', k) == impi then\n"                         \
    "        table.insert(drop, k)\n"                                                              \
    "      end\n"                                                                                  \
    "    end\n"                                                                                    \
    "  end\n"                                                                                      \
    "  return drop\n"                                                                              \
    "end\n"

/* ARGV: p, impi, want ("0" any, "new" absent, else the revision it must be at), the record,
 * contacts, first and last expiry ("" when none), now, grace, max_regs, IMPUs...
 * -> {code (0, 1 conflict, -1 refused), why, registrations, contacts}. */
static const char lua_put[] = LUA_COMMON LUA_STALE_IMPUS
    "local impi, want, rec = ARGV[2], ARGV[3], ARGV[4]\n"
    "local ncont, first, last = num(ARGV[5]), ARGV[6], ARGV[7]\n"
    "local now, grace, max_regs = num(ARGV[8]), num(ARGV[9]), num(ARGV[10])\n"
    "if not indexes_ok() then return redis.error_reply('index key of the wrong type') end\n"
    "local rk = p..'reg:'..impi\n"
    "local t = kind(rk)\n"
    "if t ~= 'none' and t ~= 'hash' then return redis.error_reply('record of the wrong type') end\n"
    "local exists = t == 'hash'\n"
    "local cur = exists and (redis.call('HGET', rk, 'rev') or '0') or nil\n"
    "if want == 'new' then\n"
    "  if exists then return counts(1, 'exists') end\n"
    "elseif want ~= '0' and cur ~= want then\n"
    "  return counts(1, 'revision')\n"
    "end\n"
    "if not exists and redis.call('ZCARD', p..'regs') >= max_regs then\n"
    "  return counts(-1, 'too many registrations')\n"
    "end\n"
    "local keep, set = {}, {}\n"
    "for i = 11, #ARGV do\n"
    "  local u = ARGV[i]\n"
    "  local holder = redis.call('GET', p..'impu:'..u)\n"
    "  if holder and holder ~= impi and kind(p..'reg:'..holder) ~= 'none' then\n"
    "    return counts(-1, 'IMPU held by another IMPI')\n"
    "  end\n"
    "  if not keep[u] then keep[u] = true table.insert(set, u) end\n"
    "end\n"
    "local drop = exists and stale_impus(impi, redis.call('HGET', rk, 'impus'), keep) or {}\n"
    "local ttl = nil\n"
    "if last ~= '' then\n"
    "  ttl = string.format('%d', math.min(math.max(num(last) - now, 0), 315360000) + grace)\n"
    "end\n"
    "redis.call('DEL', rk)\n"
    "redis.call('HSET', rk, 'rec', rec, 'rev', string.format('%.0f', num(cur) + 1),\n"
    "           'impus', cmsgpack.pack(set))\n"
    "if ttl then redis.call('EXPIRE', rk, ttl) end\n"
    "for _, k in ipairs(drop) do redis.call('DEL', k) end\n"
    "for _, u in ipairs(set) do\n"
    "  if ttl then redis.call('SET', p..'impu:'..u, impi, 'EX', ttl)\n"
    "  else redis.call('SET', p..'impu:'..u, impi) end\n"
    "end\n"
    "redis.call('ZADD', p..'regs', 0, impi)\n"
    "if first ~= '' then redis.call('ZADD', p..'exp', first, impi)\n"
    "else redis.call('ZREM', p..'exp', impi) end\n"
    "add_contacts(ncont - num(redis.call('HGET', p..'ncont', impi)))\n"
    "redis.call('HSET', p..'ncont', impi, ncont)\n"
    "return counts(0, '')\n";

/* ARGV: p, impi, want ("0" any, else the revision) -> as lua_put (-1: unknown). */
static const char lua_del[] = LUA_COMMON LUA_STALE_IMPUS
    "local impi, want = ARGV[2], ARGV[3]\n"
    "if not indexes_ok() then return redis.error_reply('index key of the wrong type') end\n"
    "local rk = p..'reg:'..impi\n"
    "local t = kind(rk)\n"
    "if t == 'none' then\n"
    "  if redis.call('ZSCORE', p..'regs', impi) then forget(impi) end\n"
    "  return counts(-1, 'unknown')\n"
    "end\n"
    "if t ~= 'hash' then return redis.error_reply('record of the wrong type') end\n"
    "if want ~= '0' and (redis.call('HGET', rk, 'rev') or '0') ~= want then\n"
    "  return counts(1, 'revision')\n"
    "end\n"
    "local drop = stale_impus(impi, redis.call('HGET', rk, 'impus'), {})\n"
    "redis.call('DEL', rk)\n"
    "for _, k in ipairs(drop) do redis.call('DEL', k) end\n"
    "forget(impi)\n"
    "return counts(0, '')\n";

/* ARGV: p, "impu" or "impi", the key -> {} (none) or {record, rev}. Read only. */
static const char lua_get[] = "local p, by, key = ARGV[1], ARGV[2], ARGV[3]\n"
                              "local impi = key\n"
                              "if by == 'impu' then\n"
                              "  impi = redis.call('GET', p..'impu:'..key)\n"
                              "  if not impi then return {} end\n"
                              "end\n"
                              "local f = redis.call('HMGET', p..'reg:'..impi, 'rec', 'rev')\n"
                              "if not f[1] then return {} end\n"
                              "return {f[1], f[2] or '0'}\n";

/* ARGV: p, prefix ("" all), offset, limit -> {total, {record, rev, ...}}: by IMPI (the bytes'
 * order), those whose IMPI or an IMPU starts with prefix. With a prefix it reads every IMPU
 * set: the REST listing, not a hot path. */
static const char lua_list[] = LUA_COMMON
    "local pre, off, lim = ARGV[2], num(ARGV[3]), num(ARGV[4])\n"
    "if not indexes_ok() then return redis.error_reply('index key of the wrong type') end\n"
    "local function starts(s) return string.sub(s, 1, #pre) == pre end\n"
    "local total, out, gone = 0, {}, {}\n"
    "local function take(impi)\n"
    "  local f = record(impi)\n"
    "  if not f then table.insert(gone, impi) return end\n"
    "  table.insert(out, f[1]) table.insert(out, f[2] or '0')\n"
    "end\n"
    "if pre == '' then\n"
    "  total = redis.call('ZCARD', p..'regs')\n"
    "  if lim > 0 and off < total then\n"
    "    local last = math.min(off + lim, total) - 1\n"
    "    for _, impi in ipairs(redis.call('ZRANGE', p..'regs', off, last)) do take(impi) end\n"
    "  end\n"
    "  total = gone_from(gone, total)\n"
    "else\n"
    "  for _, impi in ipairs(redis.call('ZRANGE', p..'regs', 0, -1)) do\n"
    "    local rk = p..'reg:'..impi\n"
    "    local hit = kind(rk) == 'hash' and starts(impi)\n"
    "    if kind(rk) ~= 'hash' then table.insert(gone, impi)\n"
    "    elseif not hit then\n"
    "      for _, u in ipairs(set_of(redis.call('HGET', rk, 'impus'))) do\n"
    "        if type(u) == 'string' and starts(u) then hit = true break end\n"
    "      end\n"
    "    end\n"
    "    if hit then\n"
    "      total = total + 1\n"
    "      if total > off and #out < 2 * lim then take(impi) end\n"
    "    end\n"
    "  end\n"
    "  gone_from(gone, 0)\n"
    "end\n"
    "return {total, out}\n";

/* ARGV: p, now -> {total, {record, rev, ...}}: at most 1000 with something expired. */
static const char lua_expired[] = LUA_COMMON
    "local now = ARGV[2]\n"
    "if not indexes_ok() then return redis.error_reply('index key of the wrong type') end\n"
    "local ids = redis.call('ZRANGEBYSCORE', p..'exp', '-inf', now, 'LIMIT', 0, 1000)\n"
    "local total = redis.call('ZCOUNT', p..'exp', '-inf', now)\n"
    "local out, gone = {}, {}\n"
    "for _, impi in ipairs(ids) do\n"
    "  local f = record(impi)\n"
    "  if f then table.insert(out, f[1]) table.insert(out, f[2] or '0')\n"
    "  else table.insert(gone, impi) end\n"
    "end\n"
    "return {gone_from(gone, total), out}\n";

/* ARGV: p -> {0, '', registrations, contacts}: the counts, and a health check. */
static const char lua_counts[] = LUA_COMMON "return counts(0, '')\n";

#endif
