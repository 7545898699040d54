package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// Populate fills s, through the store interfaces, with a little of every
// kind of record a township keeps: boxes (one retired) with desired
// state, plans and events over two incarnations and several thousand
// seqs, users and a session, media, a village's roster, categories,
// entries in every state with holds and their audit trail, the points
// shop, links, chats with deliveries and a picture, the alerting, a box's
// health, claim codes, and a release with its rollout. A
// migration test copies it and checks nothing was lost.
func Populate(t testing.TB, s store.Store) {
	t.Helper()
	ctx := t.Context()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("populate: %s: %v", what, err)
		}
	}
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	note := func(action string) store.AuditRecord {
		return store.AuditRecord{Time: at(1), Actor: "admin", Action: action, After: json.RawMessage(`{"by": "populate"}`)}
	}

	for i, id := range []string{"village-1", "village-2", "village-3"} {
		b := newBox(id)
		b.Place = "示范镇"
		must("create box", s.CreateBox(ctx, b))
		must("put desired", s.PutDesired(ctx, store.Desired{BoxID: id, Rev: uint64(3 + i), Payload: fmt.Appendf(nil, `{"v":1,"box":%q}`, id)}))
	}
	// Two townships, one renamed; village-1 in the first from its
	// creation's update, village-2 in the second, village-3 the county's.
	must("create township", s.CreateTownship(ctx, store.Township{ID: "t-dongshan", Name: "东山镇", CreatedAt: at(0)}))
	must("create township", s.CreateTownship(ctx, store.Township{ID: "t-xishan", Name: "西山乡", CreatedAt: at(1)}))
	_, err := s.RenameTownship(ctx, "t-xishan", "西山镇")
	must("rename township", err)
	must("move box", s.UpdateBox(ctx, "village-2", func(b *store.Box) error { b.Township = "t-xishan"; return nil }))
	must("update box", s.UpdateBox(ctx, "village-1", func(b *store.Box) error {
		b.Township = "t-dongshan"
		b.Online, b.LastSeen, b.AppliedRev, b.OutboxBacklog, b.ReportedAt = true, at(5), 3, 12, at(5)
		return nil
	}))
	must("retire box", s.UpdateBoxCredentials(ctx, "village-3", func(b *store.Box) error {
		b.SecretHash, b.RetiredAt = nil, at(9)
		return nil
	}))

	// village-1: 2,500 events under one epoch (in batches, one out of
	// order), then a new epoch and its incarnation; village-2 none.
	epochA, epochB := testEpoch(1), testEpoch(2)
	for from := uint64(1); from <= 2500; from += 500 {
		batch := evsIn(epochA, slicesOf(from, from+499)...)
		batch[0], batch[1] = batch[1], batch[0]
		_, err := s.AppendEvents(ctx, "village-1", store.Batch{Epoch: epochA, Floor: from, Events: batch, ReceivedAt: at(10)})
		must("append events", err)
	}
	_, err = s.AppendEvents(ctx, "village-1", store.Batch{Epoch: epochB, Floor: 1, Events: evsIn(epochB, 1, 2, 3, 5), ReceivedAt: at(20)})
	must("append a new epoch", err)
	_, err = s.AppendEvents(ctx, "village-2", store.Batch{Floor: 1, Events: evs(1, 2, 3), ReceivedAt: at(21)})
	must("append without an epoch", err)

	must("create user", s.CreateUser(ctx, store.User{Name: "admin", PasswordHash: []byte("bcrypt-admin"), Role: store.RoleAdmin, CreatedAt: at(0)}))
	must("create user", s.CreateUser(ctx, store.User{Name: "clerk", PasswordHash: []byte("bcrypt-clerk"), Role: store.RoleOperator, CreatedAt: at(1), Disabled: true, Township: "t-dongshan"}))
	must("put session", s.PutSession(ctx, store.Session{TokenHash: []byte("token-sha256-admin"), User: "admin", CreatedAt: at(2), ExpiresAt: at(600)}))

	must("update plan", s.UpdatePlan(ctx, "village-1", func(p *store.Plan) error {
		p.Broadcast, p.UpdatedAt, p.UpdatedBy = samplePlan(), at(3), "admin"
		return nil
	}))
	for i := range 3 {
		must("put media", s.PutMedia(ctx, clip(i, at(i))))
	}

	// The lists of village-1.
	v := "village-1"
	must("create household", s.CreateHousehold(ctx, store.Household{Village: v, ID: "h01", Head: "王建国", Group: "一组", CreatedAt: at(1), CreatedBy: "admin"}, note("household.create")))
	_, err = s.ApplyRoster(ctx, v, func(store.Roster) (store.RosterChange, store.AuditRecord, error) {
		return store.RosterChange{
			Households: []store.Household{{ID: "h02", Head: "李秀英", CreatedAt: at(2), CreatedBy: "admin"}},
			Persons: []store.Person{
				{ID: "p01", Name: "王建国", Household: "h01", Phone: "13800000001", IDLast4: "1234", CreatedAt: at(2), CreatedBy: "admin"},
				{ID: "p02", Name: "李秀英", Household: "h02", Status: store.PersonMovedAway, CreatedAt: at(2), CreatedBy: "admin"},
			},
		}, note("roster.import"), nil
	})
	must("apply roster", err)
	must("put categories", s.PutCategories(ctx, v, []store.Category{{Name: "孝老爱亲", Red: 10, Black: -5}, {Name: "环境卫生", Red: 5, Black: -10}}, note("categories.put")))
	var ids []uint64
	for i, subject := range []struct {
		kind store.SubjectKind
		id   string
	}{{store.SubjectHousehold, "h01"}, {store.SubjectPerson, "p01"}, {store.SubjectHousehold, "h02"}} {
		e, err := s.CreateEntry(ctx, store.Entry{Village: v, Kind: store.KindRed, SubjectKind: subject.kind, SubjectID: subject.id,
			Category: "孝老爱亲", Reason: "照顾老人", Period: "2026-10", Points: 10 * (i + 1), Author: "clerk", Editors: []string{"clerk"},
			Status: store.StatusDraft, CreatedAt: at(30 + i), UpdatedAt: at(30 + i)},
			func(e store.Entry) (store.AuditRecord, error) { return note("entry.create"), nil })
		must("create entry", err)
		ids = append(ids, e.ID)
	}
	_, err = s.UpdateEntries(ctx, ids[:2], func(e *store.Entry) (store.AuditRecord, error) {
		e.Status, e.PublishedAt, e.Approvals = store.StatusPublished, at(40), []store.Approval{{By: "reviewer", At: at(39)}}
		return note("entry.publish"), nil
	})
	must("publish entries", err)
	_, _, err = s.ChangeHolds(ctx, ids[2], func(e *store.Entry, hs *[]store.Hold) ([]store.AuditRecord, error) {
		e.HeldFrom, e.Status = e.Status, store.StatusOnHold
		*hs = append(*hs, store.Hold{Kind: store.HoldObjection, Name: "张三", Contact: "13900000000", Reason: "不属实", Status: store.HoldOpen, CreatedAt: at(41)})
		return []store.AuditRecord{note("hold.lodge")}, nil
	})
	must("lodge an objection", err)
	_, err = s.AppendAudit(ctx, note("announce"))
	must("append audit", err)

	must("put goods", s.PutGoods(ctx, store.Goods{Village: v, ID: "soap", Name: "肥皂", Price: 5, Stock: 20, OnSale: true, UpdatedAt: at(42), UpdatedBy: "clerk"}, true, note("goods.put")))
	r, _, err := s.Redeem(ctx, store.Redemption{Village: v, Household: "h01", Goods: "soap", Quantity: 2, Key: "k-1", By: "clerk", CreatedAt: at(43)},
		func(store.Redemption, int) store.AuditRecord { return note("redeem") })
	must("redeem", err)
	_, _, err = s.Redeem(ctx, store.Redemption{Village: v, Household: "h01", Goods: "soap", Quantity: 1, Key: "k-2", By: "clerk", CreatedAt: at(44)},
		func(store.Redemption, int) store.AuditRecord { return note("redeem") })
	must("redeem", err)
	_, err = s.CancelRedemption(ctx, r.ID, func(x *store.Redemption) (store.AuditRecord, error) {
		x.Status, x.CancelledAt, x.CancelledBy, x.CancelReason = store.RedemptionCancelled, at(45), "clerk", "换货"
		return note("redeem.cancel"), nil
	})
	must("cancel redemption", err)

	must("issue link", s.IssueLink(ctx, store.Link{TokenHash: []byte("link-1-sha256"), Village: v, Household: "h01", CreatedAt: at(46), CreatedBy: "clerk"}, note("link.issue")))
	must("issue link", s.IssueLink(ctx, store.Link{TokenHash: []byte("link-2-sha256"), Village: v, Household: "h01", CreatedAt: at(47), CreatedBy: "clerk"}, note("link.issue")))

	must("put chats", s.PutChats(ctx, v, []store.Chat{
		{ID: "wecom-1", Kind: "wecom", URL: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x", UpdatedAt: at(48), UpdatedBy: "admin"},
		{ID: "ding-1", Kind: "dingtalk", URL: "https://oapi.dingtalk.com/robot/send?access_token=y", Secret: "SEC1", UpdatedAt: at(48), UpdatedBy: "admin"},
	}, note("chats.put")))
	ds, err := s.AddDeliveries(ctx, []store.Delivery{
		{Village: v, Chat: "wecom-1", Event: "publish", Period: "2026-10", Title: "红榜", Text: "本月红榜", Image: "img-1", Status: store.DeliveryPending, CreatedAt: at(49)},
		{Village: v, Chat: "ding-1", Event: "publish", Period: "2026-10", Title: "红榜", Text: "本月红榜", Image: "img-1", Status: store.DeliveryPending, CreatedAt: at(49)},
	}, "img-1", []byte("\x89PNG fake poster"))
	must("add deliveries", err)
	_, err = s.UpdateDelivery(ctx, ds[0].ID, func(d *store.Delivery) error {
		d.Status, d.Attempts, d.DoneAt = store.DeliveryDelivered, 1, at(50)
		return nil
	})
	must("update delivery", err)

	_, err = s.UpdateAlertSettings(ctx, func(a *store.AlertSettings) error {
		a.Channels = []store.AlertChannel{{ID: "ops", Name: "运维群", Kind: "wecom", URL: "https://qyapi.weixin.qq.com/x", Secret: "s"}}
		a.Rules = []store.AlertRule{{Kind: "box_offline", Enabled: true, HoldDown: 10 * time.Minute, Urgent: true}}
		a.Quiet = &store.QuietHours{From: "22:00", To: "07:00", Zone: "Asia/Shanghai"}
		a.UpdatedAt, a.UpdatedBy = at(51), "admin"
		return nil
	})
	must("alert settings", err)
	inc := store.Incident{Key: "box_offline/village-2", Rule: "box_offline", BoxID: "village-2", Since: at(52), OpenedAt: at(62)}
	a, err := s.RecordAlert(ctx, store.Alert{Time: at(62), BoxID: "village-2", Rule: "box_offline", State: store.AlertOpened, IncidentKey: inc.Key,
		Title: "村广播离线", Text: "village-2 离线 10 分钟", Urgent: true,
		Deliveries: []store.AlertDelivery{{Channel: "ops", Status: store.AlertDeliveryPending}}}, &inc, "")
	must("record alert", err)
	_, err = s.RecordAlert(ctx, store.Alert{Time: at(63), State: store.AlertTest, Title: "测试", Text: "测试消息",
		Deliveries: []store.AlertDelivery{{Channel: "ops", Status: store.AlertDeliverySent, Attempts: 1, At: at(63)}}}, nil, "")
	must("record alert", err)
	_, err = s.UpdateAlert(ctx, a.Seq, func(a *store.Alert) error {
		a.Deliveries[0].Attempts, a.Deliveries[0].Error = 1, "timeout"
		return nil
	})
	must("update alert", err)
	must("put incident", s.PutIncident(ctx, store.Incident{Key: "disk_low/village-1", Rule: "disk_low", BoxID: "village-1", Since: at(64), Detail: "8% free"}))

	// village-2's latest health, kept in its box record.
	_, err = s.AppendEvents(ctx, "village-2", store.Batch{Floor: 4, Events: []store.Event{{Seq: 4, Time: at(65), Type: protocol.EventHealth,
		Data: json.RawMessage(`{"uptime_s":3600}`)}}, ReceivedAt: at(65)})
	must("append health", err)

	// Claim codes: one used (enrolling village-4), one revoked, one open.
	claim4 := newClaim("village-4", 1)
	claim4.Township = "t-xishan"
	cs, err := s.CreateClaims(ctx, []store.Claim{claim4, newClaim("village-5", 3), newClaim("village-6", 5)}, note("claim.create"))
	must("create claims", err)
	_, _, err = s.UseClaim(ctx, cs[0].Lookup, func(c *store.Claim, b *store.Box, _ bool) (store.AuditRecord, error) {
		c.UsedAt, c.UsedFrom = at(66), "10.0.0.4"
		b.Name, b.SecretHash, b.CreatedAt, b.Township = c.Name, c.SecretHash, at(66), c.Township
		return note("claim.use"), nil
	})
	must("use claim", err)
	_, err = s.RevokeClaim(ctx, cs[1].ID, func(c *store.Claim) (store.AuditRecord, error) {
		c.RevokedAt, c.RevokedBy = at(67), "admin"
		return note("claim.revoke"), nil
	})
	must("revoke claim", err)

	// A release and its rollout, one box updated.
	must("put release", s.PutRelease(ctx, store.Release{Version: "1.4.0", Notes: "修复", UploadedBy: "admin", UploadedAt: at(68),
		Binaries: []store.ReleaseBinary{{Arch: "arm64", SHA256: "ab12", Size: 1 << 20, Manifest: []byte(`{"signed":true}`)}}}))
	must("create rollout", s.CreateRollout(ctx, store.Rollout{ID: "r-1", Version: "1.4.0", Waves: []int{10, 100}, MaxFailures: 1,
		State: store.RolloutRunning, CreatedBy: "admin", CreatedAt: at(69), UpdatedAt: at(69),
		Boxes: []store.RolloutBox{{BoxID: "village-1", State: store.BoxSent, SentAt: at(69)}, {BoxID: "village-2", Wave: 1, State: store.BoxWaiting}}}))
	must("update rollout", s.UpdateRollout(ctx, "r-1", func(r *store.Rollout) error {
		r.Boxes[0].State, r.Boxes[0].DoneAt, r.UpdatedAt = store.BoxUpdated, at(70), at(70)
		return nil
	}))
}

func slicesOf(from, to uint64) []uint64 {
	out := make([]uint64, 0, to-from+1)
	for n := from; n <= to; n++ {
		out = append(out, n)
	}
	return out
}
