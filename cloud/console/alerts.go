package console

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/dalaba/dalaba/cloud/alert"
	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/notify"
	"github.com/dalaba/dalaba/cloud/store"
)

// The alerts page (告警): the incidents open now, the latest alerts with
// each channel's delivery, and the rules, channels and quiet hours, which
// admins change on the page. What it shows is read from the store; what
// it changes goes through the API bridge (static/alerts.js), so the API's
// validation, the write-only secrets and the audit apply as they do to
// curl.
//
//	GET /alerts   every role; the forms for admins (ManageAlerts)

// alertPageSize is how many alerts the page lists: the latest; the event
// log has the rest.
const alertPageSize = 50

// alertsMessages are the words of the alerts page.
func alertsMessages() map[string]message {
	return map[string]message{
		"NavAlerts":          {"告警", "Alerts"},
		"AlTitle":            {"告警", "Alerts"},
		"AlHint":             {"广播盒、喇叭或摄像头出故障时，系统会在故障持续一段时间后，向下面设置的群或手机发送一条告警，恢复时再发一条。", "When a box, horn or camera fails and stays down for a while, a message goes to the groups or phones set below, and another when it recovers."},
		"AlOpenTitle":        {"正在发生的故障", "Open incidents"},
		"AlOpenNone":         {"目前没有故障。", "Nothing is down."},
		"AlHeld":             {"观察中（未到告警时间）", "watching (not yet alerted)"},
		"AlSince":            {"开始于", "since"},
		"AlRecentTitle":      {"最近的告警", "Recent alerts"},
		"AlRecentNone":       {"还没有告警。", "No alerts yet."},
		"AlColTime":          {"时间", "Time"},
		"AlColVillage":       {"村", "Village"},
		"AlColMessage":       {"内容", "Message"},
		"AlColDelivery":      {"发送情况", "Delivery"},
		"AlTownship":         {"乡镇", "Township"},
		"AlStateOpened":      {"告警", "alert"},
		"AlStateResolved":    {"恢复", "recovery"},
		"AlStateNotice":      {"提醒", "notice"},
		"AlStateTest":        {"测试", "test"},
		"AlDelPending":       {"待发送", "to send"},
		"AlDelHeld":          {"静默时段结束后发送", "after quiet hours"},
		"AlDelSent":          {"已送达", "delivered"},
		"AlDelFailed":        {"发送失败", "failed"},
		"AlDelDropped":       {"未发送（静默时段内已恢复）", "not sent (cleared in quiet hours)"},
		"AlRulesTitle":       {"告警规则", "Rules"},
		"AlRuleKind":         {"情况", "When"},
		"AlRuleOn":           {"启用", "On"},
		"AlRuleHold":         {"持续多少分钟后告警", "Alert after (minutes)"},
		"AlRuleThreshold":    {"剩余空间低于（%）", "Free space below (%)"},
		"AlRuleUrgent":       {"紧急（静默时段也发送）", "Urgent (sent in quiet hours too)"},
		"AlRuleChannels":     {"发往（都不选则发往全部）", "Send to (none ticked: all)"},
		"AlRuleOneOff":       {"立即，一次", "at once, once"},
		"AlKindBoxOffline":   {"广播盒离线", "Box offline"},
		"AlKindSpeaker":      {"喇叭故障", "Horn failing"},
		"AlKindCamera":       {"摄像头离线", "Camera offline"},
		"AlKindDisk":         {"存储空间不足", "Disk low"},
		"AlKindClock":        {"时钟不可信", "Clock untrusted"},
		"AlKindPlayback":     {"广播未播出", "Playback failed or skipped"},
		"AlKindRolledBack":   {"升级失败已回退", "Update rolled back"},
		"AlYes":              {"是", "yes"},
		"AlNo":               {"否", "no"},
		"AlAll":              {"全部", "all"},
		"AlSave":             {"保存", "Save"},
		"AlSaved":            {"已保存。", "Saved."},
		"AlChannelsTitle":    {"通知渠道", "Channels"},
		"AlChannelsNone":     {"还没有通知渠道：告警只记录在事件记录里。", "No channels yet: alerts are only kept in the event log."},
		"AlChanID":           {"编号（小写字母、数字和 -）", "Id (a-z, 0-9 and -)"},
		"AlChanName":         {"名称", "Name"},
		"AlChanKind":         {"类型", "Kind"},
		"AlChanURL":          {"机器人或网关地址", "Robot or gateway address"},
		"AlChanSecret":       {"签名密钥或令牌", "Signing secret or token"},
		"AlChanKeep":         {"留空则保持不变", "leave empty to keep"},
		"AlChanSecretSet":    {"已设置", "set"},
		"AlChanSecretNone":   {"未设置", "none"},
		"AlChanPhones":       {"手机号（短信，用逗号分开）", "Phone numbers (SMS, comma separated)"},
		"AlChanDisabled":     {"暂停使用", "Paused"},
		"AlChanAdd":          {"添加通知渠道", "Add a channel"},
		"AlChanTest":         {"发送测试消息", "Send a test message"},
		"AlChanTested":       {"测试消息已送达，请到群里查看。", "The test message was delivered; look in the group."},
		"AlChanDelete":       {"删除", "Delete"},
		"AlChanDeleted":      {"已删除。", "Deleted."},
		"AlKindWeCom":        {"企业微信群机器人", "WeCom group robot"},
		"AlKindDingTalk":     {"钉钉群机器人（加签）", "DingTalk group robot (signed)"},
		"AlKindFeishu":       {"飞书机器人", "Feishu bot"},
		"AlKindWebhook":      {"通用 Webhook", "Generic webhook"},
		"AlKindSMS":          {"短信网关", "SMS gateway"},
		"AlQuietTitle":       {"静默时段", "Quiet hours"},
		"AlQuietHint":        {"静默时段内，不紧急的告警先不发送，时段结束后再发；在此期间已经恢复的故障不再打扰。", "In quiet hours, alerts that are not urgent wait until the hours end; what recovers meanwhile is not sent at all."},
		"AlQuietFrom":        {"开始", "From"},
		"AlQuietTo":          {"结束", "To"},
		"AlQuietZone":        {"时区", "Time zone"},
		"AlQuietNone":        {"未设置：告警随时发送。", "None: alerts go out at any hour."},
		"AlQuietClear":       {"取消静默时段", "Remove quiet hours"},
		"AlConfirmDelete":    {"确定删除这个通知渠道？", "Delete this channel?"},
		"AlLoadFailed":       {"操作没有完成：", "Not done:"},
		"AlDiagLink":         {"远程诊断", "Diagnostics"},
		"AlIncidentAlerted":  {"已告警", "alerted"},
		"AlDeliveryAttempts": {"次尝试", "attempts"},
	}
}

