// Package auth is who may use the township service and what they may do:
// users with bcrypt password hashes and roles, bearer tokens (stored only
// as sha256), sign-in limits, and the one table of actions and the roles
// that may do them (table.go). It knows nothing of HTTP routing or MQTT;
// cloud/auth/forwarded finds a request's client address behind trusted
// proxies, which the sign-in limits count by.
//
// Accounts are never deleted, only disabled, so the names in the audit
// trail keep meaning someone. A change of role or password, or disabling,
// ends every session of the account at once. Sign-ins, sign-outs and
// lock-outs are appended to the audit trail (store.AuditTrail) as "login",
// "logout" and "login.locked", without any secret.
//
// Roles, from most to least powerful: admin (everything, users and boxes),
// reviewer (reviews lists; looks at boxes; reads the audit trail),
// operator (runs the boxes day to day and keeps the lists), viewer
// (looks). Every route of the API and the console names an Action, and
// cloud/lists asks for one before its finer rules; Allowed answers from
// the table and from nowhere else, and pages get Can(role), never a role's
// name.
//
// Units (scope.go): the deployment is the county, and its townships
// (store.Township) are units under it. A user belongs to one unit
// (store.User.Township; "" = the county) and so does a box (its
// Township; "" = directly under the county). A role applies within the
// user's unit: Decide(user, action, target's township) is the one
// decision, the table's row for the role, then Scope.Covers (the county
// covers everything, a township its own villages, users and claims
// only), then the table's county flag, which keeps making townships,
// moving boxes between them and the alert channels for county users. A
// township's admin manages that township's users only; the county keeps
// at least one enabled admin of its own.
//
// User names are kept in one canonical form (names.go): NFKC, case-folded,
// from a narrow set of characters, so look-alikes cannot be made. Accounts
// made before that rule keep their names as written and are found by the
// same folding: nothing needs migrating, but two older names that fold
// alike ("Li" and "LI") sign in only by their exact spelling, and an
// admin should disable one of them.
//
// Sign-in (limit.go): every attempt reserves its place in three counts
// (account and address, address, account) before the password is
// compared, so parallel guesses cannot slip past the limits; lock-outs
// back off from FirstLockout to MaxLockout; an account or address locked
// by strangers still admits those who signed in from that address before.
// Every answer costs one bcrypt comparison, against a decoy hash where
// there is no real one, so its time does not tell which names exist.
package auth
