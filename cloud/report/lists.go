package report

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/dalaba/dalaba/cloud/lists"
	"github.com/dalaba/dalaba/cloud/sheet"
	"github.com/dalaba/dalaba/cloud/store"
)

// Lists is what the lists' reports read (*lists.Service).
type Lists interface {
	EntryRows(ctx context.Context, village, period string) ([]lists.EntryRow, error)
	Trail(ctx context.Context, village string, ids []uint64) ([]store.AuditRecord, error)
	Ledgers(ctx context.Context, village, period string) ([]lists.Ledger, error)
	Leaderboard(ctx context.Context, village, period string) ([]lists.Standing, error)
}

// timeLayout shows a time in a cell.
const timeLayout = "2006-01-02 15:04:05"

// CST is China Standard Time, the zone reports are shown in when their
// caller names none.
func CST() *time.Location { return time.FixedZone("CST", 8*60*60) }

func when(t time.Time, loc *time.Location) any {
	if t.IsZero() {
		return nil
	}
	return t.In(loc).Format(timeLayout)
}

func kindText(k store.ListKind) string {
	if k == store.KindBlack {
		return "黑榜"
	}
	return "红榜"
}

func subjectText(k store.SubjectKind) string {
	if k == store.SubjectHousehold {
		return "户"
	}
	return "村民"
}

func statusText(s store.EntryStatus) string {
	switch s {
	case store.StatusDraft:
		return "草稿"
	case store.StatusInReview:
		return "审核中"
	case store.StatusApproved:
		return "已通过"
	case store.StatusPublished:
		return "已发布"
	case store.StatusRevoked:
		return "已撤销"
	case store.StatusExpired:
		return "已过期"
	}
	return string(s)
}

// actionText names an entry's audit action as the office says it.
func actionText(a string) string {
	switch a {
	case "entry.create":
		return "填报"
	case "entry.update":
		return "修改"
	case "entry.submit":
		return "提交审核"
	case "entry.approve":
		return "审核通过"
	case "entry.reject":
		return "驳回"
	case "entry.publish":
		return "发布"
	case "entry.revoke":
		return "撤销（整改）"
	}
	return a
}

// ListsHeader and TrailHeader are the columns of the month's list and of
// its review trail.
func ListsHeader() []string {
	return []string{"编号", "榜单", "对象类型", "对象", "户号", "户主", "类别", "事由", "积分", "状态", "填报人", "审核通过", "提交时间", "发布时间", "驳回理由", "整改情况"}
}

func TrailHeader() []string { return []string{"编号", "时间", "操作人", "操作", "说明"} }

// MonthLists is a village's red and black list of period (every entry,
// whatever its status) and its review trail: who wrote, changed,
// submitted, approved, rejected, published and revoked each entry.
func MonthLists(ctx context.Context, ls Lists, village, period string, loc *time.Location) ([]sheet.Table, error) {
	rows, err := ls.EntryRows(ctx, village, period)
	if err != nil {
		return nil, err
	}
	ids := make([]uint64, 0, len(rows))
	list := sheet.Table{Name: "红黑榜", Header: ListsHeader()}
	for _, r := range rows {
		ids = append(ids, r.ID)
		var approvers []string
		for _, a := range r.Approvals {
			approvers = append(approvers, a.By)
		}
		list.Rows = append(list.Rows, []any{
			int64(r.ID), kindText(r.Kind), subjectText(r.Subject.Kind), r.Name, r.Household, r.HouseholdHead, r.Category, r.Reason,
			r.Points, statusText(r.Status), r.Author, strings.Join(approvers, "、"), when(r.SubmittedAt, loc), when(r.PublishedAt, loc),
			r.RejectReason, r.RevokeNote,
		})
	}
	recs, err := ls.Trail(ctx, village, ids)
	if err != nil {
		return nil, err
	}
	trail := sheet.Table{Name: "审核记录", Header: TrailHeader()}
	for _, a := range recs {
		trail.Rows = append(trail.Rows, []any{int64(a.EntryID), when(a.Time, loc), a.Actor, actionText(a.Action), trailNote(a)})
	}
	return []sheet.Table{list, trail}, nil
}

// trailNote is what a record says beyond its action: the note (an
// approval's, a revocation's 整改 note) or a rejection's reason.
func trailNote(a store.AuditRecord) string {
	if a.Note != "" {
		return a.Note
	}
	var after struct {
		RejectReason string `json:"reject_reason"`
	}
	if a.Action == "entry.reject" && json.Unmarshal(a.After, &after) == nil {
		return after.RejectReason
	}
	return ""
}

// PointsHeader and LedgerHeader are the columns of the leaderboard and of
// the households' ledgers.
func PointsHeader() []string { return []string{"名次", "户号", "户主", "积分"} }

func LedgerHeader() []string {
	return []string{"户号", "户主", "月份", "编号", "榜单", "对象", "类别", "事由", "积分", "计入积分"}
}

// Points is a village's leaderboard of period ("" = every period) and
// every household's ledger: each published or revoked entry it counts.
func Points(ctx context.Context, ls Lists, village, period string) ([]sheet.Table, error) {
	board, err := ls.Leaderboard(ctx, village, period)
	if err != nil {
		return nil, err
	}
	ledgers, err := ls.Ledgers(ctx, village, period)
	if err != nil {
		return nil, err
	}
	top := sheet.Table{Name: "积分榜", Header: PointsHeader()}
	for _, s := range board {
		top.Rows = append(top.Rows, []any{s.Rank, s.Household, s.Head, s.Points})
	}
	detail := sheet.Table{Name: "积分明细", Header: LedgerHeader()}
	for _, l := range ledgers {
		for _, line := range l.Entries {
			counted := "是"
			if !line.Counted {
				counted = "否（已整改撤销）"
			}
			detail.Rows = append(detail.Rows, []any{l.Household, l.Head, line.Period, int64(line.Entry), kindText(line.Kind), line.Name,
				line.Category, line.Reason, line.Points, counted})
		}
	}
	return []sheet.Table{top, detail}, nil
}

// FileName is a report's file name: what, where, when.
func FileName(what, village, span string) string {
	return fmt.Sprintf("%s-%s-%s.xlsx", what, village, span)
}
