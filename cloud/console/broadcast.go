package console

import (
	"net/http"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/protocol/schedule"
)

// The broadcast page (广播): a village's announcements, clip library,
// schedules and the calendar of their coming playbacks, playing now and
// stopping, and an emergency broadcast to several villages at once.
//
//	GET /broadcast?village=   any signed-in role
//
// The server renders the frame (the village picker, the forms a role may
// use, the words); static/broadcast.js does the rest through the API
// bridge (/ui/api/…), so every change goes through the API's own
// validation, role checks and audit. The forms are left out for roles
// that may not change anything (.Can.ManageBroadcast, .Can.PlayNow); the
// API refuses them all the same.
func (c *Console) broadcastRoutes() {
	c.handle("GET /broadcast", auth.ActionViewBroadcast, c.broadcastPage)
}

// broadcastData is what broadcast.html gets.
type broadcastData struct {
	Villages []villageOption
	Village  string // the chosen box; "" when there is none
	// VillageName is the chosen village's display name.
	VillageName string
	// DefaultZone is the zone a schedule rule without one is read in.
	DefaultZone string
}

func (c *Console) broadcastPage(w http.ResponseWriter, r *http.Request, v *visit) {
	boxes, err := c.st.ListBoxes(r.Context())
	if err != nil {
		c.fail(w, r, v.lang, err)
		return
	}
	d := broadcastData{
		Village:     r.URL.Query().Get("village"),
		DefaultZone: schedule.DefaultZone,
	}
	// No choice yet: the first village, which saves the one-village
	// township a click.
	if d.Village == "" && len(boxes) > 0 {
		d.Village = boxes[0].ID
	}
	known := false
	for _, b := range boxes {
		chosen := b.ID == d.Village
		d.Villages = append(d.Villages, villageOption{ID: b.ID, Name: displayName(b), Selected: chosen})
		if chosen {
			known, d.VillageName = true, displayName(b)
		}
	}
	status := http.StatusOK
	if !known {
		if d.Village != "" {
			status = http.StatusNotFound // a stale link: say so, and still offer the picker
		}
		d.Village = ""
	}
	c.render(w, r, status, "broadcast.html", c.pageData(v.lang, v, c.csrf.token(purposeSession, v.token), d))
}

