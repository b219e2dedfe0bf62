-- Merges quote points into the series stored at KEYS[1], atomically (docs/contract.md,
-- "Series"). ARGV: [1] the new points, a JSON array as JSON.stringify writes it; [2] TTL
-- in seconds; [3] window in ms; [4] largest value in bytes; [5] the writer's clock in ms.
-- Returns the merged series, or (an integer) its size in bytes when that is too big and
-- nothing was stored: a plain reply, which reaches us alike through a pipeline and through
-- the cluster client.
--
-- It works on each object's text: cjson would re-encode numbers with 14 significant
-- digits and in no fixed key order. Only `t` is read as a number; the bytes stored are the
-- objects' own, so the value stays exactly what JSON.stringify of the series gives.

local points = {}

-- Appends the objects of a JSON array: those with a finite `t` > 0, and their order.
local function objects(text)
  if type(text) ~= 'string' or string.byte(text, 1) ~= 91 then return end
  local i, depth, open = 2, 0, nil
  while true do
    local hit = string.find(text, '["{}]', i)
    if not hit then return end
    local c = string.byte(text, hit)
    i = hit + 1
    if c == 34 then
      repeat
        local q = string.find(text, '["\\]', i)
        if not q then return end
        local quote = string.byte(text, q) == 34
        i = q + (quote and 1 or 2)
      until quote
    elseif c == 123 then
      depth = depth + 1
      if depth == 1 then open = hit end
    elseif depth > 0 then
      depth = depth - 1
      if depth == 0 then
        local object = string.sub(text, open, hit)
        local t = tonumber(string.match(object, '^{[^"]*"t":([%d%.eE%+%-]+)')
          or string.match(object, ',"t":([%d%.eE%+%-]+)'))
        if t and t > 0 and t < math.huge then
          points[#points + 1] = { t = t, text = object, order = #points + 1 }
        end
      end
    end
  end
end

objects(redis.call('GET', KEYS[1]))
objects(ARGV[1])

-- A point dated beyond one window ahead of the writer's clock would become the series'
-- latest and prune every real one: it is dropped instead.
local window = tonumber(ARGV[3])
local horizon = tonumber(ARGV[5]) + window
local kept = {}
for _, p in ipairs(points) do
  if p.t <= horizon then kept[#kept + 1] = p end
end

-- Stable by t: ties keep stored points first, then the input's order.
table.sort(kept, function(a, b)
  if a.t ~= b.t then return a.t < b.t end
  return a.order < b.order
end)

local from = #kept > 0 and kept[#kept].t - window or 0
local seen, out = {}, {}
for _, p in ipairs(kept) do
  if p.t >= from and not seen[p.text] then
    seen[p.text] = true
    out[#out + 1] = p.text
  end
end

local merged = '[' .. table.concat(out, ',') .. ']'
if #merged > tonumber(ARGV[4]) then
  return #merged
end
redis.call('SET', KEYS[1], merged, 'EX', ARGV[2])
return merged
