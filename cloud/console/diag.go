package console

import (
	"net/http"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/protocol"
)

// Remote diagnostics (远程诊断): a box's latest log lines, its
// configuration without secrets, a connectivity check, and (admins) a
// restart. The page names the box; static/diag.js asks the API through
// the bridge (POST /ui/api/boxes/{id}/diag/…, …/restart), which sends
// each as a signed command and records who asked in the audit trail.
//
//	GET /diag         the boxes, each linked to its page
//	GET /diag/{id}    one box: admin, operator

// diagMessages are the words of the diagnostics pages.
func diagMessages() map[string]message {
	return map[string]message{
		"NavDiag":         {"诊断", "Diagnostics"},
		"DgTitle":         {"远程诊断", "Remote diagnostics"},
		"DgHint":          {"不用去村里，就能查看广播盒最近的运行日志、配置（密码已隐去）和网络连通情况；每次查看都会记入操作记录。", "Read a box's recent log, its configuration (passwords hidden) and its links without going to the village; every look is in the audit trail."},
		"DgPick":          {"选择要诊断的广播盒：", "Choose a box:"},
		"DgNoBox":         {"没有这个广播盒。", "No such box."},
		"DgLogs":          {"读取运行日志", "Read the log"},
		"DgLines":         {"行数", "Lines"},
		"DgLevel":         {"级别", "Level"},
		"DgLevelAll":      {"全部", "all"},
		"DgLevelWarn":     {"警告和错误", "warnings and errors"},
		"DgLevelError":    {"仅错误", "errors only"},
		"DgConfig":        {"查看配置", "Show the configuration"},
		"DgCheck":         {"检查网络连通", "Check the links"},
		"DgRestart":       {"重启广播盒程序", "Restart the box's program"},
		"DgRestartWarn":   {"重启会中断正在播放的广播，约半分钟后恢复。确定重启？", "A restart cuts off what is playing; the box is back in about half a minute. Restart?"},
		"DgRestarting":    {"广播盒正在重启，约半分钟后重新上线。", "The box is restarting; it will be back online in about half a minute."},
		"DgWorking":       {"正在询问广播盒…", "Asking the box…"},
		"DgTruncated":     {"（只显示最近的部分）", "(the latest part only)"},
		"DgRedacted":      {"已隐去：", "Hidden:"},
		"DgColTarget":     {"对象", "Target"},
		"DgColResult":     {"结果", "Result"},
		"DgColDetail":     {"说明", "Details"},
		"DgBroker":        {"消息服务器", "Message broker"},
		"DgTownship":      {"乡镇服务器", "Township server"},
		"DgCamera":        {"摄像头", "Camera"},
		"DgSpeaker":       {"喇叭", "Horn"},
		"DgProbeOK":       {"正常", "ok"},
		"DgProbeSilent":   {"未发现问题", "no problem seen"},
		"DgProbeRefused":  {"拒绝连接", "refused"},
		"DgProbeUnreach":  {"不通", "unreachable"},
		"DgProbeTimeout":  {"超时", "timed out"},
		"DgProbeFailed":   {"出错", "failed"},
		"DgProbeAuth":     {"用户名或密码不对", "wrong credentials"},
		"DgProbeDNS":      {"域名解析失败", "name not found"},
		"DgProbeNotCheck": {"无法检查", "not checked"},
	}
}

func (c *Console) diagRoutes() {
	c.handle("GET /diag", auth.ActionDiagnose, c.diagIndex)
	c.handle("GET /diag/{id}", auth.ActionDiagnose, c.diagPage)
}

type diagData struct {
	Boxes []cameraBox // the index
	Box   *cameraBox  // the box of its page
	Lines []int
	Codes []kindOption // probe code → words
}

func (c *Console) diagIndex(w http.ResponseWriter, r *http.Request, v *visit) {
	boxes, err := c.st.ListBoxes(r.Context())
	if err != nil {
		c.fail(w, r, v.lang, err)
		return
	}
	t := c.msgs[v.lang]
	var d diagData
	for _, b := range boxes {
		d.Boxes = append(d.Boxes, cameraBox{ID: b.ID, Name: displayName(b), Online: b.Online, OnlineText: t[onOff(b.Online)]})
	}
	c.render(w, r, http.StatusOK, "diag.html", c.pageData(v.lang, v, c.csrf.token(purposeSession, v.token), d))
}

func (c *Console) diagPage(w http.ResponseWriter, r *http.Request, v *visit) {
	boxes, err := c.st.ListBoxes(r.Context())
	if err != nil {
		c.fail(w, r, v.lang, err)
		return
	}
	t := c.msgs[v.lang]
	d := diagData{Lines: []int{100, protocol.DefaultDiagLines, 500, 1000}}
	for _, b := range boxes {
		if b.ID == r.PathValue("id") {
			d.Box = &cameraBox{ID: b.ID, Name: displayName(b), Online: b.Online, OnlineText: t[onOff(b.Online)]}
		}
	}
	if d.Box == nil {
		c.errorPage(w, r, http.StatusNotFound, "DgNoBox")
		return
	}
	for code, key := range map[string]string{
		protocol.ProbeOK: "DgProbeOK", protocol.ProbeNoAnswer: "DgProbeSilent", protocol.ProbeRefused: "DgProbeRefused",
		protocol.ProbeUnreachable: "DgProbeUnreach", protocol.ProbeTimeout: "DgProbeTimeout", protocol.ProbeFailed: "DgProbeFailed",
		protocol.ProbeUnauthorized: "DgProbeAuth", protocol.ProbeDNS: "DgProbeDNS", protocol.ProbeNotChecked: "DgProbeNotCheck",
		protocol.ProbeUnsupported: "DgProbeNotCheck",
	} {
		d.Codes = append(d.Codes, kindOption{Value: code, Label: t[key]})
	}
	c.render(w, r, http.StatusOK, "diag.html", c.pageData(v.lang, v, c.csrf.token(purposeSession, v.token), d))
}
