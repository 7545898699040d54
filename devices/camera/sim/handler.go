package sim

import (
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
)

// handler answers the RTSP requests: a stream per path (the main stream,
// maybe a sub stream), optional credentials. gortsplib calls it from its
// connection goroutines.
type handler struct {
	paths      []string
	user, pass string
	log        *slog.Logger

	// ready is closed when the stream first serves: a request that comes
	// in between the server's start and the stream's (a camera booting)
	// waits for it rather than being refused.
	ready     chan struct{}
	readyOnce sync.Once

	mu       sync.Mutex
	stopped  bool
	streams  map[string]*gortsplib.ServerStream // by path; nil while not serving: requests get 503
	readers  map[*gortsplib.ServerSession]struct{}
	refused  int
	sessions int
}

func (h *handler) setStreams(sts map[string]*gortsplib.ServerStream) {
	h.mu.Lock()
	h.streams = sts
	h.stopped = h.stopped || sts == nil
	h.mu.Unlock()
	if sts != nil {
		h.readyOnce.Do(func() { close(h.ready) })
	}
}

// readyWait bounds how long a request waits for a starting stream.
const readyWait = 2 * time.Second

func (h *handler) OnConnOpen(ctx *gortsplib.ServerHandlerOnConnOpenCtx) {
	h.log.Debug("camera: connection opened", "remote", ctx.Conn.NetConn().RemoteAddr().String())
}

func (h *handler) OnConnClose(ctx *gortsplib.ServerHandlerOnConnCloseCtx) {
	h.log.Debug("camera: connection closed", "remote", ctx.Conn.NetConn().RemoteAddr().String(), "err", ctx.Error)
}

func (h *handler) OnSessionOpen(*gortsplib.ServerHandlerOnSessionOpenCtx) {
	h.mu.Lock()
	h.sessions++
	h.mu.Unlock()
}

func (h *handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	h.mu.Lock()
	_, was := h.readers[ctx.Session]
	delete(h.readers, ctx.Session)
	h.mu.Unlock()
	if was {
		h.log.Info("camera: reader left", "err", ctx.Error)
	}
}

func (h *handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return h.lookup(ctx.Conn, ctx.Request, ctx.Path)
}

func (h *handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	// Readers are checked on SETUP too: a client may skip DESCRIBE.
	return h.lookup(ctx.Conn, ctx.Request, ctx.Path)
}

func (h *handler) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	h.mu.Lock()
	h.readers[ctx.Session] = struct{}{}
	n := len(h.readers)
	h.mu.Unlock()
	h.log.Info("camera: reader playing", "remote", ctx.Conn.NetConn().RemoteAddr().String(),
		"transport", transportName(ctx.Session), "readers", n)
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (h *handler) OnPause(ctx *gortsplib.ServerHandlerOnPauseCtx) (*base.Response, error) {
	h.mu.Lock()
	delete(h.readers, ctx.Session)
	h.mu.Unlock()
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnStreamWriteError is a reader too slow for the stream (its queue is
// full): it loses packets, as it would from a real camera.
func (h *handler) OnStreamWriteError(ctx *gortsplib.ServerHandlerOnStreamWriteErrorCtx) {
	h.log.Debug("camera: packet not sent to a reader", "err", ctx.Error)
}

// lookup checks credentials and path, and returns the stream.
func (h *handler) lookup(conn *gortsplib.ServerConn, req *base.Request, path string) (*base.Response, *gortsplib.ServerStream, error) {
	if h.user != "" && !conn.VerifyCredentials(req, h.user, h.pass) {
		// The first try of a client carries no credentials and is
		// answered with the challenge; only a wrong answer is counted.
		if _, tried := req.Header["Authorization"]; tried {
			h.mu.Lock()
			h.refused++
			h.mu.Unlock()
			h.log.Info("camera: wrong credentials", "remote", conn.NetConn().RemoteAddr().String())
		}
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	path = strings.Trim(path, "/")
	if !slices.Contains(h.paths, path) {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	h.mu.Lock()
	st, stopped := h.streams[path], h.stopped
	h.mu.Unlock()
	if st == nil && !stopped {
		select {
		case <-h.ready:
		case <-time.After(readyWait):
		}
		h.mu.Lock()
		st = h.streams[path]
		h.mu.Unlock()
	}
	if st == nil {
		return &base.Response{StatusCode: base.StatusServiceUnavailable}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, st, nil
}

func transportName(s *gortsplib.ServerSession) string {
	t := s.Transport()
	if t == nil {
		return ""
	}
	return t.Protocol.String()
}
