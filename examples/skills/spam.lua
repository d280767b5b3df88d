-- The seed's BanUser example: ban the bots that sell followers and delete
-- their message. Helix bans by user id; the runtime fills it from the
-- message, since the ban names the message's own sender.
local twitch = bot.connector("twitch")

bot.match_regex([[famous\? Buy followers]], {case_sensitive = false}, function(message)
  twitch:send(bot.BanUser{user = message.user})
  twitch:send(bot.DeleteMessage{id = message.event_id})
end)
