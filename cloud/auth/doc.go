// Package auth is who may use the township service: users with bcrypt
// password hashes and roles, bearer tokens (stored only as sha256), login
// rate limiting, and what each role may do. It knows nothing of HTTP
// routing or MQTT.
//
// Accounts are never deleted, only disabled, so the names in the audit
// trail keep meaning someone. A change of role or password, or disabling,
// ends every session of the account at once. Sign-ins and sign-outs are
// appended to the audit trail (store.AuditTrail) as "login" and "logout",
// without any secret.
//
// Roles, from most to least powerful: admin (everything, users and boxes),
// reviewer (reviews lists; looks at boxes; reads the audit trail),
// operator (runs the boxes day to day: commands), viewer (looks). Allowed
// is the one place that says which role may do what.
package auth
