package console

import (
	"fmt"
	"net/http"
)

// lang is a UI language. zh (zh-CN) is the default: the officials read
// Chinese; English is for visiting engineers.
type lang string

const (
	langZH lang = "zh"
	langEN lang = "en"
)

// langCookie remembers the choice made with ?lang=.
const langCookie = "lang"

// htmlLang is the value of <html lang>.
func (l lang) htmlLang() string {
	if l == langEN {
		return "en"
	}
	return "zh-CN"
}

// message is one user-visible string in both languages.
type message struct{ zh, en string }

// messages is the console's whole vocabulary: templates name keys, never
// text, so a string cannot be shown in one language only. Keys are Go
// identifiers so templates can write {{.T.Key}}.
func messages() map[string]message {
	return map[string]message{
		"AppName":        {"大喇叭 乡镇控制台", "Dalaba township console"},
		"SwitchLang":     {"English", "中文"},
		"LoginTitle":     {"登录", "Sign in"},
		"Username":       {"用户名", "User name"},
		"Password":       {"密码", "Password"},
		"LoginButton":    {"登录", "Sign in"},
		"LoginWrong":     {"用户名或密码错误。", "Wrong user name or password."},
		"LoginLimited":   {"登录失败次数过多，请 {x} 分钟后再试。", "Too many failed sign-ins; try again in {x} min."},
		"Logout":         {"退出登录", "Sign out"},
		"SignedInAs":     {"当前用户", "Signed in as"},
		"DashboardTitle": {"各村广播盒", "Village boxes"},
		"NavBroadcast":   {"广播", "Broadcasts"},
		"NavPaging":      {"喊话", "Live paging"},
		"NavCameras":     {"监控", "Cameras"},
		"NavEvents":      {"事件", "Events"},
		"NavUsers":       {"用户", "Users"},
		"ColName":        {"村/盒子", "Village / box"},
		"ColOnline":      {"在线", "Online"},
		"ColLastSeen":    {"最后联系", "Last seen"},
		"ColClock":       {"时钟", "Clock"},
		"ColBacklog":     {"待上传", "Outbox backlog"},
		"ColRev":         {"配置版本（已应用/目标）", "Config rev (applied / desired)"},
		"ColDisk":        {"存储", "Disk"},
		"ColSpeakers":    {"喇叭", "Speakers"},
		"ColCameras":     {"摄像头", "Cameras"},
		"DiskFree":       {"剩余 %s / 共 %s", "%s free of %s"},
		"DeviceOK":       {"正常", "ok"},
		"DeviceDown":     {"故障", "down"},
		"Online":         {"在线", "online"},
		"Offline":        {"离线", "offline"},
		"Never":          {"从未", "never"},
		"ClockTrusted":   {"可信", "trusted"},
		"ClockUntrusted": {"不可信", "not trusted"},
		"Unknown":        {"未知", "unknown"},
		"InSync":         {"已同步", "in sync"},
		"Pending":        {"待同步", "pending"},
		"NoBoxes":        {"还没有登记广播盒。", "No boxes registered yet."},
		"Live":           {"实时更新中", "Live"},
		"Disconnected":   {"连接中断，正在重试…", "Disconnected, retrying…"},
		"SessionEnded":   {"登录已过期，请重新登录。", "Your session has ended; please sign in again."},
		"Forbidden":      {"请求被拒绝，请刷新页面后重试。", "Request refused; reload the page and try again."},
		"NoPermission":   {"您的角色无权查看此页。", "Your role may not see this page."},
		"NotFound":       {"页面不存在。", "No such page."},
		"ServerError":    {"服务器出错，请稍后再试。", "Server error; try again later."},
		"BadRequest":     {"请求无效。", "Bad request."},
		// 红黑榜 (red/black lists).
		"ListsTitle":       {"红黑榜", "Red/black lists"},
		"Village":          {"村", "Village"},
		"Period":           {"月份", "Month"},
		"Show":             {"查看", "Show"},
		"NoVillage":        {"请选择村。", "Choose a village."},
		"NoEntries":        {"本月还没有条目。", "No entries this month."},
		"RedList":          {"红榜", "Red list"},
		"BlackList":        {"黑榜", "Black list"},
		"ColEntry":         {"编号", "No."},
		"ColKind":          {"榜单", "List"},
		"ColSubject":       {"对象", "Who"},
		"ColCategory":      {"类别", "Category"},
		"ColReason":        {"事由", "Reason"},
		"ColPoints":        {"积分", "Points"},
		"ColStatus":        {"状态", "Status"},
		"ColAuthor":        {"填报人", "Author"},
		"ColApprovals":     {"审核", "Approvals"},
		"ColActions":       {"操作", "Actions"},
		"StatusDraft":      {"草稿", "draft"},
		"StatusInReview":   {"审核中", "in review"},
		"StatusApproved":   {"已通过", "approved"},
		"StatusPublished":  {"已发布", "published"},
		"StatusRevoked":    {"已撤销", "revoked"},
		"StatusExpired":    {"已过期", "expired"},
		"Submit":           {"提交审核", "Submit for review"},
		"Approve":          {"通过", "Approve"},
		"Reject":           {"驳回", "Reject"},
		"RejectReason":     {"驳回理由", "Reason for rejection"},
		"Revoke":           {"撤销", "Revoke"},
		"RevokeNote":       {"整改情况", "Rectification (整改) note"},
		"Publish":          {"发布", "Publish"},
		"PublishHint":      {"发布本月所有已通过的条目并播报。", "Publishes every approved entry of the month and announces it."},
		"Poster":           {"打印海报", "Printable poster"},
		"NewEntry":         {"新建条目", "New entry"},
		"Subject":          {"村民或户", "Person or household"},
		"Household":        {"户", "household"},
		"Person":           {"村民", "person"},
		"NoSubjects":       {"本村还没有登记户或村民。", "No households or persons registered in this village."},
		"PointsDefault":    {"积分（留空取类别默认值）", "Points (empty: the category's default)"},
		"Create":           {"保存草稿", "Save draft"},
		"RejectedBecause":  {"驳回理由", "Rejected because"},
		"RevokedBecause":   {"整改情况", "Rectified"},
		"Failed":           {"操作未成功：", "Not done: "},
		"DoneCreated":      {"已保存草稿。", "Draft saved."},
		"DoneSubmitted":    {"已提交审核。", "Submitted for review."},
		"DoneApproved":     {"已通过。", "Approved."},
		"DoneRejected":     {"已驳回。", "Rejected."},
		"DoneRevoked":      {"已撤销。", "Revoked."},
		"DonePublished":    {"已发布。", "Published."},
		"NoPermissionToDo": {"您的角色无权进行此操作。", "Your role may not do this."},
		"BadPoints":        {"积分须为整数。", "Points must be a whole number."},
		"BadSubject":       {"请选择村民或户。", "Choose a person or household."},
		"BoardTitle":       {"本月积分榜", "Points this month"},
		"BoardEmpty":       {"本月还没有计分的条目。", "No points counted this month yet."},
		"HouseholdSuffix":  {"户", "'s household"},
	}
}

