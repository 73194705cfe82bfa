-- The flash sale: every line ("token buyer") buys the campaign once, with its own Idempotency-Key, as a buyer's
-- app sends it. Each thread sends its share of the buyers; connections that are still open once
-- the share is sent ask GET /api/v1/ping/ (a 200, not counted) until the bench stops wrk (SIGINT) once every
-- buyer has an answer: wrk runs its whole -d otherwise, even when a thread stops itself.
-- Counts per thread: 201, 409 out_of_stock, other 4xx, 5xx; done() prints them as one "FLASH" line.
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  tid = tid or 0
  load_items(args)
  campaign = args[3]
  share = 0
  for i = tid + 1, #items, nthreads do share = share + 1 end
  sold, sold_out, refused, failed, answered = 0, 0, 0, 0, 0
  -- wrk calls the first thread's request() once right after its init() to check the script (and throws that
  -- request away): answer that call without using up a buyer.
  checking = tid == 0
end

function request()
  if checking then
    checking = false
    return wrk.format("GET", "/api/v1/ping/", headers(items[1]))
  end
  if sent >= share then
    return wrk.format("GET", "/api/v1/ping/", headers(items[1]))
  end
  local item = next_item()
  local h = headers(item)
  h["Idempotency-Key"] = "flash-" .. item.wallet
  return wrk.format("POST", "/api/v1/campaigns/" .. campaign .. "/purchase/", h, "{}")
end

function response(status, headers, body)
  if status == 200 then return end
  answered = answered + 1
  if status == 201 then sold = sold + 1
  elseif status == 409 and body:find('"out_of_stock"', 1, true) then sold_out = sold_out + 1
  elseif status >= 500 then failed = failed + 1
  else refused = refused + 1 end

end

function done(summary, latency, requests)
  local s, o, r, f = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    s = s + t:get("sold"); o = o + t:get("sold_out"); r = r + t:get("refused"); f = f + t:get("failed")
  end
  io.write(string.format("FLASH sold=%d sold_out=%d refused=%d failed=%d\n", s, o, r, f))
end
