package console

import "net/http"

type dashboardData struct {
	Boxes []boxRow
}

// dashboard renders the boxes at the time of the request; the page's JS
// then keeps the table current from /events/boxes.
func (c *Console) dashboard(w http.ResponseWriter, r *http.Request, v *visit) {
	rows, err := c.rows(r.Context(), v.lang)
	if err != nil {
		c.fail(w, r, v.lang, err)
		return
	}
	c.render(w, r, http.StatusOK, "dashboard.html", c.pageData(v.lang, v, c.csrf.token(purposeSession, v.token), dashboardData{Boxes: rows}))
}
