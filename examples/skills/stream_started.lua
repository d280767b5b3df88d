-- The seed's first example: when the stream goes live, tell another
-- connector (Rocket.Chat in the seed). The connector's name and the room
-- come from the skill's options, with the seed's defaults:
--
--   skills:
--     - name: stream_started
--       path: examples/skills/stream_started.lua
--       connector: rocketchat     # optional
--       room: "#general"          # optional; the connector's default room
local rocketchat = bot.connector(bot.option("connector", "rocketchat"))
local room = bot.option("room", nil)

bot.match_event("StreamStarted", function(event)
  rocketchat:send(bot.Message{
    text = "I'm live on twitch, come see me work on " .. (event.title or "something"),
    target = room,
  })
end)
