package relay

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
)

// handler answers the box's RTSP readers. gortsplib calls it from its
// connection and session goroutines; a DESCRIBE or SETUP that waits for
// a camera blocks only its own connection.
type handler struct{ r *Relay }

// viewer is an RTSP session admitted as a reader (its user data).
type viewer struct {
	src    *source
	stream *gortsplib.ServerStream
	remote string
	from   time.Time // PLAY; zero if it never played
}

func (h *handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res, err := h.authorize(ctx.Conn, ctx.Request); res != nil {
		return res, nil, err
	}
	src, res := h.find(ctx.Path)
	if res != nil {
		return res, nil, nil
	}
	// Refuse at once what SETUP would refuse, before pulling the camera.
	if err := h.r.room(src); err != nil {
		return refuse(err), nil, nil
	}
	st, _, err := src.await(context.Background(), h.r.cfg.DescribeWait)
	if err != nil {
		h.r.log.Info("reader refused", "camera_id", src.cam.ID, "remote", remote(ctx.Conn), "err", err)
		return refuse(err), nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, st, nil
}

func (h *handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res, err := h.authorize(ctx.Conn, ctx.Request); res != nil {
		return res, nil, err
	}
	src, res := h.find(ctx.Path)
	if res != nil {
		return res, nil, nil
	}
	if v, ok := ctx.Session.UserData().(*viewer); ok {
		if v.src != src {
			return &base.Response{StatusCode: base.StatusBadRequest, StatusMessage: "one camera per session"}, nil, nil
		}
		return &base.Response{StatusCode: base.StatusOK}, v.stream, nil
	}
	if err := src.admit(); err != nil {
		h.r.log.Info("reader refused", "camera_id", src.cam.ID, "remote", remote(ctx.Conn), "err", err)
		return refuse(err), nil, nil
	}
	st, _, err := src.await(context.Background(), h.r.cfg.DescribeWait)
	if err != nil {
		src.release()
		h.r.log.Info("reader refused", "camera_id", src.cam.ID, "remote", remote(ctx.Conn), "err", err)
		return refuse(err), nil, nil
	}
	ctx.Session.SetUserData(&viewer{src: src, stream: st, remote: remote(ctx.Conn)})
	return &base.Response{StatusCode: base.StatusOK}, st, nil
}

func (h *handler) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	v, ok := ctx.Session.UserData().(*viewer)
	if !ok {
		return &base.Response{StatusCode: base.StatusBadRequest}, nil
	}
	if v.from.IsZero() {
		v.from = time.Now()
	}
	v.src.log.Info("reader playing", "remote", v.remote, "transport", sessionTransport(ctx.Session))
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (h *handler) OnPause(*gortsplib.ServerHandlerOnPauseCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSessionClose counts the reader out and, if it watched, records it.
func (h *handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	v, ok := ctx.Session.UserData().(*viewer)
	if !ok {
		return
	}
	v.src.release()
	if v.from.IsZero() {
		return
	}
	to := time.Now()
	v.src.log.Info("reader left", "remote", v.remote, "watched", to.Sub(v.from).Round(time.Millisecond), "err", ctx.Error)
	h.r.emit(Event{Type: EventViewer, Camera: v.src.cam.ID, Reader: v.remote, From: v.from, To: to})
}

// OnStreamWriteError is a reader too slow for the camera: its queue is
// full and it loses packets, the others do not.
func (h *handler) OnStreamWriteError(ctx *gortsplib.ServerHandlerOnStreamWriteErrorCtx) {
	h.r.log.Debug("packet not sent to a reader", "err", ctx.Error)
}

// authorize returns nil when no credentials are configured or they are
// right; else the 401 and the error that makes gortsplib send the
// challenge (no credentials yet) or close the connection (wrong ones).
func (h *handler) authorize(conn *gortsplib.ServerConn, req *base.Request) (*base.Response, error) {
	if h.r.cfg.Username == "" || conn.VerifyCredentials(req, h.r.cfg.Username, h.r.cfg.Password) {
		return nil, nil
	}
	if _, tried := req.Header["Authorization"]; tried {
		h.r.log.Info("reader refused: wrong credentials", "remote", remote(conn))
	}
	return &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
}

// find maps a path to its camera, or returns the 404.
func (h *handler) find(path string) (*source, *base.Response) {
	id := strings.Trim(path, "/")
	if src := h.r.lookup(id); src != nil {
		return src, nil
	}
	return nil, &base.Response{StatusCode: base.StatusNotFound, StatusMessage: "Not Found: no camera " + statusText(id)}
}

// refuse is the response for a reader the relay cannot serve now.
func refuse(err error) *base.Response {
	code := base.StatusServiceUnavailable
	if errors.Is(err, ErrUnknownCamera) {
		code = base.StatusNotFound
	}
	return &base.Response{StatusCode: code, StatusMessage: base.StatusMessages[code] + ": " + statusText(err.Error())}
}

// statusText makes s fit a status line: one line, printable, bounded.
func statusText(s string) string {
	const maxLen = 200
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxLen {
		s = s[:maxLen]
	}
	return s
}

func remote(conn *gortsplib.ServerConn) string {
	return conn.NetConn().RemoteAddr().String()
}

func sessionTransport(ss *gortsplib.ServerSession) string {
	if t := ss.Transport(); t != nil {
		return t.Protocol.String()
	}
	return ""
}
