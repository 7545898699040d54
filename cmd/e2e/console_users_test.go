package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestConsoleUsers: the admin opens 用户 in Chromium, adds an operator
// with an initial password through the form, then makes them a reviewer;
// the page's trail view shows both changes, and the new official signs in
// with that password in another browser, where the users link is not
// offered. Every step goes through the console's bridge to the real API
// of a running dalaba-cloud.
func TestConsoleUsers(t *testing.T) {
	c := startCloud(t, cloudOpts{})
	b := newChrome(t, c, 1100, 1000, 2*time.Minute)
	b.signIn(t, "admin", adminPassword)

	const name, password = "刘会计", "e2e-new-user-password"
	row := `#user-list tr[data-user="` + name + `"]`
	b.run(t, "open the users page", chromedp.Navigate(b.base+"/users"), chromedp.WaitVisible(chromedp.CSS(`#add-user`)))
	b.poll(t, 10*time.Second, "the admin is listed", `document.querySelector('#user-list tr[data-user="admin"]') !== null`)
	// The admin's own row offers no way to lock themself out.
	if locked := eval[bool](t, b, `(function () {
		const r = document.querySelector('#user-list tr[data-user="admin"]');
		return r.querySelector('.act-disable').disabled && r.querySelector('select[name=role]').disabled;
	})()`); !locked {
		t.Error("the admin's own row lets them disable or demote themself")
	}

	b.run(t, "add a user",
		chromedp.SendKeys(chromedp.CSS(`#add-name`), name),
		chromedp.SetValue(chromedp.CSS(`#add-role`), "operator"),
		chromedp.SendKeys(chromedp.CSS(`#add-password`), password),
		chromedp.Click(chromedp.CSS(`#add-submit`)),
	)
	b.poll(t, 10*time.Second, "the new user is listed as an operator", `(function () {
		const r = document.querySelector('`+row+`');
		return r !== null && r.dataset.role === 'operator' && r.dataset.disabled === 'false';
	})()`)
	if msg := eval[string](t, b, `document.getElementById('users-msg').textContent`); !strings.Contains(msg, "已添加用户") || !strings.Contains(msg, name) {
		t.Errorf("the page says %q after adding", msg)
	}

	b.run(t, "make them a reviewer",
		chromedp.SetValue(chromedp.CSS(row+` select[name=role]`), "reviewer"),
		chromedp.Click(chromedp.CSS(row+` .act-role`)),
	)
	b.poll(t, 10*time.Second, "the role is changed", `document.querySelector('`+row+`').dataset.role === 'reviewer'`)
	b.poll(t, 10*time.Second, "the trail shows both changes", `(function () {
		const acts = Array.from(document.querySelectorAll('#audit tbody tr')).map(function (r) {
			return r.querySelector('[data-k=actor]').textContent + ' ' + r.querySelector('[data-k=action]').textContent;
		});
		return acts[0] === 'admin PUT /api/v1/users/{name}' && acts[1] === 'admin POST /api/v1/users';
	})()`)
	b.screenshot(t, "users")

	// The new official signs in with the password the admin gave.
	b2 := newChrome(t, c, 390, 844, time.Minute)
	b2.signIn(t, name, password)
	if who := eval[string](t, b2, `document.querySelector('.who').textContent`); !strings.Contains(who, name) {
		t.Errorf("signed in as %q, want %s", who, name)
	}
	if link := eval[bool](t, b2, `document.getElementById('nav-users') !== null`); link {
		t.Error("a reviewer is offered the users page")
	}

	// And the API agrees on who they are now.
	var login struct{ Token string }
	c.do(t, "POST", "/api/v1/login", map[string]string{"username": name, "password": password}, &login, http.StatusOK)
	u := *c
	u.token = login.Token
	u.do(t, "GET", "/api/v1/audit/recent?limit=1", nil, nil, http.StatusOK) // reviewers read the trail
	u.do(t, "GET", "/api/v1/users", nil, nil, http.StatusForbidden)
}
