package console

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// Software updates (软件升级): the releases and the rollouts with their
// progress, box by box. Admins upload a release, start a rollout and
// pause, resume or cancel it; static/updates.js sends each through the
// bridge (POST /ui/api/releases, /ui/api/rollouts, …/{id}/pause) and
// reloads the page.
//
//	GET /updates      admin, operator

// updatesMessages are the words of the updates page.
func updatesMessages() map[string]message {
	return map[string]message{
		"NavUpdates":      {"升级", "Updates"},
		"UpTitle":         {"广播盒软件升级", "Box software updates"},
		"UpHint":          {"上传新版本后分批升级：先升级一小批，确认正常后再升级下一批。新版本启动失败或连不上乡镇时，广播盒会自动退回原来的版本并报告原因；失败的广播盒超过允许的数量时，升级会自动暂停。正在广播或喊话时不会升级。", "Upload a version, then update the boxes in waves: a small wave first, the next once it is well. A box whose new version fails to start or cannot reach the township goes back to its old version by itself and says why; past the failures allowed, the rollout pauses itself. No box updates while it is on the air."},
		"UpReleases":      {"版本", "Releases"},
		"UpNoReleases":    {"还没有上传任何版本。", "No release uploaded yet."},
		"UpUpload":        {"上传新版本", "Upload a release"},
		"UpVersion":       {"版本号", "Version"},
		"UpNotes":         {"更新说明", "Release notes"},
		"UpFileHint":      {"每种广播盒一个程序文件（dalaba-edge），至少选一个：arm64 是 64 位树莓派系统，armhf 是 32 位系统，amd64 是电脑。", "One program file (dalaba-edge) per kind of box, at least one: arm64 for 64-bit Raspberry Pi systems, armhf for 32-bit ones, amd64 for PCs."},
		"UpSend":          {"上传", "Upload"},
		"UpUploaded":      {"上传人", "Uploaded by"},
		"UpRollouts":      {"升级任务", "Rollouts"},
		"UpNoRollouts":    {"还没有升级任务。", "No rollout yet."},
		"UpStart":         {"开始升级", "Start a rollout"},
		"UpBoxes":         {"广播盒编号（用逗号分开；不填为全部）", "Box ids (comma-separated; empty for all)"},
		"UpPercent":       {"只升级其中的百分比（不填为全部）", "Only this percentage of them (empty for all)"},
		"UpWaves":         {"分批比例（逐批累计，最后为 100）", "Waves (cumulative percentages ending at 100)"},
		"UpMaxFailures":   {"允许失败的台数", "Failures allowed"},
		"UpPause":         {"暂停", "Pause"},
		"UpResume":        {"继续", "Resume"},
		"UpCancel":        {"取消", "Cancel"},
		"UpCancelWarn":    {"取消后，还没升级的广播盒不再升级。确定取消？", "Boxes not yet updated will not be. Cancel the rollout?"},
		"UpWorking":       {"正在处理…", "Working…"},
		"UpProgress":      {"已升级 {done} 台，失败 {failed} 台，共 {total} 台；第 {wave} 批，共 {waves} 批", "{done} updated, {failed} failed of {total}; wave {wave} of {waves}"},
		"UpStateRunning":  {"进行中", "running"},
		"UpStatePaused":   {"已暂停", "paused"},
		"UpStateDone":     {"已完成", "done"},
		"UpStateCanceled": {"已取消", "cancelled"},
		"UpBoxWaiting":    {"等待", "waiting"},
		"UpBoxSent":       {"升级中", "updating"},
		"UpBoxUpdated":    {"已升级", "updated"},
		"UpBoxFailed":     {"失败", "failed"},
		"UpColBox":        {"广播盒", "Box"},
		"UpColWave":       {"批次", "Wave"},
		"UpColState":      {"状态", "State"},
		"UpColWhy":        {"原因", "Why"},
		"UpWhyCrash":      {"新版本反复启动失败，已退回原版本", "the new version kept failing to start; back on the old one"},
		"UpWhyWatchdog":   {"新版本卡住不响应，已退回原版本", "the new version hung; back on the old one"},
		"UpWhyNoConn":     {"新版本连不上乡镇，已退回原版本", "the new version could not reach the township; back on the old one"},
		"UpWhyOnAir":      {"正在广播，稍后再试", "on the air; tried again later"},
		"UpWhyTimeout":    {"长时间没有报告新版本", "did not report the new version in time"},
		"UpWhyOther":      {"广播盒拒绝了升级：{x}", "the box refused the update: {x}"},
	}
}

