package outbox

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dalaba/dalaba/edge/clock"
	"github.com/dalaba/dalaba/edge/store"
	"github.com/dalaba/dalaba/protocol"
)

type rig struct {
	st   *store.Store
	o    *Outbox
	stop func()
}

func open(t testing.TB, path string, cfg Config) *rig {
	t.Helper()
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := New(st.DB(), cfg, Deps{Clock: clock.Real()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- o.Run(ctx) }()
	r := &rig{st: st, o: o}
	stopped := false
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-done
		st.Close()
	}
	t.Cleanup(r.stop)
	return r
}

func (r *rig) append(t testing.TB, typ string, p protocol.Priority, data string) uint64 {
	t.Helper()
	seq, err := r.o.Append(context.Background(), Entry{Type: typ, Priority: p, Data: []byte(data)})
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func TestAppendReadAckReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	r := open(t, path, Config{})
	for i := 1; i <= 10; i++ {
		if seq := r.append(t, "t", protocol.PriorityInfo, `{"i":`+strconv.Itoa(i)+`}`); seq != uint64(i) {
			t.Fatalf("seq %d, want %d", seq, i)
		}
	}
	b, err := r.o.Read(3, 4, 1<<20)
	if evs := b.Events; err != nil || b.Floor != 1 || len(evs) != 4 || evs[0].Seq != 4 || evs[3].Seq != 7 || string(evs[0].Data) != `{"i":4}` {
		t.Fatalf("read: %v floor %d %+v", err, b.Floor, evs)
	}
	if b.Epoch != r.o.Epoch() || protocol.ValidateEpoch(b.Epoch) != nil {
		t.Fatalf("read epoch %q, queue's %q", b.Epoch, r.o.Epoch())
	}
	if b, _ := r.o.Read(0, 100, 1); len(b.Events) != 1 {
		t.Fatalf("maxBytes smaller than one event must still return one, got %d", len(b.Events))
	}
	if n, err := r.o.Ack(b.Epoch, 1, 5); err != nil || n != 5 {
		t.Fatalf("ack 5: %d %v", n, err)
	}
	if n, _ := r.o.Ack(b.Epoch, 1, 5); n != 0 {
		t.Fatalf("second ack deleted %d", n)
	}
	if s := r.o.Stats(); s.Backlog != 5 || s.FirstSeq != 6 || s.LastSeq != 10 {
		t.Fatalf("stats %+v", s)
	}
	bytesBefore := r.o.Stats().Bytes
	r.stop()

	r2 := open(t, path, Config{})
	if s := r2.o.Stats(); s.Backlog != 5 || s.FirstSeq != 6 || s.Bytes != bytesBefore {
		t.Fatalf("after reopen %+v (bytes before %d)", s, bytesBefore)
	}
	if seq := r2.append(t, "t", 1, ""); seq != 11 {
		t.Fatalf("seq after reopen %d, want 11", seq)
	}
	if r2.o.Epoch() != b.Epoch {
		t.Fatalf("the epoch changed across a reopen: %s, was %s", r2.o.Epoch(), b.Epoch)
	}
	if _, err := r2.o.Ack(b.Epoch, 6, 11); err != nil {
		t.Fatal(err)
	}
	if b, _ := r2.o.Read(0, 10, 1<<20); b.Floor != 12 {
		t.Fatalf("floor of an empty outbox %d, want the next seq 12", b.Floor)
	}
	r2.stop()
	r3 := open(t, path, Config{})
	if seq := r3.append(t, "t", 1, ""); seq != 12 {
		t.Fatalf("a seq was reused after every event was acked: %d", seq)
	}
}

func TestBadInputWritesNothing(t *testing.T) {
	r := open(t, filepath.Join(t.TempDir(), "edge.db"), Config{})
	cases := []Entry{
		{Type: "", Priority: 1},
		{Type: strings.Repeat("x", protocol.MaxEventTypeLen+1), Priority: 1},
		{Type: "t", Priority: 4},
		{Type: "t", Priority: -1},
		{Type: "t", Priority: 1, Data: []byte("{nope")},
		{Type: "t", Priority: 1, Data: []byte(`"` + strings.Repeat("x", protocol.MaxEventDataLen) + `"`)},
	}
	for i, e := range cases {
		if _, err := r.o.Append(t.Context(), e); err == nil {
			t.Errorf("case %d accepted", i)
		}
	}
	if s := r.o.Stats(); s.Backlog != 0 {
		t.Fatalf("bad input was written: %+v", s)
	}
	if seq := r.append(t, "ok", 1, ""); seq != 1 {
		t.Fatalf("a refused append consumed a seq: next is %d", seq)
	}
}

func TestConcurrentProducersEachSeqOnce(t *testing.T) {
	r := open(t, filepath.Join(t.TempDir(), "edge.db"), Config{})
	const producers, each = 16, 200
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				seq := r.append(t, "c", protocol.PriorityInfo, "")
				mu.Lock()
				if seen[seq] {
					t.Errorf("seq %d handed out twice", seq)
				}
				seen[seq] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	b, _ := r.o.Read(0, producers*each+1, 1<<30)
	evs := b.Events
	if len(evs) != producers*each || len(seen) != producers*each {
		t.Fatalf("%d stored, %d seqs, want %d", len(evs), len(seen), producers*each)
	}
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Fatalf("gap: position %d holds seq %d", i, e.Seq)
		}
	}
}

