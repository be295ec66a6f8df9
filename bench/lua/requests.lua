-- wrk script for the bench. Requests come from the file named by WRK_REQUESTS,
-- one per line, tab-separated: method, path, bearer token or "-", JSON body or
-- "-". Each request picks a line at random. In a body, {unique} becomes a value
-- no other request of this wrk run (WRK_NONCE) uses, and {either:A|B} becomes
-- A, then B, then A... for the requests of that line (per wrk thread: with one
-- thread, each request undoes the line's last one). WRK_DELAY_MS, when set,
-- paces each connection (a health checker polls, it does not flood).
-- done() prints one JSON line, prefixed BENCH_JSON, for the bench to parse.

local entries = {}
local nonce = os.getenv("WRK_NONCE") or "0"
local counter = 0
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_no", threads)
end

function init(args)
  local file = assert(io.open(os.getenv("WRK_REQUESTS"), "r"))
  for line in file:lines() do
    local method, path, token, body = line:match("^(%S+)\t(%S+)\t(%S+)\t(.*)$")
    if method then
      local headers = {}
      if token ~= "-" then headers["Authorization"] = "Bearer " .. token end
      if body == "-" then
        body = nil
      else
        headers["Content-Type"] = "application/json"
      end
      if body and (body:find("{unique}", 1, true) or body:find("{either:", 1, true)) then
        table.insert(entries, { method = method, path = path, headers = headers, body = body, sent = 0 })
      else
        table.insert(entries, { ready = wrk.format(method, path, headers, body) })
      end
    end
  end
  file:close()
  assert(#entries > 0, "no requests in WRK_REQUESTS")
  math.randomseed(os.time() + (thread_no or 0) * 7919)
end

local delay_ms = tonumber(os.getenv("WRK_DELAY_MS") or "")
if delay_ms then
  function delay()
    return delay_ms
  end
end

function request()
  local entry = entries[math.random(#entries)]
  if entry.ready then
    return entry.ready
  end
  counter = counter + 1
  entry.sent = entry.sent + 1
  local unique = nonce .. "-" .. (thread_no or 0) .. "-" .. counter .. "-" .. math.random(1000000000)
  local body = entry.body:gsub("{unique}", unique)
  body = body:gsub("{either:([^|}]*)|([^}]*)}", function(first, second)
    if entry.sent % 2 == 1 then return first end
    return second
  end)
  return wrk.format(entry.method, entry.path, entry.headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,'
      .. '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,'
      .. '"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
