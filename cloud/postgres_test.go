package cloud

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/dalaba/dalaba/cloud/config"
	"github.com/dalaba/dalaba/cloud/store/pgstore"
	"github.com/dalaba/dalaba/cloud/store/pgstore/pgtest"
	"github.com/dalaba/dalaba/protocol"
)

// With store.kind postgres the service keeps everything in the database:
// the first admin, a box registered over the API and the events it
// uploads (acked once stored) are there, and no bbolt file is made.
func TestServesOnPostgres(t *testing.T) {
	dsn := pgtest.New(t).Fresh(t)
	dir := t.TempDir()
	r := startCloud(t, dir, func(c *config.Config) { c.Store = config.Store{Kind: config.StorePostgres, DSN: dsn} })
	ec := r.addBox(t, "village-1")
	fb := connectBox(t, ec, ec.Broker.URL, true)
	fb.publish(t, protocol.KindEvents, false, batch(t, "village-1", 1, 1, 2, 3))
	waitFor(t, "ack of seq 3", func() bool { return fb.lastAck() == 3 })

	if _, err := os.Stat(filepath.Join(dir, storeFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a bbolt file was made beside a PostgreSQL store: %v", err)
	}
	st, err := pgstore.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.GetUser(t.Context(), "admin"); err != nil {
		t.Errorf("the first admin is not in the database: %v", err)
	}
	if b, err := st.GetBox(t.Context(), "village-1"); err != nil || b.Name != "测试村" || b.DesiredRev == 0 {
		t.Errorf("the registered box in the database: %+v, %v; want it with its signed desired state", b, err)
	}
	if n, err := st.CountEvents(t.Context(), "village-1"); err != nil || n != 3 {
		t.Errorf("events in the database: %d, %v; want the 3 acked", n, err)
	}
}
