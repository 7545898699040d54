package lists

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/notify"
	"github.com/dalaba/dalaba/cloud/poster"
	"github.com/dalaba/dalaba/cloud/store"
)

// Group chats (网格户长微信群 and the like). A village's lists are posted
// to its chats when a round is published (after its notice, if any) and
// when an entry is revoked: the list's text as the public sees it and the
// poster as a phone-sized picture. Each post to each chat is a delivery
// kept in the store before it is tried, so one a restart interrupted is
// tried again; Run tries each with notify.Deliver's backoff and records
// every attempt, which the console shows per chat. Nothing here waits for
// a chat: a chat that fails never holds up the loudspeaker.

// ErrNoFont: the service has no font to draw the poster with (the
// configured one could not be read).
var ErrNoFont = errors.New("lists: no poster font")

// Events a chat is told of.
const (
	EventPublish = "publish"
	EventRevoke  = "revoke"
)

// ImagePath is where a posted picture is served, for the platforms that
// fetch it by URL (DingTalk, Feishu): the id is 128 random bits.
func ImagePath(id string) string { return "/p/" + id + ".png" }

// ChatConfig is how lists are posted.
type ChatConfig struct {
	// Backoff spaces a delivery's attempts; zero = notify.DefaultBackoff.
	Backoff notify.Backoff
	// PublicURL is the service's base URL as the platforms reach it, for
	// the picture's link; "" = the picture goes only where it can be
	// uploaded (WeCom, the webhook).
	PublicURL string
	// ImageLife is how long a posted picture stays served; 0 = 60 days.
	ImageLife time.Duration
	// Interval is how often Run looks for work; 0 = a minute.
	Interval time.Duration
}

func (c ChatConfig) withDefaults() ChatConfig {
	if c.Backoff.Attempts == 0 {
		c.Backoff = notify.DefaultBackoff()
	}
	if c.ImageLife == 0 {
		c.ImageLife = 60 * 24 * time.Hour
	}
	if c.Interval == 0 {
		c.Interval = time.Minute
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	return c
}

func (c ChatConfig) validate() error {
	var errs []error
	if c.Backoff.Attempts < 0 || c.Backoff.Attempts > 20 || c.Backoff.Initial < 0 || c.Backoff.Max < c.Backoff.Initial {
		errs = append(errs, fmt.Errorf("chats: backoff %+v: want 0 to 20 attempts, initial at most max", c.Backoff))
	}
	if c.ImageLife < 0 || c.Interval < 0 {
		errs = append(errs, errors.New("chats: negative image life or interval"))
	}
	return errors.Join(errs...)
}

// MaxChats bounds a village's chats.
const MaxChats = 20

// SecretMask is what a chat's secret reads back as; writing it back
// keeps the stored secret.
const SecretMask = "******"

// ChatView is a chat as the API shows and takes it.
type ChatView struct {
	ID     string      `json:"id"`
	Kind   notify.Kind `json:"kind"`
	URL    string      `json:"url"`
	Secret string      `json:"secret,omitempty"` // write-only: SecretMask when set
}

// Chats returns the village's chats, secrets masked.
func (s *Service) Chats(ctx context.Context, village string) ([]ChatView, error) {
	if _, err := s.village(ctx, village); err != nil {
		return nil, err
	}
	cs, err := s.st.ListChats(ctx, village)
	if err != nil {
		return nil, fmt.Errorf("lists: chats of %s: %w", village, err)
	}
	out := make([]ChatView, 0, len(cs))
	for _, c := range cs {
		v := ChatView{ID: c.ID, Kind: notify.Kind(c.Kind), URL: c.URL}
		if c.Secret != "" {
			v.Secret = SecretMask
		}
		out = append(out, v)
	}
	return out, nil
}

// PutChats replaces the village's chats. SMS is not a chat.
func (s *Service) PutChats(ctx context.Context, by Actor, village string, in []ChatView) ([]ChatView, error) {
	if err := by.may(auth.ActionManageChats); err != nil {
		return nil, err
	}
	old, err := s.st.ListChats(ctx, village)
	if err != nil {
		return nil, fmt.Errorf("lists: chats of %s: %w", village, err)
	}
	var errs []error
	if len(in) > MaxChats {
		errs = append(errs, fmt.Errorf("%w: chats: %d, at most %d", ErrInvalid, len(in), MaxChats))
	}
	now := s.now()
	seen := map[string]bool{}
	out := make([]store.Chat, 0, len(in))
	for i, c := range in {
		field := fmt.Sprintf("chats[%d]", i)
		if err := checkID(field+".id", c.ID); err != nil {
			errs = append(errs, err)
		} else if seen[c.ID] {
			errs = append(errs, fmt.Errorf("%w: %s.id: %q twice", ErrInvalid, field, c.ID))
		}
		seen[c.ID] = true
		if c.Secret == SecretMask {
			c.Secret = ""
			for _, o := range old {
				if o.ID == c.ID {
					c.Secret = o.Secret
				}
			}
		}
		ch := notify.Channel{Kind: c.Kind, URL: c.URL, Secret: c.Secret}
		if c.Kind == notify.KindSMS {
			errs = append(errs, fmt.Errorf("%w: %s.kind: sms is not a group chat", ErrInvalid, field))
		} else if err := ch.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %w", ErrInvalid, field, err))
		}
		out = append(out, store.Chat{Village: village, ID: c.ID, Kind: string(c.Kind), URL: c.URL, Secret: c.Secret, UpdatedAt: now, UpdatedBy: by.Name})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(out))
	for _, c := range out {
		ids = append(ids, string(c.Kind)+":"+c.ID)
	}
	a := store.AuditRecord{Time: now, Actor: by.Name, Action: "chats.put", Target: "chats", After: mustJSON(ids)}
	if err := s.st.PutChats(ctx, village, out, a); err != nil {
		return nil, fmt.Errorf("lists: put chats of %s: %w", village, err)
	}
	return s.Chats(ctx, village)
}

