-- POST a withdrawal on a consumed wallet: each line is used once (the wallet is then frozen, held 48 h).
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")
function init(args) load_items(args) end
function request()
  local item = next_item()
  return wrk.format("POST", "/api/v1/wallets/" .. item.wallet .. "/withdrawals/", headers(item), "{}")
end
