-- A timer: an announcement every `every` seconds (default 300) in `room`.
local twitch = bot.connector("twitch")
local text = bot.option("text", "Follow the channel to know when I'm live!")

bot.every(bot.option("every", 300), function()
  twitch:send(bot.Message{text = text, target = bot.config.room})
end)
