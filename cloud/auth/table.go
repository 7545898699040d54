package auth

import "github.com/dalaba/dalaba/cloud/store"

// Action is something a role may or may not do. Every route of the API and
// the console names one, and cloud/lists asks for one before its own finer
// rules (nobody approves what they wrote); table says who may do each.
type Action uint8

// The actions. The zero Action is none of them and no role may do it, so
// a route registered without a real action admits nobody.
const (
	// ActionSignedIn is what every signed-in user may do: sign out, and
	// reach the API through the console's bridge (where the API then
	// checks the route's own action).
	ActionSignedIn Action = iota + 1
	// ActionViewBoxes reads boxes, their health and their events.
	ActionViewBoxes
	// ActionManageBoxes registers boxes (and so mints their credentials).
	ActionManageBoxes
	// ActionSendCommands sends any signed command to a box.
	ActionSendCommands
	// ActionViewBroadcast reads plans, the coming playbacks and the clip
	// library.
	ActionViewBroadcast
	// ActionManageBroadcast edits speakers, zones and schedules, and
	// uploads or speaks clips.
	ActionManageBroadcast
	// ActionPlayNow plays and stops clips and sets volumes now.
	ActionPlayNow
	// ActionPage speaks live through the horns (喊话).
	ActionPage
	// ActionViewCameras lists a box's cameras and watches them live.
	ActionViewCameras
	// ActionManageCameras changes a box's cameras and their credentials.
	ActionManageCameras
	// ActionViewLists reads the red and black lists: registers, entries,
	// published lists, points and posters.
	ActionViewLists
	// ActionEditLists keeps the registers and categories, writes and
	// submits entries, and publishes and announces lists.
	ActionEditLists
	// ActionReviewLists approves, rejects and revokes entries.
	ActionReviewLists
	// ActionViewEntryHistory reads one list entry's own records in the
	// audit trail: who wrote, edited, approved, rejected, published or
	// revoked it, with each version. Far narrower than ActionViewAudit.
	ActionViewEntryHistory
	// ActionViewAudit reads the whole audit trail: every sign-in with its
	// address, every user change, every change to every box.
	ActionViewAudit
	// ActionManageUsers adds accounts and changes their roles, passwords
	// and whether they are disabled.
	ActionManageUsers
	// ActionViewObjections reads the objections and flags on list
	// entries, with the objectors' names and contacts.
	ActionViewObjections
	// ActionLodgeObjection records an objection a villager brings to the
	// office during public notice (公示).
	ActionLodgeObjection
	// ActionFlagLists flags an entry for re-examination, which holds it.
	ActionFlagLists
	// ActionViewShop reads the points shop: goods, redemptions, balances
	// and statements.
	ActionViewShop
	// ActionRunShop keeps the goods and redeems and cancels for villagers.
	ActionRunShop
	// ActionManageLinks prints and revokes households' links to the
	// villager page.
	ActionManageLinks
	// ActionManageChats sets a village's group chats (with their secrets)
	// and reads what was posted to them.
	ActionManageChats
	// ActionExportHousehold exports everything held about a household,
	// to answer its request under the personal information law.
	ActionExportHousehold
	// ActionViewPersonalData reads villagers' phone numbers and last four
	// ID digits unmasked (lists, searches by phone, the import's preview).
	ActionViewPersonalData
	// ActionViewAlerts reads the alert log, the open incidents and the
	// alerting's rules (channels shown without their keys).
	ActionViewAlerts
	// ActionManageAlerts sets the alert channels (robot keys and
	// secrets), rules and quiet hours, and sends test messages.
	ActionManageAlerts
	// ActionDiagnose reads a box's log lines and configuration (without
	// secrets) and runs its connectivity check.
	ActionDiagnose
	// ActionRestartBox restarts a box's daemon.
	ActionRestartBox
	// ActionViewUpdates reads the software releases and rollouts.
	ActionViewUpdates
	// ActionManageUpdates uploads releases and starts, pauses, resumes
	// and cancels rollouts.
	ActionManageUpdates
	// ActionManageTownships creates and renames townships and moves boxes
	// between them. County users only.
	ActionManageTownships

	actionEnd // one past the last action
)