func TestCapDropsLowestPriorityOldestFirst(t *testing.T) {
	r := open(t, filepath.Join(t.TempDir(), "edge.db"), Config{MaxBytes: 64 << 10, MaxCommit: 1})
	pad := `{"p":"` + strings.Repeat("x", 900) + `"}`
	var critical []uint64
	for i := 0; i < 100; i++ {
		p := protocol.Priority(i % 4)
		seq := r.append(t, "fill", p, pad)
		if p == protocol.PriorityCritical {
			critical = append(critical, seq)
		}
	}
	s := r.o.Stats()
	if s.Bytes > 64<<10 {
		t.Fatalf("over the cap after drops: %+v", s)
	}
	b, _ := r.o.Read(0, 1000, 1<<30)
	evs := b.Events
	present := map[uint64]protocol.Event{}
	var dropped uint64
	var drops int
	for _, e := range evs {
		present[e.Seq] = e
		if e.Type == protocol.EventOutboxDropped {
			drops++
			var d protocol.Dropped
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatal(err)
			}
			dropped += d.Count
			if e.Priority != protocol.PriorityCritical || d.Count == 0 {
				t.Errorf("drop record %+v", e)
			}
		}
	}
	if drops == 0 {
		t.Fatal("no drop was recorded")
	}
	fills := 0
	for _, e := range evs {
		if e.Type == "fill" {
			fills++
		}
	}
	if uint64(fills)+dropped != 100 {
		t.Errorf("%d fills kept + %d recorded as dropped != 100 appended", fills, dropped)
	}
	for _, seq := range critical {
		if _, ok := present[seq]; !ok {
			t.Errorf("critical event %d dropped while lower priorities remained", seq)
		}
	}
	// Whatever of priority 0 is kept must be newer than every dropped one.
	for _, e := range evs {
		if e.Type == "fill" && e.Priority == protocol.PriorityDebug && e.Seq < 90 {
			t.Errorf("old debug event %d kept while others were dropped", e.Seq)
		}
	}
}

// TestHelperProcess is the child of TestCrashKeepsEveryAcknowledgedEvent.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv("OUTBOX_CRASH_FILE")
	if path == "" {
		t.Skip("only runs as the crash test's child")
	}
	st, err := store.Open(path, store.Options{Timeout: 10 * time.Second})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	o, err := New(st.DB(), Config{}, Deps{Clock: clock.Real()})
	if err != nil {
		fmt.Println("new:", err)
		os.Exit(2)
	}
	go o.Run(context.Background())
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				seq, err := o.Append(context.Background(), Entry{Type: "crash", Priority: 1, Data: []byte(`{"k":1}`)})
				if err != nil {
					return
				}
				mu.Lock()
				fmt.Fprintln(out, seq)
				out.Flush()
				mu.Unlock()
				if seq%50 == 0 {
					_, _ = o.Ack(o.Epoch(), 1, seq-25) // deletes while appending; a failure shows as events kept
				}
			}
		}()
	}
	wg.Wait()
}

func TestCrashKeepsEveryAcknowledgedEvent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	printed := map[uint64]bool{}
	var acked uint64
	for round := 0; round < 20; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), "OUTBOX_CRASH_FILE="+path)
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// The kill comes at a random moment once the child is appending:
		// under load a child can take longer to start than the window.
		var kill <-chan time.Time
		started := false
		giveUp := time.After(30 * time.Second)
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				if seq, err := strconv.ParseUint(l, 10, 64); err == nil {
					printed[seq] = true
					if !started {
						started = true
						kill = time.After(time.Duration(30+rand.IntN(120)) * time.Millisecond)
					}
				}
			case <-giveUp:
				cmd.Process.Signal(syscall.SIGKILL)
				giveUp = nil
			case <-kill:
				cmd.Process.Signal(syscall.SIGKILL)
				kill = nil
			}
		}
		cmd.Wait()

		st, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		if err := st.Check(); err != nil {
			t.Fatalf("round %d: check: %v", round, err)
		}
		o, err := New(st.DB(), Config{}, Deps{Clock: clock.Real()})
		if err != nil {
			t.Fatal(err)
		}
		b, err := o.Read(0, 1<<30, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		evs := b.Events
		acked = max(acked, b.Floor-1)
		have := map[uint64]bool{}
		for i, e := range evs {
			if i > 0 && e.Seq <= evs[i-1].Seq {
				t.Fatalf("round %d: seqs not increasing", round)
			}
			have[e.Seq] = true
		}
		for seq := range printed {
			if seq > acked && !have[seq] {
				t.Fatalf("round %d: seq %d was acknowledged to its producer and is gone", round, seq)
			}
		}
		st.Close()
	}
	if len(printed) == 0 {
		t.Fatal("the child never appended anything")
	}
	t.Logf("%d appends acknowledged across 20 SIGKILLs, none lost", len(printed))
}
