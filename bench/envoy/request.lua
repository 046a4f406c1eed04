-- wrk script for bench/envoy.py: a browser-like GET on the benchmark's matched host and path,
-- with several cookies, one of them the user id. The user changes with every request (a
-- permutation of `users` ids), so the filter's hashing sees many users, not one cached value.
-- Arguments (after `--`): host, number of users, and optionally a body size: then each request is
-- a POST with a JSON body of that many bytes. done() prints one JSON line for the script.

local host = "shop.example.com"
local users = 100000
local n = 0
local body = nil

function init(args)
  host = args[1] or host
  users = tonumber(args[2]) or users
  local size = tonumber(args[3])
  if size then
    local head = '{"features": "'
    body = head .. string.rep("x", math.max(0, size - #head - 2)) .. '"}'
  end
end

function request()
  n = n + 1
  local u = (n * 7919) % users -- 7919 is prime, so this walks every user before repeating
  local cookie = string.format(
    "_ga=GA1.2.%d.1717171717; theme=dark; lang=en-US; uid=%08x-%04x-4bd1-9c2e-%012d; " ..
    "session=s%010d.Zm9vYmFyYmF6cXV4; consent=analytics%%3Dyes%%26ads%%3Dno",
    1000000000 + u, u * 2654435761 % 4294967296, u % 65536, u, (u * 48271) % 2147483647)
  local headers = {
    ["Host"] = host,
    ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    ["Accept"] = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    ["Accept-Language"] = "en-US,en;q=0.5",
    ["Accept-Encoding"] = "gzip, deflate, br",
    ["Referer"] = "https://" .. host .. "/catalog/shoes",
    ["Cookie"] = cookie,
  }
  if body then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", nil, headers, body)
  end
  return wrk.format("GET", nil, headers, nil)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_WRK {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"mean_us": %.1f, "max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
