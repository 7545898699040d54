package console

import (
	"net/http"
	"strings"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/lists"
	"github.com/dalaba/dalaba/cloud/web"
)

// The roster page (村民名册; office roles): a village's households and
// persons, searched, added, edited, moved and marked deceased or moved
// away; its categories and their points; the import from the village's
// spreadsheet (preview, then confirm) and the template to download.
//
//	GET /roster?village=   admin, operator
//
// The server renders the frame and every word, the refused rows'
// reasons included; static/roster.js does the rest through the API
// bridge. Phone numbers and ID digits come masked; the page's switch
// shows them to the roles that may see them (.Can.ViewPersonalData).
func (c *Console) rosterRoutes() {
	c.handle("GET /roster", auth.ActionEditLists, c.rosterPage)
}

// rosterData is what roster.html gets.
type rosterData struct {
	Villages    []villageOption
	Village     string
	VillageName string
	// Reasons are the sentences of the import's refusal reasons.
	Reasons []reasonText
	// MaxImport is the largest file the import takes, in MiB.
	MaxImport int
}

type reasonText struct{ Reason, Text string }

func (c *Console) rosterPage(w http.ResponseWriter, r *http.Request, v *visit) {
	boxes, err := c.inService(r.Context())
	if err != nil {
		c.fail(w, r, v.lang, err)
		return
	}
	t := c.msgs[v.lang]
	d := rosterData{Village: r.URL.Query().Get("village"), MaxImport: lists.MaxImportBytes >> 20}
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
			status = http.StatusNotFound
		}
		d.Village = ""
	}
	for _, reason := range []string{lists.RefuseNameEmpty, lists.RefuseHouseholdEmpty, lists.RefuseHouseholdInvalid, lists.RefuseHeadConflict,
		lists.RefuseHouseholdMissing, lists.RefuseGroupConflict, lists.RefuseDuplicate, lists.RefusePhoneInvalid, lists.RefuseID4Invalid,
		lists.RefuseTextInvalid} {
		d.Reasons = append(d.Reasons, reasonText{Reason: reason, Text: t[reasonKey(reason)]})
	}
	c.render(w, r, status, "roster.html", c.pageData(v.lang, v, c.csrf.token(purposeSession, v.token), d))
}

// reasonKey is the message key of an import refusal's reason.
func reasonKey(reason string) string {
	return "Refuse" + strings.TrimPrefix(codeKey(web.Code(reason)), "Code")
}

