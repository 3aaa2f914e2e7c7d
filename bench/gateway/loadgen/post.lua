-- wrk script: POST a chat completion request and print one JSON summary line at the end
-- ("WRK_JSON {...}", read by bench/gateway/loads.py). Everything comes from the environment,
-- so the token never appears on a command line:
--   BENCH_TOKEN    bearer token          BENCH_MODEL   model name
--   BENCH_STREAM   "1": "stream": true   BENCH_HEADERS extra headers, one "Name: value" a line
--                                                      (replacing a built-in one of that name)
local token = os.getenv("BENCH_TOKEN") or "x"
local model = os.getenv("BENCH_MODEL") or "fake-model"
local stream = os.getenv("BENCH_STREAM") == "1"
local extra_headers = os.getenv("BENCH_HEADERS") or ""

wrk.method = "POST"
wrk.body = '{"model":"' .. model .. '","messages":[' ..
  '{"role":"system","content":"You are a helpful assistant."},' ..
  '{"role":"user","content":"Say hello in one short sentence."}],' ..
  '"max_tokens":32' .. (stream and ',"stream":true' or '') .. '}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token
for line in extra_headers:gmatch("[^\r\n]+") do
  local name, value = line:match("^%s*([^:%s]+)%s*:%s*(.-)%s*$")
  if not name then error("BENCH_HEADERS: bad line '" .. line .. "', expected 'Name: value'") end
  for existing in pairs(wrk.headers) do
    if existing:lower() == name:lower() then wrk.headers[existing] = nil end
  end
  wrk.headers[name] = value
end

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    'WRK_JSON {"requests":%d,"rps":%.3f,"p50_ms":%.4f,"p90_ms":%.4f,"p99_ms":%.4f,"errors":%d}\n',
    summary.requests, summary.requests / seconds, latency:percentile(50) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.status + e.timeout))
end
