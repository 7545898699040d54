// Package web is the township service's HTTP face: the JSON API under
// /api/v1 (and, later, the console). It authenticates with bearer tokens
// (POST /api/v1/login), checks each route's role through auth.Allowed,
// decodes request bodies strictly (unknown fields, trailing data and bodies
// over 64 KiB are refused) and answers every error as {"error": "..."}
// with its status code.
//
// Routes:
//
//	GET  /healthz                           no token
//	POST /api/v1/login                      {username, password} → {token, expires_at}
//	POST /api/v1/logout                     ends the token's session
//	GET  /api/v1/boxes                      every box
//	POST /api/v1/boxes                      admin: {id, name} → {box, edge_config}
//	GET  /api/v1/boxes/{id}                 one box
//	GET  /api/v1/boxes/{id}/events          ?after=SEQ&limit=N (100, at most 1000) → {events, next_after}
//	POST /api/v1/boxes/{id}/commands        admin, operator: {type, args} → the box's result; 504 without one
//
// It knows the store, the fleet and the downlink only through the
// interfaces it declares; nothing here speaks MQTT or bbolt.
package web