func (c *Console) updateRoutes() {
	c.handle("GET /updates", auth.ActionViewUpdates, c.updatesPage)
}

type releaseRow struct {
	Version, Notes, By, At, Arches string
}

type rolloutBoxRow struct {
	Box, State, Why string
	Wave            int
}

type rolloutRow struct {
	ID, Version, State, Progress, Reason string
	Running, Paused, Over                bool
	Boxes                                []rolloutBoxRow
}

type updatesData struct {
	Releases []releaseRow
	Rollouts []rolloutRow
	Arches   []string
}

func (c *Console) updatesPage(w http.ResponseWriter, r *http.Request, v *visit) {
	t := c.msgs[v.lang]
	rels, err := c.st.ListReleases(r.Context())
	if err != nil {
		c.fail(w, r, v.lang, err)
		return
	}
	ros, err := c.st.ListRollouts(r.Context())
	if err != nil {
		c.fail(w, r, v.lang, err)
		return
	}
	d := updatesData{Arches: protocol.Arches()}
	for _, rel := range rels {
		var arches []string
		for _, b := range rel.Binaries {
			arches = append(arches, b.Arch)
		}
		d.Releases = append(d.Releases, releaseRow{Version: rel.Version, Notes: rel.Notes, By: rel.UploadedBy,
			At: rel.UploadedAt.In(c.cfg.Location).Format(eventTimeLayout), Arches: strings.Join(arches, ", ")})
	}
	for _, ro := range ros {
		row := rolloutRow{ID: ro.ID, Version: ro.Version, Reason: ro.Reason, Running: ro.State == store.RolloutRunning, Paused: ro.State == store.RolloutPaused,
			Over: ro.State == store.RolloutDone || ro.State == store.RolloutCancelled}
		row.State = t[map[string]string{store.RolloutRunning: "UpStateRunning", store.RolloutPaused: "UpStatePaused",
			store.RolloutDone: "UpStateDone", store.RolloutCancelled: "UpStateCanceled"}[ro.State]]
		done, failed := 0, 0
		for _, b := range ro.Boxes {
			switch b.State {
			case store.BoxUpdated:
				done++
			case store.BoxFailed:
				failed++
			}
			row.Boxes = append(row.Boxes, rolloutBoxRow{Box: b.BoxID, Wave: b.Wave + 1, State: t[map[string]string{store.BoxWaiting: "UpBoxWaiting",
				store.BoxSent: "UpBoxSent", store.BoxUpdated: "UpBoxUpdated", store.BoxFailed: "UpBoxFailed"}[b.State]], Why: why(t, b)})
		}
		row.Progress = strings.NewReplacer("{done}", fmt.Sprint(done), "{failed}", fmt.Sprint(failed), "{total}", fmt.Sprint(len(ro.Boxes)),
			"{wave}", fmt.Sprint(ro.Wave+1), "{waves}", fmt.Sprint(len(ro.Waves))).Replace(t["UpProgress"])
		d.Rollouts = append(d.Rollouts, row)
	}
	c.render(w, r, http.StatusOK, "updates.html", c.pageData(v.lang, v, c.csrf.token(purposeSession, v.token), d))
}

// why says in words why a box of a rollout failed or waits again.
func why(t map[string]string, b store.RolloutBox) string {
	switch b.Code {
	case "":
		return ""
	case protocol.RollbackCrashLoop:
		return t["UpWhyCrash"]
	case protocol.RollbackWatchdog:
		return t["UpWhyWatchdog"]
	case protocol.RollbackNoConnection:
		return t["UpWhyNoConn"]
	case protocol.CodeUpdateOnAir:
		return t["UpWhyOnAir"]
	case "timeout":
		return t["UpWhyTimeout"]
	}
	return strings.ReplaceAll(t["UpWhyOther"], "{x}", b.Code)
}
