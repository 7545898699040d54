package cloud

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/dalaba/dalaba/internal/sdnotify"
)

// serviceManager tells systemd the service is up (READY=1), pings its
// watchdog while the store answers a ping, and says STOPPING=1 when ctx
// ends. With no manager listening it only waits for ctx.
func serviceManager(ctx context.Context, log *slog.Logger, version string, alive func(context.Context) error) error {
	n, err := sdnotify.FromEnv()
	if err != nil {
		log.Warn("the service manager's notify socket is unusable; running without it", "err", err)
	}
	if err := n.Notify(sdnotify.Ready, sdnotify.Status("serving "+version)); err != nil {
		log.Warn("telling the service manager the service is up", "err", err)
	}
	defer func() {
		if err := n.Notify(sdnotify.Stopping); err != nil {
			log.Warn("telling the service manager the service stops", "err", err)
		}
	}()
	for ctx.Err() == nil {
		err := n.Watch(ctx, alive)
		if errors.Is(err, sdnotify.ErrNotAlive) {
			// No ping until it answers again: if it stays stuck, the
			// service manager restarts the daemon.
			log.Error("the store does not answer; the watchdog is not pinged", "err", err)
		} else if err != nil {
			log.Warn("pinging the watchdog", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}
