package web

import (
	"bytes"
	"mime"
	"net/http"
	"strconv"

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
