-- wrk script: POSTs the pre-signed Standard Webhooks requests from $BENCH_SIGNATURES, each once
-- (threads take interleaved lines), with the 1 KiB body from $BENCH_BODY. Each request is one
-- string concatenation of prepared pieces, so the load generator spends as little CPU per request
-- as it does for the plain GET /healthz run it is compared with.
local headers = {}
local head, tail
local cursor = 0
local step = 1

function setup(thread)
  thread:set("tid", thread_count or 0)
  thread_count = (thread_count or 0) + 1
end

function init(args)
  local f = assert(io.open(os.getenv("BENCH_BODY"), "r"))
  local body = f:read("*a")
  f:close()
  step = tonumber(os.getenv("BENCH_THREADS") or "1")
  local mine = tonumber(tid) or 0
  local n = 0
  for line in io.lines(os.getenv("BENCH_SIGNATURES")) do
    if n % step == mine then
      local id, ts, sig = line:match("^(%S+) (%S+) (%S+)$")
      headers[#headers + 1] = "webhook-id: " .. id .. "\r\nwebhook-timestamp: " .. ts .. "\r\nwebhook-signature: " .. sig .. "\r\n"
    end
    n = n + 1
  end
  local host = wrk.headers["Host"] or (wrk.host .. ":" .. wrk.port)
  head = "POST /hooks/bench HTTP/1.1\r\nHost: " .. host .. "\r\nContent-Type: application/json\r\nContent-Length: " .. #body .. "\r\n"
  tail = "\r\n" .. body
end

function request()
  cursor = cursor % #headers + 1
  return head .. headers[cursor] .. tail
end

function done(summary, latency, requests)
  io.write(string.format("BENCH non2xx=%d errors=%d\n", summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