// DeliveryView is a post to a chat as the console shows it.
type DeliveryView struct {
	ID        uint64               `json:"id"`
	Chat      string               `json:"chat"`
	Event     string               `json:"event"`
	Period    string               `json:"period"`
	Title     string               `json:"title"`
	Status    store.DeliveryStatus `json:"status"`
	Attempts  int                  `json:"attempts"`
	LastError string               `json:"last_error,omitempty"`
	NextAt    time.Time            `json:"next_at,omitzero"`
	CreatedAt time.Time            `json:"created_at"`
	DoneAt    time.Time            `json:"done_at,omitzero"`
	Image     string               `json:"image,omitempty"` // its path
}

// Deliveries returns the village's latest posts, newest first.
func (s *Service) Deliveries(ctx context.Context, village string, limit int) ([]DeliveryView, error) {
	ds, err := s.st.ListDeliveries(ctx, village, "", limit)
	if err != nil {
		return nil, fmt.Errorf("lists: deliveries of %s: %w", village, err)
	}
	out := make([]DeliveryView, 0, len(ds))
	for _, d := range ds {
		v := DeliveryView{ID: d.ID, Chat: d.Chat, Event: d.Event, Period: d.Period, Title: d.Title, Status: d.Status, Attempts: d.Attempts,
			LastError: d.LastError, NextAt: d.NextAt, CreatedAt: d.CreatedAt, DoneAt: d.DoneAt}
		if d.Image != "" {
			v.Image = ImagePath(d.Image)
		}
		out = append(out, v)
	}
	return out, nil
}

// Image returns a posted picture by its id.
func (s *Service) Image(ctx context.Context, id string) ([]byte, error) {
	img, at, err := s.st.GetImage(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("lists: image: %w", err)
	}
	if s.now().Sub(at) > s.chats.ImageLife {
		return nil, fmt.Errorf("lists: image: %w", store.ErrNotFound)
	}
	return img, nil
}

