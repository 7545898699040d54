package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
)

// testUpdates: releases are kept whole and once per version; rollouts are
// changed in one piece, and a change that fails writes nothing.
func testUpdates(t *testing.T, open func(t *testing.T) store.Store) {
	s := fresh(t, open)
	ctx := t.Context()
	r1 := store.Release{Version: "1.2.0", Notes: "修复定时广播 / fixes", UploadedBy: "admin", UploadedAt: t0,
		Binaries: []store.ReleaseBinary{{Arch: "amd64", SHA256: "aa", Size: 10, Manifest: []byte(`{"v":1}`)}, {Arch: "armhf", SHA256: "bb", Size: 11, Manifest: []byte("m")}}}
	r2 := store.Release{Version: "1.3.0", UploadedBy: "admin", UploadedAt: t0.Add(time.Hour),
		Binaries: []store.ReleaseBinary{{Arch: "arm64", SHA256: "cc", Size: 12, Manifest: []byte("n")}}}
	for _, r := range []store.Release{r1, r2} {
		if err := s.PutRelease(ctx, r); err != nil {
			t.Fatalf("PutRelease %s: %v", r.Version, err)
		}
	}
	if err := s.PutRelease(ctx, store.Release{Version: "1.2.0", UploadedAt: t0}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("PutRelease of a taken version: %v, want ErrExists", err)
	}
	got, err := s.GetRelease(ctx, "1.2.0")
	if err != nil || !reflect.DeepEqual(got, r1) {
		t.Fatalf("GetRelease = %+v, %v; want %+v", got, err, r1)
	}
	if b, ok := got.Binary("armhf"); !ok || b.SHA256 != "bb" {
		t.Fatalf("Binary(armhf) = %+v, %v", b, ok)
	}
	if _, err := s.GetRelease(ctx, "9.9"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetRelease of an unknown version: %v", err)
	}
	all, err := s.ListReleases(ctx)
	if err != nil || len(all) != 2 || all[0].Version != "1.3.0" || all[1].Version != "1.2.0" {
		t.Fatalf("ListReleases = %+v, %v; want newest first", all, err)
	}

	ro := store.Rollout{ID: "r-1", Version: "1.3.0", Waves: []int{10, 50, 100}, MaxFailures: 1, State: store.RolloutRunning,
		Boxes:     []store.RolloutBox{{BoxID: "village-1", State: store.BoxWaiting}, {BoxID: "village-2", Wave: 1, State: store.BoxWaiting}},
		CreatedBy: "admin", CreatedAt: t0, UpdatedAt: t0}
	if err := s.CreateRollout(ctx, ro); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRollout(ctx, ro); !errors.Is(err, store.ErrExists) {
		t.Fatalf("CreateRollout twice: %v, want ErrExists", err)
	}
	if err := s.CreateRollout(ctx, store.Rollout{ID: "r-2", Version: "1.2.0", Waves: []int{100}, State: store.RolloutDone, CreatedAt: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	err = s.UpdateRollout(ctx, "r-1", func(r *store.Rollout) error {
		r.ID = "other"
		r.Boxes[0].State, r.Boxes[0].SentAt, r.Boxes[0].Tries = store.BoxSent, t0.Add(time.Second), 1
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := s.UpdateRollout(ctx, "r-1", func(r *store.Rollout) error { r.State = store.RolloutCancelled; return boom }); !errors.Is(err, boom) {
		t.Fatalf("UpdateRollout with a failing fn: %v", err)
	}
	if err := s.UpdateRollout(ctx, "nope", func(*store.Rollout) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateRollout of an unknown id: %v", err)
	}
	g, err := s.GetRollout(ctx, "r-1")
	want := ro
	want.Boxes = []store.RolloutBox{{BoxID: "village-1", State: store.BoxSent, SentAt: t0.Add(time.Second), Tries: 1}, ro.Boxes[1]}
	if err != nil || !reflect.DeepEqual(g, want) {
		t.Fatalf("GetRollout = %+v, %v; want %+v", g, err, want)
	}
	list, err := s.ListRollouts(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "r-2" {
		t.Fatalf("ListRollouts = %+v, %v; want newest first", list, err)
	}
}
