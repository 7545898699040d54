package media

import (
	"sync"
	"time"
)

// GrantTTL is how long a play command's clips stay downloadable by its box.
// A command lives at most protocol.MaxCommandLifetime (15 min); a day
// covers a box that retries a cut download long after.
const GrantTTL = 24 * time.Hour

// grants are the clips play commands gave boxes outside their plans, in
// memory: box → sha256 → until. Memory is enough because a grant only has
// to outlive the download of a command that is itself gone within 15
// minutes; a restart loses grants of commands already played or expired.
// Replicas behind a load balancer would each need the grant: that is the
// day to move them into the store.
type grants struct {
	mu sync.Mutex
	m  map[string]map[string]time.Time
}

// Grant lets box download shas until GrantTTL from now.
func (l *Library) Grant(box string, shas []string) {
	now := l.now()
	g := &l.grants
	g.mu.Lock()
	defer g.mu.Unlock()
	// Expired grants go when their box is granted again, and every box's
	// when the map has grown; play commands are few, so this stays small.
	if len(g.m) > 1000 {
		for b, m := range g.m {
			prune(m, now)
			if len(m) == 0 {
				delete(g.m, b)
			}
		}
	}
	m := g.m[box]
	if m == nil {
		m = map[string]time.Time{}
		g.m[box] = m
	}
	prune(m, now)
	for _, s := range shas {
		m[s] = now.Add(GrantTTL)
	}
}

func prune(m map[string]time.Time, now time.Time) {
	for s, until := range m {
		if !now.Before(until) {
			delete(m, s)
		}
	}
}

func (l *Library) granted(box, sha string) bool {
	g := &l.grants
	g.mu.Lock()
	defer g.mu.Unlock()
	until, ok := g.m[box][sha]
	return ok && l.now().Before(until)
}
