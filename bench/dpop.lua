-- wrk script: GET /api/me with a DPoP-bound token, a fresh proof per request (each proof's
-- jti is accepted once). BENCH_PROOFS names a file of proofs, one a line; thread i of
-- BENCH_THREADS takes every line whose number is i modulo BENCH_THREADS.
local token = os.getenv("BENCH_TOKEN")
local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
end

function init(args)
  proofs, next_proof = {}, 1
  local total, n = tonumber(os.getenv("BENCH_THREADS")), 0
  for line in io.lines(os.getenv("BENCH_PROOFS")) do
    if n % total == index then
      table.insert(proofs, line)
    end
    n = n + 1
  end
end

function request()
  local proof = proofs[next_proof] or "exhausted"
  next_proof = next_proof + 1
  return wrk.format("GET", "/api/me", {["Authorization"] = "DPoP " .. token, ["DPoP"] = proof})
end
