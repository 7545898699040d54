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
		"CamFull":   {"主码流", "Full view"},
		"CamGrid":   {"返回小画面", "Back to the grid"},
		"CamMain":   {"主码流", "main stream"},
		"CamSub":    {"子码流", "sub stream"},
		"CamFPS":    {"每秒%s帧", "%s frames a second"},
		"CamUnmute": {"开启声音", "Sound on"},
		"CamMute":   {"静音", "Mute"},
		"CamSlow":   {"画面解码过慢（每秒%s帧，应为%s帧），不是实时画面。请检查摄像头的视频编码设置（关闭B帧，码流用H.264）。", "The picture decodes too slowly (%s frames a second instead of %s): it is not live. Check the camera's video encoding (B-frames off, H.264)."},
		"CamNoteBFramesSub": {"主码流含B帧，浏览器不能流畅播放，现在显示的是子码流。要看高清画面，请在摄像头的视频编码设置中把B帧设为0（关闭B帧）。",
			"The main stream has B-frames, which a browser cannot play smoothly: this is the sub stream. For the full picture, set B-frames to 0 in the camera's video encoding settings."},
		"CamNoteBFramesRef": {"摄像头发送B帧，浏览器无法重排，只显示其余画面，所以画面每秒帧数较少。请在摄像头的视频编码设置中把B帧设为0（关闭B帧）。",
			"The camera sends B-frames, which a browser cannot reorder: only the other frames are shown, so the picture moves less often. Set B-frames to 0 in the camera's video encoding settings."},
		"CamNoteH265Sub": {"主码流是H.265，浏览器不能播放，现在显示的是H.264子码流。要看高清画面，请在摄像头设置中把主码流的编码改为H.264。",
			"The main stream is H.265, which the browser cannot play: this is the H.264 sub stream. For the full picture, set the camera's main stream to H.264."},
		"CamNoteBudgetSub": {"上行带宽预算不够播放主码流，现在显示的是子码流。", "The uplink budget has no room for the main stream: this is the sub stream."},
		"CamNoteNoSub":     {"这路摄像头没有子码流，显示的是主码流，流量较大。", "This camera has no sub stream: this is its main stream, which takes more of the uplink."},
		"CamFind":          {"查找摄像头", "Find cameras"},
		"CamFinding":       {"正在查找村里局域网上的摄像头…", "Looking for cameras on the village LAN…"},
		"CamFoundNone":     {"没有找到支持ONVIF的摄像头。请确认摄像头已通电、和广播盒在同一个局域网，并已开启ONVIF。", "No ONVIF camera answered. Check the cameras are powered, on the box's LAN, with ONVIF turned on."},
		"CamFindFailed":    {"查找失败，请稍后再试。", "Finding cameras failed; try again later."},
		"CamNewID":         {"编号（英文字母和数字）", "Id (letters and digits)"},
		"CamUser":          {"摄像头用户名", "Camera user name"},
		"CamPass":          {"摄像头密码", "Camera password"},
		"CamAdd":           {"读取并添加", "Read and add"},
		"CamAdding":        {"正在读取摄像头…", "Reading the camera…"},
		"CamAddFailed":     {"无法读取这台摄像头：请检查用户名和密码，以及摄像头是否开启了ONVIF。", "Could not read this camera: check the user name and password, and that ONVIF is on."},
		"CamSnapshot":      {"抓拍", "Snapshot"},
		"CamSnapFailed":    {"抓拍失败：摄像头没有应答或不支持抓拍。", "The snapshot failed: the camera did not answer or takes none."},
		"CamLeft":          {"向左", "Left"},
		"CamRight":         {"向右", "Right"},
		"CamUp":            {"向上", "Up"},
		"CamDown":          {"向下", "Down"},
		"CamZoomIn":        {"放大", "Zoom in"},
		"CamZoomOut":       {"缩小", "Zoom out"},
		"CamPTZFailed":     {"云台没有响应。", "The camera's PTZ did not respond."},
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
