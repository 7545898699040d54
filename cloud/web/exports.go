package web

import (
	"bytes"
	"mime"
	"net/http"
	"strconv"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/report"
	"github.com/dalaba/dalaba/cloud/sheet"
)

// xlsxType is the media type of an .xlsx workbook.
const xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// workbook answers tables as an .xlsx attachment named name (UTF-8, as
// RFC 6266 says: the name is Chinese). It is made in memory first, so a
// failure is still an error answer.
func (s *Server) workbook(w http.ResponseWriter, r *http.Request, name string, tables []sheet.Table) {
	var buf bytes.Buffer
	if err := sheet.Write(&buf, tables...); err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", xlsxType)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes()) // the client may have gone; nothing to do
}

// Reports as workbooks (cloud/report), from the console and from curl:
// each a GET answered with an .xlsx attachment named in Chinese.
func (s *Server) exportRoutes() {
	if s.ls != nil {
		s.route("GET /api/v1/villages/{box}/export/lists.xlsx", auth.ActionViewLists, TargetVillage, s.exportLists)
		s.route("GET /api/v1/villages/{box}/export/points.xlsx", auth.ActionViewLists, TargetVillage, s.exportPoints)
	}
	s.route("GET /api/v1/boxes/{id}/export/playlog.xlsx", auth.ActionViewBoxes, TargetBox, s.exportPlayLog)
	s.route("GET /api/v1/boxes/{id}/export/viewings.xlsx", auth.ActionViewCameras, TargetBox, s.exportViewings)
}

// villageName is a box's name for a file name, its id if it has none.
func (s *Server) villageName(r *http.Request, id string) (string, error) {
	b, err := s.st.GetBox(r.Context(), id)
	if err != nil {
		return "", err
	}
	if b.Name == "" {
		return b.ID, nil
	}
	return b.Name, nil
}

func (s *Server) exportLists(w http.ResponseWriter, r *http.Request) {
	box, ok := pathID(w, r, "box")
	if !ok {
		return
	}
	period := r.URL.Query().Get("period")
	name, err := s.villageName(r, box)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tables, err := report.MonthLists(r.Context(), s.ls, box, period, report.CST())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.workbook(w, r, report.FileName("红黑榜", name, period), tables)
}

func (s *Server) exportPoints(w http.ResponseWriter, r *http.Request) {
	box, ok := pathID(w, r, "box")
	if !ok {
		return
	}
	period := r.URL.Query().Get("period")
	name, err := s.villageName(r, box)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tables, err := report.Points(r.Context(), s.ls, box, period)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	span := period
	if span == "" {
		span = "全部"
	}
	s.workbook(w, r, report.FileName("积分", name, span), tables)
}

// exportRange reads ?from=&to= (days, YYYY-MM-DD, both included); false
// when the request has been answered.
func (s *Server) exportRange(w http.ResponseWriter, r *http.Request) (report.Range, bool) {
	q := r.URL.Query()
	rg, err := report.ParseRange(q.Get("from"), q.Get("to"), report.CST())
	if err != nil {
		s.fail(w, r, err)
		return report.Range{}, false
	}
	return rg, true
}

func (s *Server) exportPlayLog(w http.ResponseWriter, r *http.Request) {
	box := r.PathValue("id")
	rg, ok := s.exportRange(w, r)
	if !ok {
		return
	}
	name, err := s.villageName(r, box)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tables, err := report.PlayLog(r.Context(), s.st, box, rg, report.CST())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.workbook(w, r, report.FileName("播放记录", name, rg.Span()), tables)
}

func (s *Server) exportViewings(w http.ResponseWriter, r *http.Request) {
	box := r.PathValue("id")
	rg, ok := s.exportRange(w, r)
	if !ok {
		return
	}
	name, err := s.villageName(r, box)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	names := map[string]string{}
	if p, err := s.pl.Get(r.Context(), box); err == nil {
		for _, c := range p.Cameras.Cameras {
			names[c.ID] = c.Name
		}
	}
	tables, err := report.Viewings(r.Context(), s.st, box, rg, names, report.CST())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.workbook(w, r, report.FileName("视频查看记录", name, rg.Span()), tables)
}