// grant is one row of the table: the action's name (capabilities in
// templates are keyed by it), the roles that may do it, and whether only
// a county user may (scope.go): what changes the county's own settings
// or moves things between townships.
type grant struct {
	name   string
	roles  roleSet
	county bool
}

// table is who may do what: the one place that says so. Admins may do
// everything; reviewers (the lists' panel) review entries and read the
// audit trail; operators (the township office, the village clerks) run
// the boxes day to day, keep the lists and run the points shop;
// supervisors (监督队) see the lists, their audit trail and the
// objections and flag entries for re-examination, and change nothing
// else; viewers look.
//
// Why the narrower rows are so:
//   - the whole audit trail holds every sign-in with its address and every
//     account change, so only admins and reviewers (who must be able to
//     check the lists' review against it) read it;
//   - an entry's own history is readable by operators too: they may edit
//     any entry, which is more than reading how it came to be, and they
//     need the reviewers' reasons; viewers see entries but not their
//     earlier wordings;
//   - objections carry a villager's name and contact, so viewers do not
//     read them; supervisors do: watching how they are handled is their
//     job;
//   - exporting a household's data and managing its links hand out
//     personal information, so they stay with the office;
//   - villagers' phone numbers and ID digits are read unmasked only by
//     those who keep the roster (the office): they enter and correct
//     them; everyone else sees them masked;
//   - alert channels hold the keys that post into the office's groups
//     and the SMS gateway's token, so only admins set them; everyone may
//     read the alert log, as they may read the boxes' events;
//   - diagnostics read a box's log, which names officials and cameras,
//     so the office (which runs the boxes) may, viewers and reviewers may
//     not (supervisors watch the lists, not the boxes); a restart cuts
//     off what a village is playing, so admins only;
//   - a release replaces the software of every box it reaches, so only
//     admins upload and roll one out; the office, which runs the boxes,
//     may watch a rollout.
//   - the units themselves are the county's: only a county admin makes
//     or renames a township or moves a box between them, and only a
//     county admin sets the alert channels every township's alerts go
//     through and uploads releases (the county flag below).
//
// Every row applies within the user's unit (scope.go): a township's
// admin is an admin of that township's villages and users only.
//
// It is a function returning an array so the table is a value nobody can
// change at run time.
func table() [actionEnd]grant {
	all := roles(store.RoleAdmin, store.RoleReviewer, store.RoleOperator, store.RoleSupervisor, store.RoleViewer)
	office := roles(store.RoleAdmin, store.RoleOperator)
	panel := roles(store.RoleAdmin, store.RoleReviewer)
	watch := roles(store.RoleAdmin, store.RoleReviewer, store.RoleSupervisor)
	admin := roles(store.RoleAdmin)
	return [actionEnd]grant{
		ActionSignedIn:         {"SignedIn", all, false},
		ActionViewBoxes:        {"ViewBoxes", all, false},
		ActionManageBoxes:      {"ManageBoxes", admin, false},
		ActionSendCommands:     {"SendCommands", office, false},
		ActionViewBroadcast:    {"ViewBroadcast", all, false},
		ActionManageBroadcast:  {"ManageBroadcast", office, false},
		ActionPlayNow:          {"PlayNow", office, false},
		ActionPage:             {"Page", office, false},
		ActionViewCameras:      {"ViewCameras", all, false},
		ActionManageCameras:    {"ManageCameras", office, false},
		ActionViewLists:        {"ViewLists", all, false},
		ActionEditLists:        {"EditLists", office, false},
		ActionReviewLists:      {"ReviewLists", panel, false},
		ActionViewEntryHistory: {"ViewEntryHistory", roles(store.RoleAdmin, store.RoleReviewer, store.RoleOperator, store.RoleSupervisor), false},
		ActionViewAudit:        {"ViewAudit", watch, false},
		ActionManageUsers:      {"ManageUsers", admin, false},
		ActionViewObjections:   {"ViewObjections", roles(store.RoleAdmin, store.RoleReviewer, store.RoleOperator, store.RoleSupervisor), false},
		ActionLodgeObjection:   {"LodgeObjection", office, false},
		ActionFlagLists:        {"FlagLists", roles(store.RoleAdmin, store.RoleSupervisor), false},
		ActionViewShop:         {"ViewShop", all, false},
		ActionRunShop:          {"RunShop", office, false},
		ActionManageLinks:      {"ManageLinks", office, false},
		ActionManageChats:      {"ManageChats", office, false},
		ActionExportHousehold:  {"ExportHousehold", office, false},
		ActionViewPersonalData: {"ViewPersonalData", office, false},
		ActionViewAlerts:       {"ViewAlerts", all, false},
		ActionManageAlerts:     {"ManageAlerts", admin, true},
		ActionDiagnose:         {"Diagnose", office, false},
		ActionRestartBox:       {"RestartBox", admin, false},
		ActionViewUpdates:      {"ViewUpdates", office, false},
		ActionManageUpdates:    {"ManageUpdates", admin, false},
		ActionManageTownships:  {"ManageTownships", admin, true},
	}
}

