-- The benchmark's fake OpenAI upstream, loaded once per nginx worker by init_by_lua.
-- Every reply is a constant string built here once: a request costs a bearer check, a look at
-- the (small, in-memory) body and one write, so the upstream is never what a run measures.
local M = {}

local HEAD = '{"id":"chatcmpl-fake0000000000000000000000","created":1700000000,"model":"fake-model",' ..
  '"system_fingerprint":"fp_fake",'
local USAGE = '"usage":{"prompt_tokens":24,"completion_tokens":17,"total_tokens":41}'
local PIECES = { "Hello!", " This is a fixed reply", " from the fake upstream", " used for gateway", " benchmarks." }

M.completion = HEAD .. '"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant",' ..
  '"content":"' .. table.concat(PIECES) .. '","refusal":null},"logprobs":null,"finish_reason":"stop"}],' ..
  USAGE .. '}'

local function event(choices)
  return 'data: ' .. HEAD .. '"object":"chat.completion.chunk","choices":' .. choices .. '}\n\n'
end

local function delta(body, finish)
  return event('[{"index":0,"delta":' .. body .. ',"logprobs":null,"finish_reason":' .. finish .. '}]')
end

local events = { delta('{"role":"assistant","content":""}', "null") }
for _, piece in ipairs(PIECES) do
  events[#events + 1] = delta('{"content":"' .. piece .. '"}', "null")
end
events[#events + 1] = delta('{}', '"stop"')
local STREAM = table.concat(events)
-- Sent only when the request asks for stream_options.include_usage, as the real API does.
local USAGE_EVENT = 'data: ' .. HEAD .. '"object":"chat.completion.chunk","choices":[],' .. USAGE .. '}\n\n'
local DONE = "data: [DONE]\n\n"
local UNAUTHORIZED = '{"error":{"message":"Missing bearer token in Authorization header.",' ..
  '"type":"invalid_request_error","param":null,"code":"invalid_api_key"}}'

local function reply(status, content_type, body)
  ngx.status = status
  ngx.header["Content-Type"] = content_type
  ngx.header["Content-Length"] = #body
  ngx.print(body)
end

function M.handle()
  local auth = ngx.var.http_authorization
  if auth == nil or not auth:find("^Bearer %S") then
    return reply(401, "application/json", UNAUTHORIZED)
  end
  ngx.req.read_body()
  local body = ngx.req.get_body_data() or ""
  if not body:find('"stream"%s*:%s*true') then
    return reply(200, "application/json", M.completion)
  end
  ngx.header["Content-Type"] = "text/event-stream"
  ngx.header["Cache-Control"] = "no-cache"
  if body:find('"include_usage"%s*:%s*true') then
    ngx.print(STREAM, USAGE_EVENT, DONE)
  else
    ngx.print(STREAM, DONE)
  end
end

return M
