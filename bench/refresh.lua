-- wrk script: a refresh_token grant per request, each thread chaining the token it got back
-- (refresh tokens rotate on every use). Run with as many threads as connections.
local client_id = os.getenv("BENCH_CLIENT_ID")
local client_secret = os.getenv("BENCH_CLIENT_SECRET")
local tokens = {}
for token in string.gmatch(os.getenv("BENCH_REFRESH_TOKENS"), "[^,]+") do
  table.insert(tokens, token)
end
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("token", tokens[counter])
end

function request()
  local body = "grant_type=refresh_token&refresh_token=" .. token
    .. "&client_id=" .. client_id .. "&client_secret=" .. client_secret
  return wrk.format("POST", "/oauth/token",
    {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end

function response(status, headers, body)
  local next_token = string.match(body, '"refresh_token": ?"([^"]+)"')
  if next_token then
    token = next_token
  end
end