// roleSet is a set of roles, one bit each.
type roleSet uint8

// roleBit is r's bit; 0 for a role that does not exist.
func roleBit(r store.Role) roleSet {
	switch r {
	case store.RoleAdmin:
		return 1 << 0
	case store.RoleReviewer:
		return 1 << 1
	case store.RoleOperator:
		return 1 << 2
	case store.RoleViewer:
		return 1 << 3
	case store.RoleSupervisor:
		return 1 << 4
	}
	return 0
}

func roles(rs ...store.Role) roleSet {
	var s roleSet
	for _, r := range rs {
		s |= roleBit(r)
	}
	return s
}

// Roles are the roles there are, from most to least powerful.
func Roles() []store.Role {
	return []store.Role{store.RoleAdmin, store.RoleReviewer, store.RoleOperator, store.RoleSupervisor, store.RoleViewer}
}

// ValidRole reports whether r is one of Roles.
func ValidRole(r store.Role) bool { return roleBit(r) != 0 }

// Actions are every action, in their order.
func Actions() []Action {
	out := make([]Action, 0, actionEnd-1)
	for a := ActionSignedIn; a < actionEnd; a++ {
		out = append(out, a)
	}
	return out
}

// Allowed reports whether role may do action.
func Allowed(role store.Role, action Action) bool {
	if action == 0 || action >= actionEnd {
		return false
	}
	bit := roleBit(role)
	return bit != 0 && table()[action].roles&bit != 0
}

// String is the action's name, as capabilities are keyed ("ManageUsers").
func (a Action) String() string {
	if a == 0 || a >= actionEnd {
		return "NoAction"
	}
	return table()[a].name
}

// RolesAllowed are the roles that may do action, in the order of Roles.
func RolesAllowed(action Action) []store.Role {
	var out []store.Role
	for _, r := range Roles() {
		if Allowed(r, action) {
			out = append(out, r)
		}
	}
	return out
}

// Can is what role may do, keyed by action name: pages show a form or a
// button by it ({{if .Can.ReviewLists}}) instead of comparing role names.
// Every action has a key, so a template naming one that does not exist
// fails to render rather than hiding its form quietly.
func Can(role store.Role) map[string]bool {
	out := make(map[string]bool, actionEnd)
	for _, a := range Actions() {
		out[a.String()] = Allowed(role, a)
	}
	return out
}
