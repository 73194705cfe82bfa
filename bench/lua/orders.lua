-- POST an order of 0.01 at the store, paid from the consumer's allowance; order refs never repeat.
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")
function init(args)
  load_items(args)
  store = args[3]
  run = args[4]
end
function request()
  local item = next_item()
  local body = string.format('{"store": %s, "order_ref": "bench-%s-%d-%d", "amount": "0.01"}', store, run, tid, sent)
  return wrk.format("POST", "/api/v1/orders/", headers(item), body)
end
