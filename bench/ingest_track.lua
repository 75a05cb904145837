-- wrk script for bench/ingest.py: POST order_placed events to /api/v1/track.
--
-- Arguments after `--`: mode (single, batch, or warmup, which sends batches
-- under keys of its own), events per request, size of the visitor id pool,
-- run id, write key, load seconds, random seed.
--
-- Each event carries an idempotency key made of the run id, the mode, the
-- wrk thread number and a counter, so no two events share a key. Bodies look
-- like the widget's: text/plain JSON with write_key, visitor_id and sent_at
-- in the envelope.
--
-- After `load seconds` delay() keeps every connection idle, so a request
-- that is still in flight gets until wrk's own end (-d, which bench/ingest.py
-- sets some seconds later) to finish. Without that drain, wrk would drop
-- requests at its end that the server may still store, and stored could not
-- be compared with acknowledged. done() prints one line that starts with
-- BENCH_RESULT followed by JSON: wrk's counts, its latency percentiles in
-- microseconds and the per-thread counters kept here.

local ffi = require("ffi")

ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]])

local CLOCK_MONOTONIC = 1
local timespec = ffi.new("bench_timespec")

local function monotonic_seconds()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) * 1e-9
end

-- Countries that occur often in the UCI Online Retail orders of the demo.
local COUNTRIES = {
  "United Kingdom", "Germany", "France", "EIRE", "Spain", "Netherlands",
  "Belgium", "Switzerland", "Portugal", "Australia",
}

-- Main state: one entry per wrk thread, read back in done().
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

-- Thread state. These are globals so that done() can read them with
-- thread:get().
sent = 0
received = 0
status_2xx = 0
status_other = 0
events_stored = 0
events_duplicate = 0
events_rejected = 0
first_sent_at = 0
last_received_at = 0

function init(args)
  mode = args[1]
  per_request = tonumber(args[2])
  visitor_pool = tonumber(args[3])
  run_id = args[4]
  write_key = args[5]
  deadline = monotonic_seconds() + tonumber(args[6])
  math.randomseed(tonumber(args[7]) + thread_number)
  counter = 0
  key_prefix = string.format("%s-%s-%d-", run_id, mode:sub(1, 1), thread_number)
  -- wrk 4.1 calls request() once in the first thread before the load
  -- starts, to check the request it builds. That request is never sent.
  check_call_pending = thread_number == 1
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "text/plain;charset=UTF-8"
  wrk.headers["Origin"] = "https://bench.example"
  -- A new connection per request, as nginx opens to its upstream by default.
  -- wrk opens all its keep-alive connections at once, and one gunicorn
  -- worker tends to accept all of them, which leaves the others idle.
  wrk.headers["Connection"] = "close"
end

local function event_json(stamp)
  counter = counter + 1
  return string.format(
    '{"name":"order_placed","attributes":{"invoice":"B%d-%d","amount":%.2f,'
      .. '"items":%d,"lines":%d,"country":"%s"},"occurred_at":"%s",'
      .. '"idempotency_key":"%s%d","page_url":"https://bench.example/checkout"}',
    thread_number, counter, math.random(100, 50000) / 100, math.random(1, 40),
    math.random(1, 12), COUNTRIES[math.random(#COUNTRIES)], stamp,
    key_prefix, counter
  )
end

function request()
  if check_call_pending then
    check_call_pending = false
  else
    sent = sent + 1
    if first_sent_at == 0 then
      first_sent_at = monotonic_seconds()
    end
  end

  local stamp = os.date("!%Y-%m-%dT%H:%M:%SZ")
  local envelope = string.format(
    '{"write_key":"%s","visitor_id":"bench-visitor-%05d","sent_at":"%s",',
    write_key, math.random(visitor_pool), stamp
  )
  local body
  if mode == "single" then
    -- One event at the top level: its fields follow the envelope's.
    body = envelope .. event_json(stamp):sub(2)
  else
    local events = {}
    for index = 1, per_request do
      events[index] = event_json(stamp)
    end
    body = envelope .. '"events":[' .. table.concat(events, ",") .. "]}"
  end
  return wrk.format(nil, nil, nil, body)
end

function delay()
  if monotonic_seconds() >= deadline then
    -- Longer than any run: the connection stays idle until wrk stops.
    return 3600 * 1000
  end
  return 0
end

local function count(text, pattern)
  local _, matches = text:gsub(pattern, "")
  return matches
end

function response(status, headers, body)
  received = received + 1
  last_received_at = monotonic_seconds()
  if status >= 200 and status < 300 then
    status_2xx = status_2xx + 1
    -- DRF renders compact JSON: {"accepted":[{"index":0,"duplicate":false},
    -- ...],"rejected":[{"index":...}]}.
    events_stored = events_stored + count(body, '"duplicate":false')
    events_duplicate = events_duplicate + count(body, '"duplicate":true')
    events_rejected = events_rejected + count(body, '{"index":%d+,"field"')
  else
    status_other = status_other + 1
  end
end

local COUNTERS = {
  "sent", "received", "status_2xx", "status_other", "events_stored",
  "events_duplicate", "events_rejected", "first_sent_at", "last_received_at",
}

function done(summary, latency, requests)
  local parts = {}
  for _, thread in ipairs(threads) do
    local fields = {}
    for _, name in ipairs(COUNTERS) do
      table.insert(fields, string.format('"%s":%.6f', name, thread:get(name)))
    end
    table.insert(parts, "{" .. table.concat(fields, ",") .. "}")
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"mean":%.1f,"max":%d},'
      .. '"threads":[%s]}\n',
    summary.requests, summary.duration, summary.bytes,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max, table.concat(parts, ",")
  ))
end
