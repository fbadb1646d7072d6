-- wrk script: WRK_MODE=predict sends POST bodies picked at random from the file WRK_BODIES
-- (one JSON body a line, written by bench/run.py from app.domain.features); anything else is a GET.
-- At the end it prints one JSON line the benchmark runner parses.
local mode = os.getenv("WRK_MODE") or "get"
wrk.headers["Content-Type"] = "application/json"

if mode == "predict" then
  local bodies = {}
  for line in io.lines(os.getenv("WRK_BODIES")) do bodies[#bodies + 1] = line end
  math.randomseed(os.time())
  request = function()
    return wrk.format("POST", nil, nil, bodies[math.random(#bodies)])
  end
end

done = function(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "status_errors": %d, "timeouts": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
