package edge

import (
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/dalaba/dalaba/devices/speaker/httpspeaker"
	"github.com/dalaba/dalaba/devices/speaker/rtpspeaker"
	"github.com/dalaba/dalaba/devices/speaker/soundcard"
	"github.com/dalaba/dalaba/edge/config"
	"github.com/dalaba/dalaba/edge/playout"
	"github.com/dalaba/dalaba/protocol"
)

// drivers makes speaker drivers from the desired state. It owns what
// drivers share: the LAN clip server for play-URL speakers (made at start
// when configured) and the sound card (opened when a desired state first
// names it, so a box without one never probes ALSA).
type drivers struct {
	log  *slog.Logger
	clip *httpspeaker.Server // nil when broadcast.http_listen is empty

	mu   sync.Mutex
	card *soundcard.Card
}

func newDrivers(cfg config.Broadcast, log *slog.Logger) (*drivers, error) {
	d := &drivers{log: log}
	if cfg.HTTPListen == "" {
		return d, nil
	}
	adv := cfg.HTTPAdvertise
	if adv == "" {
		if h, _, err := net.SplitHostPort(cfg.HTTPListen); err == nil {
			adv = h
		}
	}
	var err error
	d.clip, err = httpspeaker.NewServer(httpspeaker.ServerConfig{Listen: cfg.HTTPListen, AdvertiseHost: adv, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("edge: clip server for network speakers: %w", err)
	}
	return d, nil
}

func (d *drivers) make(s protocol.Speaker) (playout.Driver, error) {
	log := d.log.With("speaker_id", s.ID)
	switch s.Driver {
	case protocol.DriverRTP:
		sp, err := rtpspeaker.New(rtpspeaker.Config{
			Addr: s.Addr, Codec: rtpspeaker.Codec(s.Codec), TTL: s.TTL, Interface: s.Interface, Logger: log,
		})
		if err != nil {
			return playout.Driver{}, err
		}
		return playout.Driver{Speaker: sp, Rate: rtpspeaker.Rate, Close: sp.Close}, nil
	case protocol.DriverHTTP:
		if d.clip == nil {
			return playout.Driver{}, fmt.Errorf("speaker %s: network speakers need broadcast.http_listen in the box's config", s.ID)
		}
		sp, err := httpspeaker.New(httpspeaker.Config{Server: d.clip, PlayURL: s.PlayURL, StopURL: s.StopURL, Logger: log})
		if err != nil {
			return playout.Driver{}, err
		}
		return playout.Driver{Speaker: sp, Rate: httpspeaker.DefaultRate, Close: sp.Close}, nil
	case protocol.DriverSoundcard:
		card, err := d.soundcard()
		if err != nil {
			return playout.Driver{}, err
		}
		sp, err := soundcard.New(soundcard.Config{Card: card, Logger: log})
		if err != nil {
			return playout.Driver{}, err
		}
		return playout.Driver{Speaker: sp, Rate: soundcard.DefaultRate}, nil
	}
	return playout.Driver{}, fmt.Errorf("speaker %s: unknown driver %q", s.ID, s.Driver)
}

// soundcard opens the card the first time; oto allows one per process.
func (d *drivers) soundcard() (*soundcard.Card, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.card == nil {
		c, err := soundcard.NewCard(soundcard.CardConfig{Logger: d.log})
		if err != nil {
			return nil, fmt.Errorf("sound card: %w", err)
		}
		d.card = c
	}
	return d.card, nil
}
