-- wrk script: POSTs the pre-signed Standard Webhooks requests from $BENCH_SIGNATURES, each once
-- (threads take interleaved lines), with the 1 KiB body from $BENCH_BODY.
local signatures = {}
local body
local cursor = 0
local step = 1

function setup(thread)
  thread:set("tid", thread_count or 0)
  thread_count = (thread_count or 0) + 1
end

function init(args)
  local f = assert(io.open(os.getenv("BENCH_BODY"), "r"))
  body = f:read("*a")
  f:close()
  for line in io.lines(os.getenv("BENCH_SIGNATURES")) do
    local id, ts, sig = line:match("^(%S+) (%S+) (%S+)$")
    signatures[#signatures + 1] = { id, ts, sig }
  end
  cursor = tonumber(tid) or 0
  step = tonumber(os.getenv("BENCH_THREADS") or "1")
end

function request()
  cursor = cursor + step
  local entry = signatures[((cursor - 1) % #signatures) + 1]
  return wrk.format("POST", "/hooks/bench", {
    ["Content-Type"] = "application/json",
    ["webhook-id"] = entry[1],
    ["webhook-timestamp"] = entry[2],
    ["webhook-signature"] = entry[3],
  }, body)
end

function done(summary, latency, requests)
  io.write(string.format("BENCH non2xx=%d errors=%d\n", summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
