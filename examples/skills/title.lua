-- The seed's UpdateTitle example, with its whitelist from the skill's
-- config:
--
--   skills:
--     - twitch:
--       path: examples/skills/title.lua
--       whitelisted:
--         - your_username_on_twitch
--
-- The users constraint compares logins exactly (case-insensitively), never
-- display names and never substrings; "id:12345" entries match user ids.
-- A missing `whitelisted` option is a load error, not "everyone".
local twitch = bot.connector("twitch")

bot.match_regex([[\!title (.*)]], {users = bot.config.whitelisted}, function(message, m)
  bot.log.info("Attempt to change title")
  twitch:send(bot.UpdateTitle{status = m[1]})
end)
