// Package downlink is the township service's own MQTT client. It keeps one
// persistent session (CleanSession=false, a fixed client id) with the broker,
// re-subscribing to what every box publishes (status, reported, events,
// cmd/result) on every connect, and publishes signed desired state
// (retained) and signed commands.
//
// Each message is routed by protocol.ParseTopic to a worker chosen by box
// id, so one box's messages are handled one at a time and in order while
// boxes proceed in parallel, and nothing slow ever runs on paho's router
// goroutine. A message the broker sent from its retained store because the
// service subscribed is marked Retained: it may be old, or have been left by
// a client long gone, and must not be taken as a sign that the box is there. A payload the protocol refuses is logged (box_id, topic,
// reason), counted per box (Rejected) and dropped: it never stops the
// client. Replies made while handling (event acks) are published without
// waiting; their delivery is watched by a goroutine of Run.
//
// SendCommand signs a command with the township key, publishes it and waits
// for the box's result with the same id.
//
// It knows topics only through protocol, and nothing of stores, HTTP or
// what the handler does with a message.
package downlink
