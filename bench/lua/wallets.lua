dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")
function init(args) load_items(args) end
function request()
  return wrk.format("GET", "/api/v1/wallets/", headers(next_item()))
end
