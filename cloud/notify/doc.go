// Package notify delivers short messages from the township service to the
// places officials and villagers read: WeCom (企业微信) and DingTalk (钉钉)
// group robots, Feishu (飞书) custom bots, a generic JSON webhook, and an
// SMS gateway reached over HTTP. Alerts about boxes and the publication
// of a village's 红黑榜 both go through it.
//
// A Channel is one destination as the township configured it; a Message
// is what is said: a title, the text, and optionally a picture (the
// list's poster as PNG). Each kind of channel gets the request its own
// documentation describes:
//
//   - wecom: POST the robot's webhook URL (…/cgi-bin/webhook/send?key=…)
//     {"msgtype":"text","text":{"content":…}}, then, for a picture,
//     {"msgtype":"image","image":{"base64":…,"md5":…}} (PNG or JPEG up to
//     2 MB, md5 of the bytes before encoding). Text is cut to 2048 bytes.
//     Success is {"errcode":0}.
//   - dingtalk: POST the robot's URL (…/robot/send?access_token=…) with
//     &timestamp=<ms>&sign=<urlencoded base64 HMAC-SHA256 of
//     "timestamp\nsecret" keyed by the secret> when a signing secret is
//     set; {"msgtype":"markdown","markdown":{"title":…,"text":…}} with the
//     picture as a link (![](url)), since a DingTalk robot cannot upload
//     one; plain {"msgtype":"text"} when there is no picture. Success is
//     {"errcode":0}.
//   - feishu: POST the bot's URL (…/bot/v2/hook/…) {"msg_type":"text",
//     "content":{"text":…}}, with "timestamp" (seconds) and "sign" (base64
//     HMAC-SHA256 keyed by "timestamp\nsecret" over nothing) when a secret
//     is set; the picture as a link. Success is {"code":0}.
//   - webhook: POST {"title","text","link","image_url","image_png"} (the
//     picture base64); with a secret, X-Dalaba-Timestamp and
//     X-Dalaba-Signature: sha256=<hex HMAC-SHA256 of "timestamp.body">.
//     Any 2xx is success.
//   - sms: POST {"phones":[…],"text":…} to the gateway, with
//     "Authorization: Bearer <secret>" when a secret is set; text only,
//     cut to 300 characters. Any 2xx is success.
//
// Send makes one attempt and says whether a failure is worth another
// (Retryable: the network, 5xx, 429, the platforms' "too fast" codes) or
// not (a wrong key, a refused format). Deliver retries a retryable
// failure with capped exponential backoff on an injected clock. Keeping
// deliveries across restarts, and showing their outcome, is the caller's:
// this package keeps no state.
//
// It knows nothing of boxes, lists or alerts; notifytest is a receiver
// that checks each platform's request format, for tests.
package notify