func (c *Console) alertRoutes() {
	c.handle("GET /alerts", auth.ActionViewAlerts, c.alertsPage)
}

// ruleKey is the message naming a rule's kind.
func ruleKey(kind string) string {
	return map[string]string{
		alert.RuleBoxOffline: "AlKindBoxOffline", alert.RuleSpeakerFailed: "AlKindSpeaker", alert.RuleCameraOffline: "AlKindCamera",
		alert.RuleDiskLow: "AlKindDisk", alert.RuleClockUntrusted: "AlKindClock", alert.RulePlaybackFailed: "AlKindPlayback",
		alert.RuleUpdateRolledBack: "AlKindRolledBack",
	}[kind]
}

func channelKindKey(k string) string {
	return map[string]string{
		string(notify.KindWeCom): "AlKindWeCom", string(notify.KindDingTalk): "AlKindDingTalk", string(notify.KindFeishu): "AlKindFeishu",
		string(notify.KindWebhook): "AlKindWebhook", string(notify.KindSMS): "AlKindSMS",
	}[k]
}

func stateKey(s string) string {
	return map[string]string{store.AlertOpened: "AlStateOpened", store.AlertResolved: "AlStateResolved",
		store.AlertNotice: "AlStateNotice", store.AlertTest: "AlStateTest"}[s]
}

func alertDeliveryKey(s string) string {
	return map[string]string{store.AlertDeliveryPending: "AlDelPending", store.AlertDeliveryHeld: "AlDelHeld", store.AlertDeliverySent: "AlDelSent",
		store.AlertDeliveryFailed: "AlDelFailed", store.AlertDeliveryDropped: "AlDelDropped"}[s]
}

type alertsData struct {
	Open      []incidentRow
	Alerts    []alertRow
	Rules     []ruleRow
	Channels  []channelRow
	Kinds     []kindOption
	Quiet     *store.QuietHours
	QuietZone string // the zone the form offers
}

type incidentRow struct {
	Village, What, Since, Detail string
	Open                         bool
}

type alertRow struct {
	Seq                     uint64
	Time, Village           string
	State, StateText        string
	Title, Text             string
	Deliveries              []deliveryRow
	Urgent                  bool
	BoxID, RuleKind, Status string
}

type deliveryRow struct {
	Channel, Status, StatusText, Error string
	Attempts                           int
}

type ruleRow struct {
	Kind, Name   string
	Enabled      bool
	HoldMinutes  int
	OneOff, Disk bool
	Threshold    int
	Urgent       bool
	Channels     []channelPick
}

