package console

import (
	"slices"
	"strings"

	"github.com/dalaba/dalaba/cloud/web"
)

// What an official reads when something fails: a sentence per error code
// of the API (web.Code) saying what happened and what to do, never the
// API's English message, which is for engineers (the scripts put it in a
// tooltip). The scripts find the sentences in the page (codesData, read by
// static/errors.js); the server-rendered pages use explain. A code the
// table lacks gets codeUnknown, never the message.

// codeKey is the message key of code: "Code" and the code in camel case
// ("plan.invalid" is CodePlanInvalid).
func codeKey(code web.Code) string {
	var b strings.Builder
	b.WriteString("Code")
	up := true
	for _, r := range string(code) {
		switch {
		case r == '.' || r == '_':
			up = true
		case up:
			b.WriteString(strings.ToUpper(string(r)))
			up = false
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// codeUnknown is the sentence of a code the table lacks, or of an answer
// without one (a proxy's error page).
const codeUnknown = "CodeUnknown"

// codeMessages are the sentences of the codes.
func codeMessages() map[string]message {
	return map[string]message{
		codeKey(web.CodeBadJSON):          {"页面发出的请求有误，请刷新页面后重试。", "The page sent a malformed request; reload the page and try again."},
		codeKey(web.CodeTooLarge):         {"提交的内容太大，请删减后重试。", "What was sent is too large; shorten it and try again."},
		codeKey(web.CodeBadRequest):       {"填写的内容有误，请检查后重试。", "Something filled in is not valid; check it and try again."},
		codeKey(web.CodeUnsupportedType):  {"浏览器发送的格式不对，请刷新页面后重试。", "The browser sent the wrong format; reload the page and try again."},
		codeKey(web.CodeNoRoute):          {"没有这个地址，请从菜单重新进入。", "No such address; go there from the menu."},
		codeKey(web.CodeMethodNotAllowed): {"这个操作不被支持，请刷新页面后重试。", "That cannot be done here; reload the page and try again."},
		codeKey(web.CodeNoToken):          {"请先登录。", "Please sign in."},
		codeKey(web.CodeBadToken):         {"登录已过期，请重新登录。", "Your session has ended; please sign in again."},
		codeKey(web.CodeBadCredentials):   {"用户名或密码错误，请重新输入。", "Wrong user name or password; enter them again."},
		codeKey(web.CodeRateLimited):      {"登录失败次数过多，请稍后再试。", "Too many failed sign-ins; wait a while and try again."},
		codeKey(web.CodeForbidden):        {"您的角色不能进行这个操作；如确需要，请联系管理员。", "Your role may not do this; ask the administrator if you need to."},
		codeKey(web.CodeCSRF):             {"页面已过期，请刷新页面后重试。", "The page has expired; reload it and try again."},
		codeKey(web.CodeUserInvalid): {"未修改：用户名须为 1 至 32 个字符，密码 8 至 72 个字符；管理员不能降级或停用自己，也不能降级或停用最后一位管理员。",
			"Not changed: user names have 1 to 32 characters and passwords 8 to 72; an administrator cannot demote or disable themself, nor the last administrator."},
		codeKey(web.CodeNotFound): {"没有找到，可能已被删除。请刷新页面。", "Not found; it may have been deleted. Reload the page."},
		codeKey(web.CodeExists):   {"这个编号或名称已被使用，请换一个。", "That id or name is already taken; choose another."},
		codeKey(web.CodeBoxInvalid): {"广播盒的编号、名称或所属片区不符合要求：编号只用小写字母、数字和连字符，名称 1 至 64 个字符，片区最多 64 个字符。",
			"The box's id, name or place is not valid: ids use lower-case letters, digits and hyphens; names have 1 to 64 characters, places at most 64."},
		codeKey(web.CodeBoxRetired): {"这个广播盒已经停用：不能再给它发指令、改设置或换密钥。它的记录仍然保留；如果村里要重新启用，请登记一个新的广播盒。",
			"This box is retired: it can no longer be sent commands, have its settings changed or get new credentials. Its records are kept; to bring the village back, register a new box."},
		codeKey(web.CodePlanInvalid): {"未保存：有填写不符合要求的地方。", "Not saved: something filled in is not valid."},
		codeKey(web.CodePlanInUse): {"未删除：它还在被使用（喇叭在分区里，或分区被定时广播使用），请先修改那些设置。",
			"Not deleted: it is still in use (a speaker in a zone, or a zone by a schedule); change those first."},
		codeKey(web.CodeMediaInvalid):   {"无法使用这个音频：请上传 WAV 或 MP3 文件，并填写名称。", "This audio cannot be used: upload a WAV or MP3 file and give it a name."},
		codeKey(web.CodeMediaTooLarge):  {"音频文件太大，请剪短或压缩后再上传。", "The audio file is too large; shorten or compress it and upload it again."},
		codeKey(web.CodeMediaUnknown):   {"所选音频不在音频库中，请刷新页面后重新选择。", "The chosen clip is not in the library; reload the page and choose again."},
		codeKey(web.CodeMediaBusy):      {"正在上传的音频太多，请过一分钟再试。", "Too many clips are being uploaded right now; try again in a minute."},
		codeKey(web.CodeCommandInvalid): {"指令有误，请检查所选的音频、分区和次数后重试。", "The command is not valid; check the clip, zones and count and try again."},
		codeKey(web.CodeNoBroker): {"乡镇服务暂时连不上消息服务器，指令发不出去。请稍后再试；如果一再出现，请联系管理员。",
			"The township service cannot reach its message broker, so nothing can be sent. Try again later; if it keeps happening, tell the administrator."},
		codeKey(web.CodeNoAnswer): {"未送达：广播盒没有应答（可能离线）。请检查广播盒的电源和网络后再试。",
			"Not delivered: the box did not answer (it may be offline). Check its power and network and try again."},
		codeKey(web.CodeExpired): {"未执行：指令到达广播盒时已过期（网络太慢，或广播盒的时钟不准），广播盒什么也没做。可以再发一次；如果一再出现，请检查广播盒的网络和时钟。",
			"Not carried out: the command reached the box after it expired (a slow link or a wrong clock on the box), and the box did nothing. You may send it again; if it keeps happening, check the box's network and clock."},
		codeKey(web.CodeBoxRefused): {"广播盒拒绝执行。请检查设置后再试；如果一再出现，请联系管理员。",
			"The box refused. Check the settings and try again; if it keeps happening, tell the administrator."},
		codeKey(web.CodeBadAnswer): {"广播盒的回应无法使用。请稍后再试；如果一再出现，请联系管理员。",
			"The box's answer could not be used. Try again later; if it keeps happening, tell the administrator."},
		codeKey(web.CodeNoCamera): {"广播盒上没有这路摄像头，请刷新页面。", "The box has no such camera; reload the page."},
		codeKey(web.CodeCameraUnreachable): {"广播盒打不开这路摄像头：请检查摄像头地址（rtsp://IP:端口/路径）是否正确，摄像头是否通电，是否和广播盒在同一个网络里。",
			"The box could not open this camera: check its address (rtsp://IP:port/path), that it has power, and that it is on the box's network."},
		codeKey(web.CodeCameraUnauthorized): {"摄像头拒绝了用户名或密码：请按摄像头上的账号重新填写用户名和密码。",
			"The camera refused the user name or password: fill in the account the camera has."},
		codeKey(web.CodeCameraNoVideo): {"摄像头没有广播盒能转发的视频：请在摄像头的设置里把视频编码改为 H.264（或 H.265）。",
			"The camera sends no video the box can relay: set its video encoding to H.264 (or H.265) in the camera's settings."},
		codeKey(web.CodeSpeakerSilent): {"喇叭没有响：请检查喇叭的 IP 地址和端口、电源和网线；喇叭的状态见下方。",
			"The horn did not play: check its IP address and port, its power and its network cable; its state is shown below."},
		codeKey(web.CodeSpeakerNotOnBox): {"广播盒还没有收到这个喇叭的设置（可能离线，或刚保存还在同步）。请确认广播盒在线，稍等片刻再试。",
			"The box has not got this horn's settings yet (it may be offline, or they were just saved). Check that the box is online and try again in a moment."},
		codeKey(web.CodeSpeakerBusy): {"喇叭正在播放紧急广播或喊话，测试音没有播出。请等它结束后再试。",
			"The horn is busy with an emergency broadcast or a live page, so the test tone did not play. Try again once it ends."},
		codeKey(web.CodeCameraBFrames): {"无法显示：摄像头发送的B帧被其他画面引用，浏览器不能实时播放。请在摄像头的视频编码设置中把B帧设为0（关闭B帧），或配置一个没有B帧的子码流。",
			"Cannot be shown: the camera's B-frames are referenced by other frames, which a browser cannot play live. Set B-frames to 0 in the camera's video encoding settings, or give it a sub stream without B-frames."},
		codeKey(web.CodeCameraCodec): {"无法显示：摄像头只有H.265码流，浏览器不能播放。请在摄像头设置中把主码流或子码流的编码改为H.264。",
			"Cannot be shown: the camera sends only H.265, which the browser cannot play. Set the camera's main or sub stream to H.264."},
		codeKey(web.CodeNoZones): {"这个村还没有广播分区，无法喊话。请先在“广播”页设置分区。", "This village has no zones to page; set up zones on the Broadcasts page first."},
		codeKey(web.CodeNoZone):  {"所选分区不存在，请刷新页面后重新选择。", "A chosen zone does not exist; reload the page and choose again."},
		codeKey(web.CodeTextInvalid): {"这段文字无法朗读：请输入通知内容（不超过 1500 字），不要只有符号。",
			"This text cannot be read aloud: type the announcement (at most 1500 characters), not only symbols."},
		codeKey(web.CodeSpeechFailed):  {"语音合成失败。请稍后再试，或上传录好的音频文件。", "Speech synthesis failed. Try again later, or upload a recorded audio file."},
		codeKey(web.CodePosterInvalid): {"海报无法生成，请检查纸张大小（A4 或 A3）。", "The poster cannot be made; check the paper size (A4 or A3)."},
		codeKey(web.CodeListsInvalid):  {"未保存：有填写不符合要求的地方。", "Not saved: something filled in is not valid."},
		codeKey(web.CodeListsForbidden): {"您不能进行这个操作（例如自己填写或修改过的条目，须由其他审核人审核）。",
			"You may not do this (an entry you wrote or edited, for example, must be approved by another reviewer)."},
		codeKey(web.CodeListsConflict): {"现在不能这样操作：条目或名单的状态不允许（可能刚被别人处理过，或本月还没有已通过的条目）。请刷新页面后再看。",
			"This cannot be done now: the entry or list is not in a state that allows it (someone may just have handled it, or nothing is approved this month). Reload the page and look again."},
		codeKey(web.CodeAnnounceFailed): {"已保存，但广播通知没有发出。请稍后重新发布或再次播报。", "Saved, but the announcement did not go out. Publish or announce it again later."},
		codeKey(web.CodeBadPeriod): {"期数写法不对，或与该类别的评比周期不符：按月写 2026-11，按季度写 2026-Q4。",
			"The period is written wrongly, or is not this category's round: a month is 2026-11, a quarter 2026-Q4."},
		codeKey(web.CodeOutOfStock): {"未兑换：这件商品已经兑完或已下架。请刷新页面，换一件或先补货。",
			"Not redeemed: the goods are sold out or off sale. Reload the page and choose another, or restock first."},
		codeKey(web.CodeNotEnoughPoints): {"未兑换：这户的积分不够。积分不会扣成负数，请换一件积分少的商品。",
			"Not redeemed: the household has too few points; points never go below zero. Choose goods that cost fewer."},
		codeKey(web.CodeNoFont): {"无法生成海报图片：服务器缺少中文字体。请联系管理员安装 fonts-noto-cjk。",
			"The poster picture cannot be drawn: the server has no Chinese font. Ask the administrator to install fonts-noto-cjk."},
		codeKey(web.CodeRosterBadFile): {"无法读取这个文件：请上传 Excel（.xlsx）或 CSV 文件，第一行须有“户主”“户号”“姓名”三列（可下载模板对照）。",
			"This file cannot be read: upload an Excel (.xlsx) or CSV file whose first row has the columns 户主, 户号 and 姓名 (download the template to compare)."},
		codeKey(web.CodeRosterStale): {"预览之后名册已有变动，没有导入。请重新预览，确认后再导入。",
			"The roster changed after the preview, so nothing was imported. Preview the file again and confirm what it shows now."},
		codeKey(web.CodeAlertInvalid): {"告警设置有误，请按提示修改后再保存。", "That alert setting is not valid; correct what is marked and save again."},
		codeKey(web.CodeSendFailed):   {"测试消息没有送达。请核对机器人地址和密钥，或检查乡镇服务器的网络；下方告警记录里有平台的回复。", "The test message was not delivered. Check the robot's address and secret, or the township server's network; the alert log below has the platform's answer."},
		codeKey(web.CodeUnhealthy):    {"乡镇服务出现故障（存储或消息服务器），请联系管理员。", "The township service is unwell (storage or message broker); tell the administrator."},
		codeKey(web.CodeInternal):     {"服务器出错，请稍后再试；如果一再出现，请联系管理员。", "Server error; try again later, and tell the administrator if it keeps happening."},
		codeKey(web.CodeClaimInvalid): {"认领码没有生成：有填写不符合要求的地方（村编号只用小写字母、数字和连字符；表格每行为 编号,村名[,片区]）。请按提示修改后重试。",
			"No claim code was made: something is not valid (village ids use lower-case letters, digits and hyphens; each sheet row is id,name[,place]). Correct what is marked and try again."},
		codeKey(web.CodeClaimInService): {"这个村的广播盒已经在用，不需要认领码。如需换新设备，请在下方为它生成新的密钥。",
			"This village's box is already in service and needs no claim code. To replace the device, give it new credentials below."},
		codeKey(web.CodeClaimOpen): {"这个村已有一个未使用的认领码。请先作废它，再生成新的。",
			"This village already has an unused claim code. Revoke it first, then make a new one."},
		codeKey(web.CodeClaimNotOpen): {"这个认领码已经用过、过期或作废，不能再作废。请刷新页面。",
			"This claim code was used, has expired or was revoked already; reload the page."},
		codeKey(web.CodeClaimUnknown):      {"没有这个认领码。请核对后重新输入。", "There is no such claim code. Check it and type it again."},
		codeKey(web.CodeClaimUsed):         {"这个认领码已经用过。请向乡镇管理员要一个新的。", "This claim code was used already. Ask the township's administrator for a new one."},
		codeKey(web.CodeClaimExpired):      {"这个认领码已过期。请向乡镇管理员要一个新的。", "This claim code has expired. Ask the township's administrator for a new one."},
		codeKey(web.CodeClaimRevoked):      {"这个认领码已被作废。请向乡镇管理员要一个新的。", "This claim code was revoked. Ask the township's administrator for a new one."},
		codeKey(web.CodeClaimWrongVillage): {"这个认领码是给别的村的，请用本村的认领码。", "This claim code is for another village; use this village's code."},
		codeKey(web.CodeClaimStale): {"生成认领码之后乡镇服务器的地址变了，这个码已不能用。请作废它并生成新的。",
			"The township server's addresses changed after this claim code was made, so it no longer works. Revoke it and make a new one."},
		codeKey(web.CodeClaimSlowDown):   {"认领码错误次数过多，请等一会儿再试。", "Too many wrong claim codes; wait a while and try again."},
		codeKey(web.CodeReleaseInvalid):  {"没有保存这个版本：版本号或程序文件不对。每个文件须是对应架构（amd64、arm64、armhf）的 dalaba-edge 程序。", "The release was not saved: its version or a file is wrong. Each file must be the dalaba-edge program for its architecture (amd64, arm64, armhf)."},
		codeKey(web.CodeReleaseTooLarge): {"程序文件太大，没有保存。请确认上传的是 dalaba-edge 程序本身。", "A program file is too large and was not saved; check that you uploaded the dalaba-edge program itself."},
		codeKey(web.CodeReleaseBusy):     {"正在上传的版本太多，请过一分钟再试。", "Too many releases are being uploaded; try again in a minute."},
		codeKey(web.CodeRolloutInvalid):  {"无法开始升级：请检查版本、设备和分批比例（逐批增加，最后一批为 100）。", "The rollout cannot start: check the release, the boxes and the waves (growing, the last one 100)."},
		codeKey(web.CodeRolloutState):    {"这次升级现在不能这样操作（已结束或已取消），请刷新页面查看。", "The rollout cannot do that now (it is over or cancelled); reload the page to see where it stands."},
		codeKey(web.CodeJobInvalid): {"批量修改没有开始：请选择乡镇或广播盒，并填写要加入的定时广播（或要删除的编号）。列出的盒子须已登记且在用。",
			"The change to many boxes did not start: choose a township or boxes, and fill in the schedule to add (or the id to remove). Every box listed must be registered and in service."},
		codeKey(web.CodeJobsBusy): {"等待中的批量修改太多，请等正在进行的完成后再试。", "Too many changes to many boxes are waiting; try again once the running one has ended."},
		codeKey(web.CodeOutOfScope): {"其中有不属于本乡镇的村（或用户、乡镇），所以什么也没有做。请只选择本乡镇的。",
			"Some of the villages (or users, or the township) are outside your township, so nothing was done. Choose only your township's."},
		codeKey(web.CodeCountyOnly):      {"只有县级用户可以这样操作（管理乡镇、把村划到别的乡镇、县级账号、全县设置）。", "Only a county user may do this (townships, moving a village to another township, county accounts, the county's settings)."},
		codeKey(web.CodeTownshipInvalid): {"乡镇不对：编号形如 t-dongshan，名称 1 到 40 个字，且须是已有的乡镇。", "The township is not right: an id like t-dongshan, a name of 1-40 characters, and it must be one that exists."},
		codeUnknown:                      {"操作没有成功，请稍后再试；如果一再出现，请联系管理员。", "That did not work; try again later, and tell the administrator if it keeps happening."},
		"CheckFields":                    {"请检查：{x}。", "Check: {x}."},
		"ListSep":                        {"、", ", "},
	}
}

// codeText is one code's sentence, for the page (codesData).
type codeText struct {
	Code web.Code
	Text string
}

// codesData lists every code's sentence in t's language, the unknown
// code's under "", sorted so pages are stable.
func codesData(t map[string]string) []codeText {
	out := []codeText{{Code: "", Text: t[codeUnknown]}}
	for c := range web.Codes() {
		out = append(out, codeText{Code: c, Text: t[codeKey(c)]})
	}
	slices.SortFunc(out[1:], func(a, b codeText) int { return strings.Compare(string(a.Code), string(b.Code)) })
	return out
}

// explain is what an official reads for err, an error of a service the
// console calls directly: the sentence of its code and, when the problems
// name fields labels knows (path → message key), which to check.
func explain(t map[string]string, err error, labels map[string]string) string {
	p := web.ProblemOf(err)
	s, ok := t[codeKey(p.Code)]
	if !ok {
		s = t[codeUnknown]
	}
	var names []string
	for _, f := range p.Fields {
		if k, ok := labels[f.Path]; ok && !slices.Contains(names, t[k]) {
			names = append(names, t[k])
		}
	}
	if len(names) > 0 {
		s += " " + strings.ReplaceAll(t["CheckFields"], "{x}", strings.Join(names, t["ListSep"]))
	}
	return s
}
