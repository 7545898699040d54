package console

import (
	"net/http"
	"slices"
	"strings"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
)

// The users page (admin only): the accounts, a form to add one, and per
// account a role change, a password reset and disable/enable; under them
// the latest audit records. The page's script does everything through the
// API bridge (/ui/api/users, /ui/api/audit/recent), so the API's checks,
// validation and audit apply as they would to curl: the console holds no
// user logic of its own.
//
//	GET /users

// usersMessages are the words of the users pages.
func usersMessages() map[string]message {
	return map[string]message{
		"UsersTitle":          {"用户管理", "Users"},
		"UsersAddTitle":       {"添加用户", "Add a user"},
		"UsersRole":           {"角色", "Role"},
		"UsersInitialPw":      {"初始密码（8 至 72 个字符）", "Initial password (8 to 72 characters)"},
		"UsersAddButton":      {"添加", "Add"},
		"UsersColCreated":     {"创建时间", "Created"},
		"UsersRoleAdmin":      {"管理员", "Administrator"},
		"UsersRoleReviewer":   {"审核员", "Reviewer"},
		"UsersRoleOperator":   {"操作员", "Operator"},
		"UsersRoleViewer":     {"查看者", "Viewer"},
		"UsersRoleSupervisor": {"监督员", "Supervisor"},
		"UsersActive":         {"正常", "active"},
		"UsersDisabled":       {"已停用", "disabled"},
		"UsersYou":            {"（您本人）", "(you)"},
		"UsersChangeRole":     {"修改角色", "Change role"},
		"UsersNewPw":          {"新密码", "New password"},
		"UsersResetPw":        {"重置密码", "Reset password"},
		"UsersDisable":        {"停用", "Disable"},
		"UsersEnable":         {"启用", "Enable"},
		"UsersDoneAdded":      {"已添加用户 {x}。", "User {x} added."},
		"UsersDoneRole":       {"已修改 {x} 的角色，其登录已失效。", "{x}'s role changed; they must sign in again."},
		"UsersDonePw":         {"已重置 {x} 的密码，其登录已失效。", "{x}'s password reset; they must sign in again."},
		"UsersDoneDisabled":   {"已停用 {x}，其登录已失效。", "{x} disabled and signed out."},
		"UsersDoneEnabled":    {"已启用 {x}。", "{x} enabled."},
		"UsersLoadFailed":     {"无法加载，请刷新页面。", "Could not load; reload the page."},
		"UsersNone":           {"还没有用户。", "No users yet."},
		"UsersAuditTitle":     {"最近的操作记录（最新 100 条）", "Recent audit trail (latest 100)"},
		"UsersAuditTime":      {"时间", "Time"},
		"UsersAuditActor":     {"操作人", "Who"},
		"UsersAuditAction":    {"操作", "Action"},
		"UsersAuditTarget":    {"对象", "Target"},
		"UsersAuditNone":      {"还没有记录。", "No records yet."},
		"UsersSelfProtected":  {"不能停用自己或取消自己的管理员角色。", "You cannot disable yourself or give up your own admin role."},
		"UsersPasswordLength": {"密码须为 8 至 72 个字符。", "A password must have 8 to 72 characters."},
	}
}

func (c *Console) userRoutes() {
	c.handle("GET /users", auth.ActionManageUsers, c.usersPage)
}

// roleKey is the message naming role r: "UsersRole" and its name
// capitalised ("UsersRoleAdmin"); a role without one fails the page's
// render (missingkey=error), so a new role cannot go unnamed.
func roleKey(r store.Role) string {
	s := string(r)
	if s == "" {
		return "UsersRole"
	}
	return "UsersRole" + strings.ToUpper(s[:1]) + s[1:]
}

// roleOption is one choice of the role selects.
type roleOption struct{ Value, Key string }

type usersData struct {
	Roles []roleOption
	unitsData
}

func (c *Console) usersPage(w http.ResponseWriter, r *http.Request, v *visit) {
	var d usersData
	roles := auth.Roles()
	slices.Reverse(roles) // least powerful first: the safe choice on top
	for _, r := range roles {
		d.Roles = append(d.Roles, roleOption{Value: string(r), Key: roleKey(r)})
	}
	var err error
	if d.unitsData, err = c.unitsData(r.Context()); err != nil {
		c.fail(w, r, v.lang, err)
		return
	}
	c.render(w, r, http.StatusOK, "users.html", c.pageData(v.lang, v, c.csrf.token(purposeSession, v.token), d))
}