// mergeMessages joins each page's vocabulary into one; a key defined twice
// is an error, so one page cannot silently change another's words.
func mergeMessages(parts ...map[string]message) (map[string]message, error) {
	all := map[string]message{}
	for _, p := range parts {
		for k, m := range p {
			if _, dup := all[k]; dup {
				return nil, fmt.Errorf("console: message %s defined twice", k)
			}
			all[k] = m
		}
	}
	return all, nil
}

// catalog holds the messages of each language, ready for templates.
type catalog map[lang]map[string]string

// newCatalog checks that every message exists in both languages.
func newCatalog(all map[string]message) (catalog, error) {
	c := catalog{langZH: {}, langEN: {}}
	for k, m := range all {
		if m.zh == "" || m.en == "" {
			return nil, fmt.Errorf("console: message %s lacks a language", k)
		}
		c[langZH][k], c[langEN][k] = m.zh, m.en
	}
	return c, nil
}

// langOf picks the request's language: ?lang= first, then the cookie,
// then zh. A ?lang= choice is remembered in a cookie so links keep it.
func langOf(w http.ResponseWriter, r *http.Request) lang {
	if q := lang(r.URL.Query().Get("lang")); q == langZH || q == langEN {
		http.SetCookie(w, &http.Cookie{
			Name: langCookie, Value: string(q), Path: "/", MaxAge: 365 * 24 * 3600,
			SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil, HttpOnly: true,
		})
		return q
	}
	if c, err := r.Cookie(langCookie); err == nil && lang(c.Value) == langEN {
		return langEN
	}
	return langZH
}
