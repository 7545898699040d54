package console

import (
	"net/http"

	"github.com/dalaba/dalaba/cloud/auth"
)

// The live paging page (喊话): the official picks a village and its zones
// and speaks; the page's script sends the microphone over WebRTC through
// the bridge to POST /api/v1/boxes/{id}/paging, offering only G.711 so the
// box forwards the frames to its RTP horns as they are.
//
//	GET /paging   the page; the controls only for roles that may page (.Can.Page)
func (c *Console) pagingRoutes() {
	c.handle("GET /paging", auth.ActionViewBoxes, c.pagingPage)
}

type pagingData struct {
	Boxes []boxRow
}

func (c *Console) pagingPage(w http.ResponseWriter, r *http.Request, v *visit) {
	rows, err := c.rows(r.Context(), v.lang)
	if err != nil {
		c.fail(w, r, v.lang, err)
		return
	}
	c.render(w, r, http.StatusOK, "paging.html", c.pageData(v.lang, v, c.csrf.token(purposeSession, v.token),
		pagingData{Boxes: rows}))
}

// pagingMessages are the words of the paging page.
func pagingMessages() map[string]message {
	return map[string]message{
		"PagingTitle":     {"实时喊话", "Live paging"},
		"PagingHint":      {"选择村和区域，点击“开始喊话”，对着麦克风讲话；讲完点击“结束”。喊话会打断定时广播，紧急广播会打断喊话。", "Choose a village and zones, press Start and speak into the microphone; press Hang up when done. A page interrupts scheduled broadcasts; an emergency interrupts a page."},
		"PagingZones":     {"区域", "Zones"},
		"PagingAllZones":  {"全部区域", "All zones"},
		"PagingNoZones":   {"该村还没有广播区域。", "This village has no zones yet."},
		"PagingStart":     {"开始喊话", "Start paging"},
		"PagingStop":      {"结束", "Hang up"},
		"PagingIdle":      {"未在喊话", "Not paging"},
		"PagingDialing":   {"正在连接…", "Connecting…"},
		"PagingOnAir":     {"正在喊话", "On air"},
		"PagingEnded":     {"喊话已结束", "Page ended"},
		"PagingFailed":    {"喊话中断，请检查网络后重新开始。", "The page was cut off; check the network and start again."},
		"PagingNoMic":     {"无法使用麦克风：请允许浏览器使用麦克风，并确认已接好麦克风。", "The microphone cannot be used: allow the browser to use it and check it is plugged in."},
		"PagingLevel":     {"音量", "Level"},
		"PagingNoRight":   {"您的角色只能查看，不能喊话。", "Your role may look but not page."},
		"PagingNoG711":    {"浏览器不支持 G.711 音频编码。", "This browser cannot send G.711 audio."},
		"PagingNeedsTLS":  {"浏览器只在 HTTPS 或本机地址下允许使用麦克风。", "Browsers allow the microphone only over HTTPS or on localhost."},
		"PagingChooseBox": {"请选择村。", "Choose a village."},
	}
}
