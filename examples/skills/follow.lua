-- The seed's UserFollowed example: thank every new follower in chat. The
-- reply goes to the channel the follow happened in (the runtime fills the
-- room from the event when the action goes back to the same connector).
local twitch = bot.connector("twitch")

bot.match_event("UserFollowed", function(event)
  twitch:send(bot.Message("Thank you so much for the follow " .. event.follower ..
                          ", you are awesome!"))
end)
