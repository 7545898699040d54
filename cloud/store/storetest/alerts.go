package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
)

func testAlerts(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("settings start empty and keep every field", func(t *testing.T) {
		s := fresh(t, open)
		got, err := s.GetAlertSettings(t.Context())
		if err != nil || len(got.Channels) != 0 || len(got.Rules) != 0 || got.Quiet != nil {
			t.Fatalf("fresh settings %+v, %v", got, err)
		}
		want := store.AlertSettings{
			Channels: []store.AlertChannel{
				{ID: "office", Name: "镇办公室", Kind: "dingtalk", URL: "https://oapi.dingtalk.com/robot/send?access_token=x", Secret: "SEC1"},
				{ID: "sms", Name: "值班手机", Kind: "sms", URL: "https://sms.example/send", Phones: []string{"13800138000"}, Disabled: true},
			},
			Rules: []store.AlertRule{
				{Kind: "box_offline", Enabled: true, HoldDown: 10 * time.Minute, Urgent: true, Channels: []string{"office"}},
				{Kind: "disk_low", Enabled: true, HoldDown: time.Hour, Threshold: 10},
			},
			Quiet:     &store.QuietHours{From: "22:00", To: "07:00", Zone: "Asia/Shanghai"},
			UpdatedAt: t0, UpdatedBy: "admin",
		}
		back, err := s.UpdateAlertSettings(t.Context(), func(a *store.AlertSettings) error { *a = want; return nil })
		if err != nil {
			t.Fatal(err)
		}
		got, err = s.GetAlertSettings(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		got.UpdatedAt, back.UpdatedAt = got.UpdatedAt.UTC(), back.UpdatedAt.UTC()
		if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(back, want) {
			t.Errorf("settings\n got %+v\nback %+v\nwant %+v", got, back, want)
		}
	})
	t.Run("an update whose fn fails writes nothing", func(t *testing.T) {
		s := fresh(t, open)
		boom := errors.New("boom")
		_, err := s.UpdateAlertSettings(t.Context(), func(a *store.AlertSettings) error {
			a.Rules = []store.AlertRule{{Kind: "box_offline"}}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want boom", err)
		}
		if got, _ := s.GetAlertSettings(t.Context()); len(got.Rules) != 0 {
			t.Errorf("written anyway: %+v", got)
		}
	})
	t.Run("an alert and its incident are recorded together", func(t *testing.T) {
		s := fresh(t, open)
		held := store.Incident{Key: "box_offline/v1", Rule: "box_offline", BoxID: "v1", Since: t0}
		if err := s.PutIncident(t.Context(), held); err != nil {
			t.Fatal(err)
		}
		open := held
		open.OpenedAt = t0.Add(10 * time.Minute)
		a, err := s.RecordAlert(t.Context(), store.Alert{Time: open.OpenedAt, BoxID: "v1", Rule: "box_offline", State: store.AlertOpened,
			IncidentKey: held.Key, Title: "离线", Text: "东山村广播盒已离线",
			Deliveries: []store.AlertDelivery{{Channel: "office", Status: store.AlertDeliveryPending}, {Channel: "sms", Status: store.AlertDeliveryHeld, NotBefore: t0.Add(time.Hour)}}},
			&open, "")
		if err != nil || a.Seq != 1 {
			t.Fatalf("RecordAlert: seq %d, %v", a.Seq, err)
		}
		incs, err := s.ListIncidents(t.Context())
		if err != nil || len(incs) != 1 || !incs[0].OpenedAt.Equal(open.OpenedAt) {
			t.Fatalf("incidents %+v, %v", incs, err)
		}
		if p, _ := s.PendingAlerts(t.Context()); len(p) != 1 || p[0].Seq != 1 || len(p[0].Deliveries) != 2 {
			t.Fatalf("pending %+v", p)
		}
		// Delivered: no longer pending.
		if _, err := s.UpdateAlert(t.Context(), 1, func(a *store.Alert) error {
			for i := range a.Deliveries {
				a.Deliveries[i].Status, a.Deliveries[i].Attempts = store.AlertDeliverySent, 1
			}
			a.Seq = 99 // not changeable
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if p, _ := s.PendingAlerts(t.Context()); len(p) != 0 {
			t.Errorf("still pending after delivery: %+v", p)
		}
		r, err := s.RecordAlert(t.Context(), store.Alert{Time: t0.Add(20 * time.Minute), BoxID: "v1", Rule: "box_offline", State: store.AlertResolved,
			IncidentKey: held.Key, Title: "恢复", Text: "东山村广播盒已恢复在线"}, nil, held.Key)
		if err != nil || r.Seq != 2 {
			t.Fatalf("resolved: %d %v", r.Seq, err)
		}
		if incs, _ := s.ListIncidents(t.Context()); len(incs) != 0 {
			t.Errorf("the incident outlived its recovery: %+v", incs)
		}
		got, err := s.ListAlerts(t.Context(), store.AlertFilter{Limit: 10})
		if err != nil || len(got) != 2 || got[0].Seq != 2 || got[1].Seq != 1 || got[1].Deliveries[0].Status != store.AlertDeliverySent {
			t.Errorf("alerts %+v, %v", got, err)
		}
		if _, err := s.UpdateAlert(t.Context(), 7, func(*store.Alert) error { return nil }); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update of alert 7: %v, want ErrNotFound", err)
		}
		if err := s.DeleteIncident(t.Context(), "none"); err != nil {
			t.Errorf("deleting no incident: %v", err)
		}
	})
	t.Run("list pages back by seq, box and time", func(t *testing.T) {
		s := fresh(t, open)
		for i := range 6 {
			box := []string{"v1", "v2"}[i%2]
			if _, err := s.RecordAlert(t.Context(), store.Alert{Time: t0.Add(time.Duration(i) * time.Minute), BoxID: box, State: store.AlertNotice, Title: "x"}, nil, ""); err != nil {
				t.Fatal(err)
			}
		}
		seqs := func(f store.AlertFilter) []uint64 {
			t.Helper()
			as, err := s.ListAlerts(t.Context(), f)
			if err != nil {
				t.Fatal(err)
			}
			var out []uint64
			for _, a := range as {
				out = append(out, a.Seq)
			}
			return out
		}
		for _, c := range []struct {
			name string
			f    store.AlertFilter
			want []uint64
		}{
			{"newest first", store.AlertFilter{Limit: 3}, []uint64{6, 5, 4}},
			{"before a seq", store.AlertFilter{Limit: 3, Before: 4}, []uint64{3, 2, 1}},
			{"before past the end", store.AlertFilter{Limit: 2, Before: 100}, []uint64{6, 5}},
			{"one box", store.AlertFilter{Limit: 10, BoxID: "v1"}, []uint64{5, 3, 1}},
			{"a time window", store.AlertFilter{Limit: 10, From: t0.Add(2 * time.Minute), To: t0.Add(4 * time.Minute)}, []uint64{4, 3}},
		} {
			if got := seqs(c.f); !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s: %v, want %v", c.name, got, c.want)
			}
		}
		if _, err := s.ListAlerts(t.Context(), store.AlertFilter{}); !errors.Is(err, store.ErrBadFilter) {
			t.Errorf("limit 0: %v, want ErrBadFilter", err)
		}
	})
}
