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
		"LoginLimited":   {"登录失败次数过多，请一分钟后再试。", "Too many failed sign-ins; try again in a minute."},
		"Logout":         {"退出登录", "Sign out"},
		"SignedInAs":     {"当前用户", "Signed in as"},
		"DashboardTitle": {"各村广播盒", "Village boxes"},
		"ColName":        {"村/盒子", "Village / box"},
		"ColOnline":      {"在线", "Online"},
		"ColLastSeen":    {"最后联系", "Last seen"},
		"ColClock":       {"时钟", "Clock"},
		"ColBacklog":     {"待上传", "Outbox backlog"},
		"ColRev":         {"配置版本（已应用/目标）", "Config rev (applied / desired)"},
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
	}
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