// rosterMessages are the words of the roster page.
func rosterMessages() map[string]message {
	return map[string]message{
		"NavRoster":              {"名册", "Roster"},
		"RoTitle":                {"村民名册", "Village roster"},
		"RoNoVillages":           {"还没有登记广播盒。", "No boxes registered yet."},
		"RoSearch":               {"查找（户号、户主、姓名）", "Search (household no., head, name)"},
		"RoSearchButton":         {"查找", "Search"},
		"RoReveal":               {"显示完整电话和身份证后四位", "Show full phone numbers and ID digits"},
		"RoHouseholds":           {"户", "Households"},
		"RoNone":                 {"本村还没有登记户或村民。可以逐户添加，或从 Excel 导入。", "No households or persons yet. Add them one by one, or import them from Excel."},
		"RoNoMatch":              {"没有找到。", "Nothing found."},
		"RoCount":                {"共 {x} 户，{d} 人", "{x} households, {d} persons"},
		"RoHouseholdID":          {"户号", "Household no."},
		"RoHead":                 {"户主", "Head"},
		"RoGroup":                {"村民小组", "Villagers' group"},
		"RoName":                 {"姓名", "Name"},
		"RoPhone":                {"联系电话", "Phone"},
		"RoID4":                  {"身份证后四位", "Last 4 ID digits"},
		"RoStatus":               {"状态", "Status"},
		"RoActive":               {"在册", "active"},
		"RoDeceased":             {"已故", "deceased"},
		"RoMovedAway":            {"已迁出", "moved away"},
		"RoAddHousehold":         {"添加户", "Add a household"},
		"RoAddPerson":            {"添加村民", "Add a person"},
		"RoSave":                 {"保存", "Save"},
		"RoSaved":                {"已保存。", "Saved."},
		"RoEdit":                 {"修改", "Edit"},
		"RoCancel":               {"取消", "Cancel"},
		"RoMoveTo":               {"所在户（迁到别的户请改户号）", "Household (change it to move)"},
		"RoInactiveNote":         {"已故和已迁出的村民保留记录，但不能再上红黑榜。", "Deceased and moved-away persons are kept for the record but cannot be put on a list again."},
		"RoCategories":           {"评分类别与积分", "Categories and their points"},
		"RoCatName":              {"类别", "Category"},
		"RoCatRed":               {"红榜积分", "Red points"},
		"RoCatBlack":             {"黑榜积分", "Black points"},
		"RoCatAdd":               {"添加类别", "Add a category"},
		"RoCatSave":              {"保存类别", "Save categories"},
		"RoImport":               {"从 Excel 导入", "Import from Excel"},
		"RoImportHint":           {"每一行一位村民：户主、户号、姓名，身份证后四位和联系电话可不填。支持 .xlsx 和 .csv（UTF-8 或 GBK），最大 {x} MB。先预览，确认后才写入。", "One person a row: head, household no., name; ID digits and phone are optional. .xlsx and .csv (UTF-8 or GBK), up to {x} MB. Preview first: nothing is written until you confirm."},
		"RoTemplate":             {"下载模板", "Download the template"},
		"RoFile":                 {"选择文件", "Choose a file"},
		"RoPreview":              {"预览", "Preview"},
		"RoPreviewing":           {"正在读取文件…", "Reading the file…"},
		"RoNoFile":               {"请先选择文件。", "Choose a file first."},
		"RoPlan":                 {"共 {x} 行：新增 {a} 户、{b} 人；修改 {c} 户、{d} 人；{e} 人不变；{f} 行被拒绝。", "{x} rows: {a} households and {b} persons to add; {c} households and {d} persons to change; {e} persons unchanged; {f} rows refused."},
		"RoRefused":              {"被拒绝的行（改好后可以再导入一次，已导入的不会重复）", "Refused rows (fix them and import again; what was imported is not repeated)"},
		"RoRow":                  {"第 {x} 行", "row {x}"},
		"RoConfirm":              {"确认导入", "Confirm the import"},
		"RoImporting":            {"正在导入…", "Importing…"},
		"RoImported":             {"已导入：新增 {a} 户、{b} 人，修改 {c} 户、{d} 人。", "Imported: {a} households and {b} persons added, {c} households and {d} persons changed."},
		"RoNothingToImport":      {"没有需要导入的内容：文件里的户和村民都已在名册中。", "Nothing to import: every household and person of the file is in the roster already."},
		"RoToAdd":                {"将新增", "To add"},
		"RoToChange":             {"将修改", "To change"},
		"RefuseNameEmpty":        {"姓名为空。", "The name is empty."},
		"RefuseHouseholdEmpty":   {"户号为空。", "The household no. is empty."},
		"RefuseHouseholdInvalid": {"户号只能用数字、字母、连字符或下划线，最长 48 个字符。", "The household no. may have digits, letters, hyphens or underscores only, at most 48."},
		"RefuseHeadConflict":     {"同一户号前面的行写了另一位户主；请统一户主，或改正户号。", "An earlier row gives this household another head; make them agree, or correct the household no."},
		"RefuseHouseholdMissing": {"这个户号在文件和名册里都找不到户主；请在本户至少一行填写户主。", "Neither the file nor the roster gives this household a head; fill in the head on at least one of its rows."},
		"RefuseGroupConflict":    {"同一户前面的行写了另一个村民小组；请统一。", "An earlier row puts this household in another villagers' group; make them agree."},
		"RefuseDuplicate":        {"与前面的一行是同一户的同一个人；如果是同名的两个人，请填写身份证后四位区分。", "The same person of the same household as an earlier row; if they are two people of one name, tell them apart by their ID digits."},
		"RefusePhoneInvalid":     {"联系电话不是电话号码（5 至 20 位数字）。", "The phone is not a phone number (5 to 20 digits)."},
		"RefuseIdLast4Invalid":   {"身份证后四位应为 4 个字符：数字，最后一位可以是 X。", "The ID digits should be 4 characters: digits, the last may be X."},
		"RefuseTextInvalid":      {"姓名、户主或小组太长（姓名最多 32 个字），或含有换行等特殊字符。", "A name, head or group is too long (names at most 32 characters) or has line breaks or other special characters."},
	}
}
