package speaker

import (
	"sync"
	"testing"
)

func TestLevel(t *testing.T) {
	for _, c := range []struct{ start, want int }{{100, 100}, {0, 0}, {37, 37}, {-5, 0}, {250, 100}} {
		if got := NewLevel(c.start).Get(); got != c.want {
			t.Errorf("NewLevel(%d) is at %d, want %d", c.start, got, c.want)
		}
	}
	l := NewLevel(100)
	for _, p := range []int{0, 1, 50, 100} {
		if err := l.Set(p); err != nil {
			t.Errorf("Set(%d): %v", p, err)
		}
		if got := l.Get(); got != p {
			t.Errorf("after Set(%d) the level is %d", p, got)
		}
	}
	for p, want := range map[int]string{-1: "volume -1: 0-100", 101: "volume 101: 0-100"} {
		err := l.Set(p)
		if err == nil || err.Error() != want {
			t.Errorf("Set(%d) = %v, want %q", p, err, want)
		}
		if got := l.Get(); got != 100 {
			t.Errorf("a refused Set(%d) changed the level to %d", p, got)
		}
	}
}

// A level is set by the box's control path while plays read it; the race
// detector checks that this is safe.
func TestLevelConcurrent(t *testing.T) {
	l := NewLevel(100)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for p := range 101 {
				if err := l.Set((p + i) % 101); err != nil {
					t.Error(err)
				}
				if g := l.Get(); g < 0 || g > 100 {
					t.Errorf("level %d", g)
				}
			}
		})
	}
	wg.Wait()
}
