// Package auth is who may use the township service: users with bcrypt
// password hashes and roles, bearer tokens (stored only as sha256), login
// rate limiting, and what each role may do. It knows nothing of HTTP
// routing or MQTT.
//
// Roles, from most to least powerful: admin (everything, users and boxes),
// reviewer (reviews lists; looks at boxes), operator (runs the boxes day
// to day: commands), viewer (looks). Allowed is the one place that says
// which role may do what.
package auth
