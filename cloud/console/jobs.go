package console

import (
	"net/http"

	"github.com/dalaba/dalaba/cloud/auth"
)

// The plan-jobs page (批量修改): one schedule, or a typed announcement,
// put on every village of a township or on chosen boxes, or one taken
// out, with each job's progress as it runs.
//
//	GET /plan-jobs   roles that may read plans; the form only for those that may change them
//
// The server renders the frame and the words; static/jobs.js sends the
// job and follows it through the API bridge (POST and GET
// /ui/api/plan-jobs…), so the API's validation, role checks and audit
// apply.
func (c *Console) jobRoutes() {
	c.handle("GET /plan-jobs", auth.ActionViewBroadcast, c.jobsPage)
}

func (c *Console) jobsPage(w http.ResponseWriter, r *http.Request, v *visit) {
	c.render(w, r, http.StatusOK, "jobs.html", c.pageData(v.lang, v, c.csrf.token(purposeSession, v.token), nil))
}

// jobsMessages are the words of the plan-jobs page.
func jobsMessages() map[string]message {
	return map[string]message{
		"NavJobs":        {"批量修改", "Bulk changes"},
		"JbTitle":        {"批量修改定时广播", "Change schedules of many villages"},
		"JbHint":         {"一次把同一条定时广播加到一个乡镇的所有村（或选定的广播盒），或者一次删除。每个广播盒都会收到自己签名的新配置，下面的进度条显示完成情况。", "Add one schedule to every village of a township (or to chosen boxes) at once, or remove one. Each box gets its own signed configuration; the progress bar below shows how far it has got."},
		"JbTarget":       {"发给哪些广播盒", "Which boxes"},
		"JbPlace":        {"乡镇/片区（所属地点的开头）", "Township / area (the beginning of the place)"},
		"JbBoxes":        {"或者：广播盒编号，用逗号分开", "Or: box ids, separated by commas"},
		"JbAction":       {"做什么", "What to do"},
		"JbAdd":          {"加入或替换定时广播", "Add or replace a schedule"},
		"JbAnnounce":     {"把一段文字读出来，定时播放", "Read a text aloud, on a schedule"},
		"JbRemove":       {"删除定时广播", "Remove a schedule"},
		"JbSchedID":      {"定时广播编号（小写字母、数字和短横线）", "Schedule id (lower-case letters, digits, hyphens)"},
		"JbSchedName":    {"名称", "Name"},
		"JbClip":         {"播放的音频", "Clip to play"},
		"JbText":         {"通知内容", "Announcement text"},
		"JbTimes":        {"每天播放时间，用逗号分开（如 08:00,18:00）", "Times of day, separated by commas (e.g. 08:00,18:00)"},
		"JbStart":        {"开始日期（可不填）", "First day (optional)"},
		"JbEnd":          {"结束日期（可不填）", "Last day (optional)"},
		"JbSubmit":       {"开始批量修改", "Start the change"},
		"JbSending":      {"正在提交…", "Sending…"},
		"JbProgress":     {"进度", "Progress"},
		"JbCounts":       {"共 {t} 台：已完成 {d}，失败 {f}，等待 {q}。", "{t} boxes: {d} done, {f} failed, {q} waiting."},
		"JbRunning":      {"进行中", "running"},
		"JbQueued":       {"排队中", "queued"},
		"JbDone":         {"已结束", "ended"},
		"JbFailedBoxes":  {"失败的广播盒", "Boxes that failed"},
		"JbRecent":       {"最近的批量修改", "Recent bulk changes"},
		"JbNone":         {"还没有批量修改。", "No bulk changes yet."},
		"JbLoading":      {"正在读取…", "Loading…"},
		"JbViewOnly":     {"您的角色只能查看批量修改的进度。", "Your role may only follow the progress of bulk changes."},
		"JbKeptInMemory": {"批量修改的记录只保存到服务重启；已完成的广播盒的配置已经保存，不会丢失。", "Bulk changes are remembered until the service restarts; what each box finished is stored and kept."},
		"JbAddWhat":      {"加入 {x}", "add {x}"},
		"JbRemoveWhat":   {"删除 {x}", "remove {x}"},
	}
}