// broadcastMessages are the words of the broadcast page. Those the script
// shows reach it as data- attributes of #broadcast; {x} marks where it
// puts a value.
func broadcastMessages() map[string]message {
	return map[string]message{
		"BcNoVillages":   {"还没有登记广播盒。", "No boxes registered yet."},
		"BcUnknown":      {"没有这个村，请重新选择。", "No such village; choose another."},
		"BcLoading":      {"正在加载…", "Loading…"},
		"BcReadOnly":     {"您的角色只能查看广播，不能修改或播放。", "Your role may look at broadcasts but not change or play them."},
		"BcAnnounce":     {"通知", "Announcements"},
		"BcClipName":     {"音频名称", "Clip name"},
		"BcText":         {"通知内容", "Announcement text"},
		"BcTextHint":     {"输入要播报的文字，试听后即存入音频库。", "Type what is to be announced; a preview also keeps it in the clip library."},
		"BcPreview":      {"试听", "Preview"},
		"BcSpeaking":     {"正在合成语音…", "Synthesising speech…"},
		"BcSpoken":       {"已生成：{x}", "Ready: {x}"},
		"BcUploadFile":   {"或上传音频文件（WAV 或 MP3）", "Or upload an audio file (WAV or MP3)"},
		"BcUpload":       {"上传", "Upload"},
		"BcUploading":    {"正在上传…", "Uploading…"},
		"BcUploaded":     {"已上传：{x}", "Uploaded: {x}"},
		"BcNoFile":       {"请先选择文件。", "Choose a file first."},
		"BcNoText":       {"请先输入通知内容。", "Type the announcement first."},
		"BcLibrary":      {"音频库", "Clip library"},
		"BcNoClips":      {"音频库是空的。", "The clip library is empty."},
		"BcListen":       {"试听", "Listen"},
		"BcSeconds":      {"{x} 秒", "{x} s"},
		"BcPlayNow":      {"立即播放", "Play now"},
		"BcPlay":         {"播放", "Play"},
		"BcStop":         {"停止", "Stop"},
		"BcClip":         {"音频", "Clip"},
		"BcChooseClip":   {"请选择音频。", "Choose a clip."},
		"BcZones":        {"分区", "Zones"},
		"BcAllZones":     {"不选即全部分区", "none ticked means every zone"},
		"BcNoZones":      {"这个村还没有设置分区。", "This village has no zones yet."},
		"BcEveryZone":    {"全部分区", "every zone"},
		"BcPriority":     {"优先级", "Priority"},
		"BcPrioBg":       {"背景", "background"},
		"BcPrioSched":    {"定时", "scheduled"},
		"BcPrioPaging":   {"喊话", "paging"},
		"BcPrioEmerg":    {"紧急", "emergency"},
		"BcRepeat":       {"播放次数", "Times to play"},
		"BcSending":      {"正在发送…", "Sending…"},
		"BcPlayed":       {"已下发到广播盒。", "Sent to the box."},
		"BcStopped":      {"已停止。", "Stopped."},
		"BcPlan":         {"分区与定时广播", "Zones and schedules"},
		"BcSchedules":    {"定时广播", "Schedules"},
		"BcNoSchedules":  {"还没有定时广播。", "No schedules yet."},
		"BcSpeakers":     {"喇叭", "Speakers"},
		"BcDelete":       {"删除", "Delete"},
		"BcConfirmDel":   {"确认删除？", "Really delete?"},
		"BcDeleted":      {"已删除。", "Deleted."},
		"BcNewSchedule":  {"新增定时广播", "New schedule"},
		"BcName":         {"名称", "Name"},
		"BcRule":         {"时间", "When"},
		"BcDaily":        {"每天", "Daily"},
		"BcWeekly":       {"每周", "Weekly"},
		"BcOnce":         {"一次", "Once"},
		"BcTime":         {"时刻", "Time"},
		"BcWeekdays":     {"星期", "Weekdays"},
		"BcWeekdayNames": {"一,二,三,四,五,六,日", "Mon,Tue,Wed,Thu,Fri,Sat,Sun"},
		"BcDateTime":     {"日期和时刻", "Date and time"},
		"BcAdd":          {"添加", "Add"},
		"BcAdded":        {"已添加定时广播。", "Schedule added."},
		"BcNeedTime":     {"请填写时刻。", "Give the time."},
		"BcNeedDays":     {"请至少选择一天。", "Tick at least one day."},
		"BcRuleDaily":    {"每天 {x}", "daily at {x}"},
		"BcRuleWeekly":   {"每周{d} {x}", "{d} at {x}"},
		"BcRuleMonthly":  {"每月{d}日 {x}", "on day {d} of the month at {x}"},
		"BcRuleOnce":     {"{x}（一次）", "once at {x}"},
		"BcRuleFrom":     {"自 {x} 起", "from {x}"},
		"BcRuleUntil":    {"至 {x} 止", "until {x}"},
		"BcLastDay":      {"最后一天", "last"},
		"BcCalendar":     {"未来七天的播放安排", "Playbacks in the coming week"},
		"BcNothing":      {"无", "nothing"},
		"BcQuiet":        {"静音时段，不播放", "quiet hours: will not play"},
		"BcTruncated":    {"安排太多，只显示了前一部分。", "Too many playbacks; only the first are shown."},
		"BcEmergency":    {"紧急广播（多村）", "Emergency broadcast (several villages)"},
		"BcEmergHint":    {"以紧急优先级立即播放，打断正在播放的内容，包括静音时段。", "Plays now at emergency priority, interrupting whatever plays, quiet hours included."},
		"BcVillages":     {"村", "Villages"},
		"BcNoneChosen":   {"请至少选择一个村。", "Tick at least one village."},
		"BcEmergSend":    {"发送紧急广播", "Send emergency broadcast"},
		"BcEmergConfirm": {"确认发送到所选的村？", "Really send to the ticked villages?"},
		"BcDelivered":    {"已送达", "delivered"},
	}
}