// PosterData is a village's list as a poster shows it to the public.
func (s *Service) PosterData(lv ListView, township string) poster.Data {
	d := poster.Data{Township: township, Village: lv.VillageName, Period: PeriodText(lv.Period), Issued: s.now().In(s.loc), NoticeEnds: lv.NoticeEnds}
	if d.Village == "" {
		d.Village = lv.Village
	}
	for _, r := range lv.Red {
		d.Red = append(d.Red, poster.Entry{Name: r.Name, Household: r.HouseholdHead, Category: r.Category, Reason: r.Reason, Points: r.Points, Notice: r.Notice})
	}
	for _, r := range lv.Black {
		d.Black = append(d.Black, poster.Entry{Name: r.Name, Household: r.HouseholdHead, Category: r.Category, Reason: r.Reason, Points: r.Points, Notice: r.Notice})
	}
	return d
}

// PosterPNG draws village's list of period as the public sees it, at
// size (poster.SizeA4 or poster.SizePhone). ErrNoFont without a font.
func (s *Service) PosterPNG(ctx context.Context, village, period, size string) ([]byte, error) {
	if s.font == nil {
		return nil, ErrNoFont
	}
	lv, err := s.PublicList(ctx, village, period)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := poster.RenderPNG(&b, s.PosterData(lv, ""), s.font, size); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// chatText is a list as posted: one line per row, names as Privacy says.
func chatText(lv ListView, event string) (title, text string) {
	title = lv.VillageName + PeriodText(lv.Period) + "红黑榜"
	var b strings.Builder
	if event == EventRevoke {
		b.WriteString("榜单更新：有黑榜条目经整改复核后撤下。\n")
	}
	for _, part := range []struct {
		name string
		rows []Row
	}{{"红榜", lv.Red}, {"黑榜", lv.Black}} {
		n := 0
		for _, r := range part.rows {
			if r.Notice {
				continue
			}
			if n == 0 {
				b.WriteString(part.name + "：\n")
			}
			n++
			fmt.Fprintf(&b, "%d. %s（%s）%s\n", n, r.Name, r.Category, r.Reason)
		}
	}
	return title, strings.TrimSpace(b.String())
}

// post records a delivery of village's period to each of its chats and
// wakes Run. A failure here is logged, never returned: the publication
// it follows stands, and the loudspeaker is not held up.
func (s *Service) post(ctx context.Context, village, period, event string) {
	ctx = context.WithoutCancel(ctx)
	chats, err := s.st.ListChats(ctx, village)
	if err != nil || len(chats) == 0 {
		if err != nil {
			s.log.Error("group chats not posted", "box_id", village, "period", period, "err", err)
		}
		return
	}
	lv, err := s.PublicList(ctx, village, period)
	if err != nil {
		s.log.Error("group chats not posted", "box_id", village, "period", period, "err", err)
		return
	}
	title, text := chatText(lv, event)
	if text == "" {
		text = "本期榜单已全部撤下。"
	}
	var img []byte
	imgID := ""
	if s.font != nil {
		var b bytes.Buffer
		if err := poster.RenderPNG(&b, s.PosterData(lv, ""), s.font, poster.SizePhone); err != nil {
			s.log.Error("poster picture not drawn; posting the text alone", "box_id", village, "period", period, "err", err)
		} else {
			img = b.Bytes()
			id := make([]byte, 16)
			_, _ = rand.Read(id) // crypto/rand.Read never fails on Linux
			imgID = hex.EncodeToString(id)
		}
	}
	now := s.now()
	ds := make([]store.Delivery, 0, len(chats))
	for _, c := range chats {
		ds = append(ds, store.Delivery{Village: village, Chat: c.ID, Event: event, Period: period, Title: title, Text: text, Image: imgID,
			Status: store.DeliveryPending, NextAt: now, CreatedAt: now})
	}
	if _, err := s.st.AddDeliveries(ctx, ds, imgID, img); err != nil {
		s.log.Error("group chats not posted", "box_id", village, "period", period, "err", err)
		return
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run settles public notices, applies retention daily and delivers the
// posts to group chats until ctx ends; it returns when every delivery it
// started has stopped (a delivery cut short stays pending for the next
// start).
func (s *Service) Run(ctx context.Context) error {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		inflight = map[uint64]bool{}
		retained time.Time
	)
	defer wg.Wait()
	tick := time.NewTicker(s.chats.Interval)
	defer tick.Stop()
	for {
		if _, err := s.Settle(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("settling public notices", "err", err)
		}
		if now := s.now(); now.Sub(retained) >= 24*time.Hour {
			if _, _, err := s.Retain(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("retention of personal information failed; it is tried again tomorrow", "err", err)
			}
			retained = now
		}
		ds, err := s.st.ListDeliveries(ctx, "", store.DeliveryPending, 1000)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("reading pending chat posts", "err", err)
		}
		now := s.now()
		for _, d := range ds {
			mu.Lock()
			busy := inflight[d.ID]
			if !busy && !now.Before(d.NextAt) {
				inflight[d.ID] = true
			}
			mu.Unlock()
			if busy || now.Before(d.NextAt) {
				continue
			}
			wg.Go(func() {
				s.deliver(ctx, d)
				mu.Lock()
				delete(inflight, d.ID)
				mu.Unlock()
			})
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-s.kick:
		}
	}
}

// Deliver tries every pending post now, waiting for each (tests, and a
// service without Run).
func (s *Service) Deliver(ctx context.Context) error {
	ds, err := s.st.ListDeliveries(ctx, "", store.DeliveryPending, 1000)
	if err != nil {
		return fmt.Errorf("lists: deliveries: %w", err)
	}
	for _, d := range ds {
		s.deliver(ctx, d)
	}
	return nil
}

// deliver tries d with the rest of its attempts, recording each.
func (s *Service) deliver(ctx context.Context, d store.Delivery) {
	rec := context.WithoutCancel(ctx)
	give := func(why string) {
		if _, err := s.st.UpdateDelivery(rec, d.ID, func(x *store.Delivery) error {
			x.Status, x.LastError, x.DoneAt = store.DeliveryFailed, why, s.now()
			return nil
		}); err != nil {
			s.log.Error("recording a chat post", "delivery", d.ID, "err", err)
		}
	}
	chats, err := s.st.ListChats(ctx, d.Village)
	if err != nil {
		s.log.Warn("chat post waits: chats unreadable", "delivery", d.ID, "err", err)
		return
	}
	var ch notify.Channel
	found := false
	for _, c := range chats {
		if c.ID == d.Chat {
			ch, found = notify.Channel{Kind: notify.Kind(c.Kind), URL: c.URL, Secret: c.Secret}, true
		}
	}
	if !found {
		give("该群已从本村的群列表中删除")
		return
	}
	b := s.chats.Backoff
	left := b.Attempts - d.Attempts
	if left <= 0 {
		give(d.LastError)
		return
	}
	wait := b.Initial
	for range d.Attempts {
		wait = min(wait*2, b.Max)
	}
	b.Attempts, b.Initial = left, wait
	m := notify.Message{Title: d.Title, Text: d.Text}
	if d.Image != "" {
		if img, _, err := s.st.GetImage(ctx, d.Image); err == nil {
			m.Image = img
			if s.chats.PublicURL != "" {
				m.ImageURL = s.chats.PublicURL + ImagePath(d.Image)
			}
		}
	}
	out := notify.Deliver(ctx, s.sender, ch, m, b, s.sleep, func(n int, err error) {
		now := s.now()
		if _, uerr := s.st.UpdateDelivery(rec, d.ID, func(x *store.Delivery) error {
			x.Attempts++
			switch {
			case err == nil:
				x.Status, x.LastError, x.DoneAt = store.DeliveryDelivered, "", now
			case !notify.Retryable(err) || n == left:
				x.Status, x.LastError, x.DoneAt = store.DeliveryFailed, err.Error(), now
			default:
				x.LastError, x.NextAt = err.Error(), now.Add(wait)
				wait = min(wait*2, b.Max)
			}
			return nil
		}); uerr != nil {
			s.log.Error("recording a chat post", "delivery", d.ID, "err", uerr)
		}
	})
	if out.Err != nil {
		s.log.Warn("chat post failed", "box_id", d.Village, "chat", d.Chat, "delivery", d.ID, "attempts", out.Attempts, "err", out.Err)
	} else {
		s.log.Info("chat post delivered", "box_id", d.Village, "chat", d.Chat, "delivery", d.ID, "attempts", out.Attempts)
	}
}
