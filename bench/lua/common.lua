-- Shared by the load scripts: each wrk thread reads "token wallet_id" lines (file given after `--`) and
-- walks its own stride of them, so no two requests in a run use the same line.
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function load_items(args)
  items = {}
  for line in io.lines(args[1]) do
    local token, wallet = line:match("^(%S+)%s+(%S+)$")
    items[#items + 1] = { token = token, wallet = wallet }
  end
  nthreads = tonumber(args[2])
  idx = tid
  sent = 0
end

function next_item()
  local item = items[(idx % #items) + 1]
  idx = idx + nthreads
  sent = sent + 1
  return item
end

function headers(item)
  return { ["Authorization"] = "Token " .. item.token, ["Content-Type"] = "application/json" }
end
