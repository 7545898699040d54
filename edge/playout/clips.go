package playout

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/protocol"
)

// clipKey names one clip decoded at one rate.
type clipKey struct {
	sha  string
	rate int
}

func (k clipKey) String() string { return fmt.Sprintf("%s@%d", k.sha, k.rate) }

// extraClips is how many clips outside the schedules (play-now ones) stay
// decoded, so an emergency repeated a minute later starts at once.
const extraClips = 8

// clips keeps decoded clips, mono at the rates their items play at: the
// ones the schedules need, and the few latest others.
type clips struct {
	media Media
	mu    sync.Mutex
	pcm   map[clipKey]audio.PCM
	used  map[clipKey]uint64 // last use, by tick
	tick  uint64
	want  map[clipKey]bool
}

func newClips(m Media) *clips {
	return &clips{media: m, pcm: map[clipKey]audio.PCM{}, used: map[clipKey]uint64{}, want: map[clipKey]bool{}}
}

// get returns a clip if it is decoded already.
func (c *clips) get(k clipKey) (audio.PCM, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.pcm[k]
	if ok {
		c.tick++
		c.used[k] = c.tick
	}
	return p, ok
}

// has reports whether a clip is decoded already.
func (c *clips) has(k clipKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.pcm[k]
	return ok
}

// load fetches (downloading if needed), decodes and resamples a clip.
func (c *clips) load(ctx context.Context, k clipKey) (audio.PCM, error) {
	if p, ok := c.get(k); ok {
		return p, nil
	}
	path, err := c.media.Fetch(ctx, k.sha)
	if err != nil {
		return audio.PCM{}, fmt.Errorf("fetching %s: %w", k.sha, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return audio.PCM{}, fmt.Errorf("reading %s: %w", k.sha, err)
	}
	p, err := audio.Decode(b, audio.Limits{MaxBytes: protocol.MaxMediaBytes})
	if err != nil {
		return audio.PCM{}, fmt.Errorf("decoding %s: %w", k.sha, err)
	}
	p, err = audio.Convert(p, k.rate, 1)
	if err != nil {
		return audio.PCM{}, fmt.Errorf("converting %s to %d Hz: %w", k.sha, k.rate, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pcm[k] = p
	c.tick++
	c.used[k] = c.tick
	c.trim()
	return p, nil
}

// wanted replaces the set the schedules need and returns the ones not
// decoded yet.
func (c *clips) wanted(ks map[clipKey]bool) []clipKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.want = ks
	c.trim()
	var missing []clipKey
	for k := range ks {
		if _, ok := c.pcm[k]; !ok {
			missing = append(missing, k)
		}
	}
	return missing
}

// forget drops every rendering of sha (a clip that left the desired
// state, perhaps revoked).
func (c *clips) forget(sha string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.pcm {
		if k.sha == sha {
			delete(c.pcm, k)
			delete(c.used, k)
		}
	}
}

// trim keeps the wanted clips and the extraClips latest others.
func (c *clips) trim() {
	var extra []clipKey
	for k := range c.pcm {
		if !c.want[k] {
			extra = append(extra, k)
		}
	}
	for len(extra) > extraClips {
		oldest := 0
		for i, k := range extra {
			if c.used[k] < c.used[extra[oldest]] {
				oldest = i
			}
		}
		delete(c.pcm, extra[oldest])
		delete(c.used, extra[oldest])
		extra = append(extra[:oldest], extra[oldest+1:]...)
	}
}

// bytes is the memory the decoded clips hold.
func (c *clips) bytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, p := range c.pcm {
		n += 2 * len(p.Samples)
	}
	return n
}

// decoded counts the clips held decoded.
func (c *clips) decoded() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pcm)
}
