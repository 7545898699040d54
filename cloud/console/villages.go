package console

import (
	"context"
	"net/http"
	"slices"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
	"github.com/dalaba/dalaba/protocol/schedule"
)

// Setting villages up: the villages page (admin: register a box, its
// config shown once, rotate, retire) and each village's page (its box's
// state, horns, zones, cameras, schedules; changed by office roles, read
// by every role).
//
//	GET /villages        admin: every box, retired ones too
//	GET /villages/{id}   every role; its forms for those who may change
//
// The server renders the frames and every word; static/villages.js and
// static/village.js do the rest through the API bridge (/ui/api/…), so
// every change goes through the API's validation, role checks and audit,
// and every refusal is read by its code (static/errors.js). A box's
// secret lives only in the answer that made it: the page shows it and
// offers it as a file, and keeps nothing.
func (c *Console) villageRoutes() {
	c.handle("GET /villages", auth.ActionManageBoxes, c.villagesPage)
	c.handle("GET /villages/{id}", auth.ActionViewBoxes, c.villagePage)
}

// inService lists the boxes in service: retired ones leave the day-to-day
// pages and stay on the villages page and in the event log.
func (c *Console) inService(ctx context.Context) ([]store.Box, error) {
	boxes, err := c.st.ListBoxes(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(boxes, func(b store.Box) bool { return b.Retired() }), nil
}

func (c *Console) villagesPage(w http.ResponseWriter, r *http.Request, v *visit) {
	d, err := c.unitsData(r.Context())
	if err != nil {
		c.fail(w, r, v.lang, err)
		return
	}
	c.render(w, r, http.StatusOK, "villages.html", c.pageData(v.lang, v, c.csrf.token(purposeSession, v.token), d))
}

// villageData is what village.html gets.
type villageData struct {
	Row   boxRow // the box as the dashboard shows it
	Place string
	// Township is the name of the box's township; "" directly under the
	// county.
	Township string
	Retired  bool
	// DefaultZone is the zone schedules are read in when they name none.
	DefaultZone string
	// Today is the township's date, the export form's default.
	Today, MonthStart string
	HasLists          bool
	// The viewer limits a box's desired state leaves at 0 mean these.
	DefaultMaxViewers, DefaultMaxPerCamera int
}

func (c *Console) villagePage(w http.ResponseWriter, r *http.Request, v *visit) {
	id := r.PathValue("id")
	if protocol.ValidateBoxID(id) != nil {
		c.errorPage(w, r, http.StatusNotFound, "NotFound")
		return
	}
	boxes, err := c.st.ListBoxes(r.Context())
	if err != nil {
		c.fail(w, r, v.lang, err)
		return
	}
	i := slices.IndexFunc(boxes, func(b store.Box) bool { return b.ID == id })
	if i < 0 {
		c.errorPage(w, r, http.StatusNotFound, "NotFound")
		return
	}
	rows, err := c.rowsOf(r.Context(), v.lang, boxes[i:i+1])
	if err != nil {
		c.fail(w, r, v.lang, err)
		return
	}
	now := c.now().In(c.cfg.Location)
	d := villageData{Row: rows[0], Place: boxes[i].Place, Township: c.townshipName(r.Context(), boxes[i].Township), Retired: boxes[i].Retired(), DefaultZone: schedule.DefaultZone,
		Today: now.Format("2006-01-02"), MonthStart: now.Format("2006-01") + "-01", HasLists: c.ls != nil,
		DefaultMaxViewers: protocol.DefaultMaxViewers, DefaultMaxPerCamera: protocol.DefaultMaxViewersPerCamera}
	c.render(w, r, http.StatusOK, "village.html", c.pageData(v.lang, v, c.csrf.token(purposeSession, v.token), d))
}

// villagesMessages are the words of the villages and village pages.
func villagesMessages() map[string]message {
	return map[string]message{
		"NavVillages":     {"村", "Villages"},
		"VgTownship":      {"所属乡镇", "Township"},
		"VlTownship":      {"所属乡镇", "Township"},
		"VgCounty":        {"县直属", "Directly under the county"},
		"VlTitle":         {"各村广播盒登记", "Villages and their boxes"},
		"VlHint":          {"登记一个村的广播盒后，下载它的配置文件装到广播盒上（/etc/dalaba/edge.yaml）。配置里有广播盒的密钥，只在这里显示一次，请马上下载保存。", "Register a village's box, then download its config file and install it on the box (/etc/dalaba/edge.yaml). The config holds the box's secret, shown here this once: download it at once."},
		"VlNew":           {"登记新的广播盒", "Register a box"},
		"VlID":            {"编号（小写字母、数字、连字符）", "Id (lower-case letters, digits, hyphens)"},
		"VlName":          {"村名", "Village name"},
		"VlPlace":         {"所属乡镇/片区", "Township area"},
		"VlRegister":      {"登记", "Register"},
		"VlConfigTitle":   {"广播盒配置（只显示这一次）", "The box's config (shown this once)"},
		"VlConfigHint":    {"请立即下载并妥善保存：关闭或刷新本页后无法再看到其中的密钥，只能重新生成。", "Download it now and keep it safe: once this page is closed or reloaded the secret cannot be shown again, only made anew."},
		"VlDownload":      {"下载配置文件", "Download the config file"},
		"VlDone":          {"我已保存，关闭", "Saved; close"},
		"VlRotate":        {"重新生成密钥", "New credentials"},
		"VlRotateConfirm": {"确认重新生成？旧密钥立即失效，广播盒会断开，装上新配置后才能重新连上。", "Really make new credentials? The old ones stop working at once and the box disconnects until it has the new config."},
		"VlRetire":        {"停用", "Retire"},
		"VlRetireConfirm": {"确认停用？广播盒的密钥立即失效，不能再连接；它的记录会保留。此操作不能撤销。", "Really retire it? Its credentials stop working at once and it can no longer connect; its records are kept. This cannot be undone."},
		"VlRetired":       {"已停用", "retired"},
		"VlRetiredAt":     {"停用于 {x}", "retired on {x}"},
		"VlInService":     {"在用", "in service"},
		"VlNone":          {"还没有登记广播盒。", "No boxes registered yet."},
		"VlLoading":       {"正在读取…", "Loading…"},
		"VlSaved":         {"已登记。", "Registered."},
		"VlRotated":       {"已重新生成密钥。", "New credentials made."},
		"VlDidRetire":     {"已停用。", "Retired."},
		"VlOpen":          {"设置", "Set up"},
		// Claim codes on the villages page.
		"ClTitle": {"认领码（广播盒免配置接入）", "Claim codes (boxes that set themselves up)"},
		"ClHint": {"为还没装好的广播盒生成认领码：安装人员在广播盒上运行表中的命令，或把乡镇地址和认领码写进启动分区上的 dalaba-claim.txt，广播盒就会自己取得配置。每个码只能用一次，过期作废。",
			"Make a claim code for a box not yet set up: the installer runs the command in the table on the box, or writes the township's address and the code into dalaba-claim.txt on its boot partition, and the box fetches its own config. Each code works once, until it expires."},
		"ClNew":           {"为一个村生成认领码", "A code for one village"},
		"ClDays":          {"有效天数", "Valid for (days)"},
		"ClCreate":        {"生成认领码", "Make the code"},
		"ClBulk":          {"从表格批量生成", "Many from a sheet"},
		"ClBulkHint":      {"CSV 或 Excel 表格，每行一个村：编号,村名[,片区]；第一行可以是标题。", "A CSV or Excel sheet, one village a row: id,name[,place]; the first row may be headings."},
		"ClFile":          {"表格文件", "Sheet file"},
		"ClUpload":        {"上传并生成", "Upload and make the codes"},
		"ClIssuedTitle":   {"新生成的认领码（只显示这一次）", "The new claim codes (shown this once)"},
		"ClIssuedHint":    {"请立即打印或抄下：关闭或刷新本页后这些码无法再显示，只能作废后重新生成。", "Print or copy them now: once this page is closed or reloaded they cannot be shown again, only revoked and made anew."},
		"ClPrint":         {"打印", "Print"},
		"ClCode":          {"认领码", "Code"},
		"ClCommand":       {"在广播盒上运行", "Run on the box"},
		"ClExpires":       {"有效期至", "Valid until"},
		"ClStatus":        {"状态", "Status"},
		"ClStatusOpen":    {"未使用", "open"},
		"ClStatusUsed":    {"已使用", "used"},
		"ClStatusExpired": {"已过期", "expired"},
		"ClStatusRevoked": {"已作废", "revoked"},
		"ClUsedFrom":      {"{x} 接入", "enrolled from {x}"},
		"ClRevoke":        {"作废", "Revoke"},
		"ClRevokeConfirm": {"确认作废？这个认领码立即失效。再按一次作废。", "Really revoke? The code stops working at once. Press again to revoke."},
		"ClRevoked":       {"已作废。", "Revoked."},
		"ClMade":          {"已生成 {x} 个认领码。", "{x} claim codes made."},
		"ClNone":          {"还没有认领码。", "No claim codes yet."},
		"ClQR":            {"认领文件二维码（扫码后存为 dalaba-claim.txt）", "Claim file as a QR code (scan, save as dalaba-claim.txt)"},
		// The village page.
		"VgStatus":        {"广播盒状态", "The box"},
		"VgPlace":         {"所属片区", "Area"},
		"VgRetiredNote":   {"这个广播盒已停用，只能查看记录。", "This box is retired: its records can be read, nothing changed."},
		"VgReadOnly":      {"您的角色只能查看，不能修改。", "Your role may look but not change anything."},
		"VgHorns":         {"喇叭", "Horns"},
		"VgNoHorns":       {"还没有喇叭。", "No horns yet."},
		"VgHornID":        {"编号", "Id"},
		"VgHornName":      {"名称", "Name"},
		"VgDriver":        {"类型", "Kind"},
		"VgDriverRTP":     {"网络喇叭（RTP）", "IP horn (RTP)"},
		"VgDriverHTTP":    {"网络喇叭（播放地址）", "IP horn (play URL)"},
		"VgDriverCard":    {"功放（声卡输出）", "Amplifier (line-out)"},
		"VgAddr":          {"地址（IP:端口）", "Address (IP:port)"},
		"VgPlayURL":       {"播放地址（含 {url}）", "Play URL (with {url})"},
		"VgVolume":        {"音量（1–100）", "Volume (1–100)"},
		"VgSaveHorn":      {"保存喇叭", "Save horn"},
		"VgTest":          {"测试音", "Test tone"},
		"VgTesting":       {"正在播放测试音…", "Playing the test tone…"},
		"VgTestOK":        {"喇叭已响（{x} 秒）。", "The horn played ({x} s)."},
		"VgHealthOK":      {"喇叭在线", "horn reachable"},
		"VgHealthBad":     {"喇叭连不上。", "the horn is unreachable."},
		"VgTCP":           {"TCP（默认）", "TCP (default)"},
		"VgUDP":           {"UDP", "UDP"},
		"VgAuto":          {"自动", "automatic"},
		"VgEdit":          {"修改", "Edit"},
		"VgRemove":        {"删除", "Remove"},
		"VgConfirmRemove": {"确认删除？", "Really remove?"},
		"VgRemoved":       {"已删除。", "Removed."},
		"VgSaved":         {"已保存，正在下发到广播盒。", "Saved; on its way to the box."},
		"VgZones":         {"广播分区", "Zones"},
		"VgNoZones":       {"还没有分区。", "No zones yet."},
		"VgZoneID":        {"编号", "Id"},
		"VgZoneName":      {"名称", "Name"},
		"VgZoneHorns":     {"包含的喇叭", "Its horns"},
		"VgSaveZone":      {"保存分区", "Save zone"},
		"VgCameras":       {"摄像头", "Cameras"},
		"VgNoCameras":     {"还没有摄像头。", "No cameras yet."},
		"VgCamURL":        {"地址（rtsp://IP:端口/路径）", "Address (rtsp://IP:port/path)"},
		"VgCamUser":       {"用户名", "User name"},
		"VgCamPass":       {"密码（不改请留空）", "Password (leave empty to keep)"},
		"VgTransport":     {"传输方式", "Transport"},
		"VgProbe":         {"测试连接", "Test"},
		"VgProbing":       {"广播盒正在连接摄像头…", "The box is opening the camera…"},
		"VgProbeOK":       {"广播盒能打开这路摄像头：{x}。", "The box can open this camera: {x}."},
		"VgSaveCamera":    {"保存摄像头", "Save camera"},
		"VgPreview":       {"预览", "Preview"},
		"VgSchedules":     {"定时广播", "Schedules"},
		"VgNoSchedules":   {"还没有定时广播。", "No schedules yet."},
		"VgComing":        {"接下来的播放", "Coming playbacks"},
		"VgNothingComing": {"未来七天没有安排。", "Nothing in the coming week."},
		"VgPlanLink":      {"在“广播”页编排通知和定时广播", "Plan announcements and schedules on the Broadcasts page"},
		"VgExports":       {"导出 Excel", "Export to Excel"},
		"VgFrom":          {"从", "From"},
		"VgTo":            {"到", "To"},
		"VgPlayLog":       {"播放记录", "Play log"},
		"VgViewings":      {"视频查看记录", "Camera viewing log"},
		"VgRosterLink":    {"村民名册", "Roster"},
		"VgListsLink":     {"红黑榜", "Red/black lists"},
		"VgNeedID":        {"请填写编号。", "Give an id."},
		"VgNeedAddr":      {"请填写地址。", "Give the address."},
		"VgNotSaved":      {"请先保存，再测试。", "Save it first, then test."},
	}
}