type channelPick struct {
	ID, Name string
	Picked   bool
}

type channelRow struct {
	ID, Name, Kind, KindText, URL string
	SecretSet, Disabled, SMS      bool
	Phones                        string
}

type kindOption struct{ Value, Label string }

func (c *Console) alertsPage(w http.ResponseWriter, r *http.Request, v *visit) {
	t := c.msgs[v.lang]
	ctx := r.Context()
	boxes, err := c.st.ListBoxes(ctx)
	if err != nil {
		c.fail(w, r, v.lang, err)
		return
	}
	names := map[string]string{}
	for _, b := range boxes {
		names[b.ID] = displayName(b)
	}
	set, err := c.st.GetAlertSettings(ctx)
	if err != nil {
		c.fail(w, r, v.lang, err)
		return
	}
	incs, err := c.st.ListIncidents(ctx)
	if err != nil {
		c.fail(w, r, v.lang, err)
		return
	}
	alerts, err := c.st.ListAlerts(ctx, store.AlertFilter{Limit: alertPageSize})
	if err != nil {
		c.fail(w, r, v.lang, err)
		return
	}
	chanName := map[string]string{}
	for _, ch := range set.Channels {
		chanName[ch.ID] = ch.Name
	}
	d := alertsData{Quiet: set.Quiet, QuietZone: "Asia/Shanghai"}
	if set.Quiet != nil {
		d.QuietZone = set.Quiet.Zone
	}
	slices.SortFunc(incs, func(a, b store.Incident) int { return a.Since.Compare(b.Since) })
	for _, i := range incs {
		what := t[ruleKey(i.Rule)]
		if i.Subject != "" {
			what += "：" + i.Subject
		}
		d.Open = append(d.Open, incidentRow{Village: cmp.Or(names[i.BoxID], i.BoxID), What: what,
			Since: i.Since.In(c.cfg.Location).Format(eventTimeLayout), Detail: i.Detail, Open: !i.OpenedAt.IsZero()})
	}
	for _, a := range alerts {
		d.Alerts = append(d.Alerts, c.alertRowOf(a, names, chanName, t))
	}
	for _, rl := range alert.Rules(set) {
		row := ruleRow{Kind: rl.Kind, Name: t[ruleKey(rl.Kind)], Enabled: rl.Enabled, HoldMinutes: int(rl.HoldDown / time.Minute),
			OneOff: rl.HoldDown == 0 && (rl.Kind == alert.RulePlaybackFailed || rl.Kind == alert.RuleUpdateRolledBack),
			Disk:   rl.Kind == alert.RuleDiskLow, Threshold: rl.Threshold, Urgent: rl.Urgent}
		for _, ch := range set.Channels {
			row.Channels = append(row.Channels, channelPick{ID: ch.ID, Name: ch.Name, Picked: slices.Contains(rl.Channels, ch.ID)})
		}
		d.Rules = append(d.Rules, row)
	}
	for _, ch := range set.Channels {
		d.Channels = append(d.Channels, channelRow{ID: ch.ID, Name: ch.Name, Kind: ch.Kind, KindText: t[channelKindKey(ch.Kind)],
			URL: alert.MaskedURL(ch.URL), SecretSet: ch.Secret != "", Disabled: ch.Disabled, SMS: ch.Kind == string(notify.KindSMS),
			Phones: strings.Join(ch.Phones, ", ")})
	}
	for _, k := range notify.Kinds() {
		d.Kinds = append(d.Kinds, kindOption{Value: string(k), Label: t[channelKindKey(string(k))]})
	}
	c.render(w, r, http.StatusOK, "alerts.html", c.pageData(v.lang, v, c.csrf.token(purposeSession, v.token), d))
}

// alertRowOf is an alert as the page and the event log show it.
func (c *Console) alertRowOf(a store.Alert, names, chanName map[string]string, t map[string]string) alertRow {
	row := alertRow{Seq: a.Seq, Time: a.Time.In(c.cfg.Location).Format(eventTimeLayout), Village: t["AlTownship"],
		State: a.State, StateText: t[stateKey(a.State)], Title: a.Title, Text: a.Text, Urgent: a.Urgent, BoxID: a.BoxID, RuleKind: a.Rule}
	if a.BoxID != "" {
		row.Village = cmp.Or(names[a.BoxID], a.BoxID)
	}
	for _, dl := range a.Deliveries {
		row.Deliveries = append(row.Deliveries, deliveryRow{Channel: cmp.Or(chanName[dl.Channel], dl.Channel), Status: dl.Status,
			StatusText: t[alertDeliveryKey(dl.Status)], Error: dl.Error, Attempts: dl.Attempts})
	}
	return row
}
