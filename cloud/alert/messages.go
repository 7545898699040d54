package alert

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dalaba/dalaba/protocol"
)

// The messages officials read on their phones: Chinese, naming the village
// and the device, saying since when and what to do. An alert's title
// leads with 【大喇叭告警】, a recovery's with 【大喇叭恢复】, so a group
// can tell them apart at a glance.

const (
	tagAlert   = "【大喇叭告警】"
	tagRecover = "【大喇叭恢复】"
	tagNotice  = "【大喇叭提醒】"
	tagTest    = "【大喇叭测试】"
)

// about is what a message names: the village, and the device when the
// incident is one of its horns or cameras.
type about struct {
	village string // the box's name, or its id
	device  string // the horn's or camera's name, or its id
}

// duration says d in Chinese, to the minute: "12 分钟", "3 小时 5 分钟",
// "2 天 3 小时".
func duration(d time.Duration) string {
	m := int(d.Round(time.Minute) / time.Minute)
	switch {
	case m < 1:
		return "不到 1 分钟"
	case m < 120:
		return fmt.Sprintf("%d 分钟", m)
	case m < 48*60:
		if m%60 == 0 {
			return fmt.Sprintf("%d 小时", m/60)
		}
		return fmt.Sprintf("%d 小时 %d 分钟", m/60, m%60)
	}
	if h := m / 60 % 24; h != 0 {
		return fmt.Sprintf("%d 天 %d 小时", m/60/24, h)
	}
	return fmt.Sprintf("%d 天", m/60/24)
}

// clockOf shows t as 08:12 in loc, with the date when it is not today's.
func clockOf(t, now time.Time, loc *time.Location) string {
	t, now = t.In(loc), now.In(loc)
	if t.YearDay() == now.YearDay() && t.Year() == now.Year() {
		return t.Format("15:04")
	}
	return t.Format("1月2日 15:04")
}

// short keeps an error's words to a line.
func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > 80 {
		s = string([]rune(s)[:79]) + "…"
	}
	return s
}

// opened is the message of an incident that opened at now, its condition
// holding since since.
func opened(rule string, a about, since, now time.Time, detail string, loc *time.Location) (title, text string) {
	v := a.village
	why := ""
	if detail != "" {
		why = "（" + short(detail) + "）"
	}
	switch rule {
	case RuleBoxOffline:
		return tagAlert + v + "广播盒离线",
			fmt.Sprintf("%s广播盒已离线 %s（最后在线 %s）。请检查广播盒电源和网络。", v, duration(now.Sub(since)), clockOf(since, now, loc))
	case RuleSpeakerFailed:
		return tagAlert + v + "喇叭故障",
			fmt.Sprintf("%s的喇叭“%s”无法播放%s，已持续 %s。请检查喇叭电源、网线和功放。", v, a.device, why, duration(now.Sub(since)))
	case RuleCameraOffline:
		return tagAlert + v + "摄像头离线",
			fmt.Sprintf("%s的摄像头“%s”离线%s，已持续 %s。请检查摄像头电源和网线。", v, a.device, why, duration(now.Sub(since)))
	case RuleDiskLow:
		return tagAlert + v + "广播盒存储空间不足",
			fmt.Sprintf("%s广播盒存储空间不足%s。请联系维护人员清理或更换存储卡，否则新的广播可能无法下载。", v, why)
	case RuleClockUntrusted:
		return tagAlert + v + "广播盒时钟不准",
			fmt.Sprintf("%s广播盒的时钟不可信，定时广播已暂停，已持续 %s。请检查广播盒的网络，联网后会自动校时。", v, duration(now.Sub(since)))
	}
	return tagAlert + v, v + why
}

// resolved is the message of an incident that cleared at now, after it
// held since since.
func resolved(rule string, a about, since, now time.Time) (title, text string) {
	v, d := a.village, duration(now.Sub(since))
	switch rule {
	case RuleBoxOffline:
		return tagRecover + v + "广播盒已恢复在线", fmt.Sprintf("%s广播盒已恢复在线（离线约 %s）。无需处理。", v, d)
	case RuleSpeakerFailed:
		return tagRecover + v + "喇叭已恢复", fmt.Sprintf("%s的喇叭“%s”已恢复正常（故障约 %s）。无需处理。", v, a.device, d)
	case RuleCameraOffline:
		return tagRecover + v + "摄像头已恢复", fmt.Sprintf("%s的摄像头“%s”已恢复在线（离线约 %s）。无需处理。", v, a.device, d)
	case RuleDiskLow:
		return tagRecover + v + "存储空间已恢复", fmt.Sprintf("%s广播盒的存储空间已恢复正常。无需处理。", v)
	case RuleClockUntrusted:
		return tagRecover + v + "时钟已恢复", fmt.Sprintf("%s广播盒的时钟已恢复，定时广播照常进行。无需处理。", v)
	}
	return tagRecover + v, v
}

// skipReasons says why a scheduled playback did not play.
func skipReason(r string) string {
	switch r {
	case "late":
		return "广播盒当时关机或时钟跳变，错过了播放时间"
	case protocol.SkipListUnconfirmed:
		return "广播盒与乡镇失联太久，无法确认红黑榜是否最新"
	}
	return r
}

// playFailed is the notice of a playback that failed or was skipped.
func playFailed(a about, what string, at time.Time, reason string, now time.Time, loc *time.Location) (title, text string) {
	when := ""
	if !at.IsZero() {
		when = " " + clockOf(at, now, loc) + " 的"
	}
	return tagNotice + a.village + "广播未播出",
		fmt.Sprintf("%s%s广播“%s”未能播出：%s。请检查喇叭和广播盒，必要时重新播放。", a.village, when, what, short(reason))
}

// rolledBack is the notice of an update the box went back from.
func rolledBack(a about, rb protocol.RolledBack) (title, text string) {
	from, to := rb.From, rb.To
	if from == "" {
		from = "新版本"
	}
	if to == "" {
		to = "原版本"
	}
	why := ""
	if rb.Reason != "" {
		why = "（原因：" + short(rb.Reason) + "）"
	}
	return tagAlert + a.village + "广播盒升级失败",
		fmt.Sprintf("%s广播盒升级到 %s 失败，已自动退回 %s%s，广播不受影响。请暂停这个版本的推送，并联系技术支持。", a.village, from, to, why)
}

// testMessage is what an official sends to try a channel.
func testMessage(name string, now time.Time, loc *time.Location) (title, text string) {
	return tagTest + "通知渠道测试", fmt.Sprintf("这是发往“%s”的测试消息（%s）。收到即说明大喇叭告警可以送达这里，无需处理。", name, now.In(loc).Format("2006-01-02 15:04"))
}
