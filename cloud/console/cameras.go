package console

import (
	"net/http"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/protocol"
)

// The camera grid (监控): every box's cameras, live over WebRTC through
// the box's relay.
//
//	GET /cameras   any signed-in role (the API's WHEP route admits them all)
//
// The server renders one section per box and every word; static/cameras.js
// reads each box's cameras, ICE servers and viewer limits from
// /ui/api/boxes/{id}/cameras and, for a tile being watched, sends the
// browser's complete SDP offer (no trickle ICE: the offer travels to the
// box over MQTT as one signed command) to the WHEP route, then ends the
// session with DELETE on the Location it was given when the official
// stops or leaves the page.

// camerasMessages are the words of the cameras pages. Those the script
// shows reach it as data- attributes of #cameras.
func camerasMessages() map[string]message {
	return map[string]message{
		"CamTitle":        {"视频监控", "Cameras"},
		"CamHint":         {"点击“观看”查看实时画面；画面经广播盒转发，请看完后点击“停止”，以节省村里的网络流量。", "Press Watch for the live picture. It comes through the village box: press Stop when done, to spare the village's uplink."},
		"CamLoading":      {"正在读取摄像头…", "Loading cameras…"},
		"CamLoadFailed":   {"无法读取摄像头列表。", "Could not load the cameras."},
		"CamNone":         {"这个广播盒没有摄像头。", "This box has no cameras."},
		"CamMaxViewers":   {"同时观看上限（全盒）", "Viewers at once (box)"},
		"CamMaxPerCamera": {"每路摄像头上限", "Viewers per camera"},
		"CamBudget":       {"上行带宽预算", "Uplink budget"},
		"CamNoBudget":     {"不限", "none"},
		"CamKbps":         {"kbit/s", "kbit/s"},
		"CamWatch":        {"观看", "Watch"},
		"CamStop":         {"停止", "Stop"},
		"CamConnecting":   {"正在连接…", "Connecting…"},
		"CamPlaying":      {"实时画面", "Live"},
		"CamStopped":      {"已停止", "Stopped"},
		// A box refuses a viewer past its viewer limits or uplink budget,
		// or one whose browser offers no H.264.
		"CamRefused": {"广播盒拒绝了观看：同时观看的人数或上行带宽已达上限。请先停止其他画面，稍后再试。",
			"The box refused the viewing: its viewer limit or uplink budget is reached. Stop another picture and try again later."},
		"CamFailed": {"视频连接失败。", "The video connection failed."},
	}
}

func (c *Console) cameraRoutes() {
	c.handle("GET /cameras", auth.ActionViewCameras, c.camerasPage)
}

// camerasData is what cameras.html gets.
type camerasData struct {
	Boxes []cameraBox
	// The limits a box's desired state leaves at 0 mean these.
	DefaultMaxViewers, DefaultMaxPerCamera int
}

type cameraBox struct {
	ID, Name   string
	Online     bool
	OnlineText string
}

func (c *Console) camerasPage(w http.ResponseWriter, r *http.Request, v *visit) {
	boxes, err := c.inService(r.Context())
	if err != nil {
		c.fail(w, r, v.lang, err)
		return
	}
	t := c.msgs[v.lang]
	d := camerasData{DefaultMaxViewers: protocol.DefaultMaxViewers, DefaultMaxPerCamera: protocol.DefaultMaxViewersPerCamera}
	for _, b := range boxes {
		d.Boxes = append(d.Boxes, cameraBox{ID: b.ID, Name: displayName(b), Online: b.Online, OnlineText: t[onOff(b.Online)]})
	}
	c.render(w, r, http.StatusOK, "cameras.html", c.pageData(v.lang, v, c.csrf.token(purposeSession, v.token), d))
}
