package console_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"
)

// TestConsole drives the console as a newcomer would: sign in, create a
// webhook with the form, test its URL, see an event's attempt in the log,
// break the receiver, find the dead letter, replay it, see it delivered;
// then disable and re-enable with the replay offer, rotate the secret,
// delete a webhook, watch the live chart and sign out.
func TestConsole(t *testing.T) {
	t.Parallel()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	d := startDev(t, "--retry-schedule", "100ms,200ms")
	rc := newReceiver(t)
	b := newBrowser(t, 1280, 900)

	// Sign in: a wrong token is refused, the right one is kept in the tab.
	b.navigate(d.url + "/console")
	b.waitVisible("#sign-in #token")
	b.shot("sign-in")
	b.typeInto("#token", "hs_wrong\r")
	b.poll(`document.querySelector('#sign-in-status').textContent.includes('not accepted')`)
	b.setValue("#token", "")
	b.typeInto("#token", token+"\r")
	b.waitVisible("#new-webhook")
	stored := b.str(`sessionStorage.getItem('hookstream.console.token') + '|' + localStorage.length + '|' + document.cookie`)
	require.Equal(t, token+"|0|", stored, "the token is in sessionStorage only")
	b.shot("webhooks-empty")

	// Create a webhook with the form; Test URL first.
	b.click("#new-webhook")
	b.waitVisible("#webhook-form #wh-url")
	b.typeInto("#wh-url", rc.URL+"/hooks")
	b.typeInto("#wh-name", "HR app <b>prod</b>")
	b.click(`input[value="sync.*"]`)
	b.click("#add-header")
	b.typeInto(".header-row input[aria-label='Header name']", "X-Api-Key")
	b.typeInto(".header-row input[aria-label='Header value']", "key-of-the-receiver")
	b.click("#test-url")
	b.waitVisible(`#test-url-result .test-result[data-outcome="success"]`)
	require.Contains(t, b.text("#test-url-result"), "HTTP 200")
	require.Contains(t, b.text("#test-url-result"), `{"answered":200}`, "the response excerpt")
	b.click("#generate-key")
	key := b.str(`document.querySelector('#wh-key').value`)
	require.Len(t, key, 44, "base64 of 32 bytes")
	b.setValue("#wh-key", "") // no encryption: the log shows bodies
	b.shot("new-webhook-tested")
	b.click("#save-webhook")

	// The secret, once.
	b.waitVisible("dialog[open] input.secret")
	secret := b.str(`document.querySelector('dialog[open] input.secret').value`)
	require.True(t, strings.HasPrefix(secret, "whsec_"), secret)
	require.Contains(t, b.text("dialog[open]"), "Copy it now")
	b.shot("secret")
	b.click("dialog[open] .actions button")
	b.waitVisible("#send-test")
	hash := b.str(`location.hash`)
	whID := strings.TrimPrefix(hash, "#/webhooks/")
	require.True(t, strings.HasPrefix(whID, "wh_"), hash)
	require.Equal(t, `HR app <b>prod</b>`, b.text("main h1"), "names are shown as text")

	var wh struct {
		Events  []string          `json:"events"`
		Headers map[string]string `json:"headers"`
	}
	require.Equal(t, http.StatusOK, d.call(t, http.MethodGet, "/v1/webhooks/"+whID, nil, &wh))
	require.Equal(t, []string{"sync.*"}, wh.Events)
	require.Equal(t, "key-of-the-receiver", wh.Headers["X-Api-Key"])

	// Test from the webhook's page.
	b.click("#send-test")
	b.waitVisible(`#test-result .test-result[data-outcome="success"]`)

	// An event's attempt appears in the log; expanded, its headers are masked.
	first := d.publish(t, "ss_1")
	row := `#attempts-table tr[data-event-id="` + first + `"][data-outcome="success"]`
	b.waitVisible(row)
	b.click(row + " button")
	b.waitVisible("#attempts-table tr.detail:not([hidden]) table.headers")
	detail := b.text("#attempts-table tr.detail:not([hidden])")
	require.Contains(t, detail, "Webhook-Signature")
	require.Contains(t, detail, "••••••")
	require.NotContains(t, detail, "key-of-the-receiver", "custom header values are masked")
	require.Contains(t, detail, `"sync_session_id": "ss_1"`, "the body sent")
	b.shot("delivery-log")

	// Break the receiver: the next event is retried, then dead-lettered.
	rc.status.Store(http.StatusInternalServerError)
	second := d.publish(t, "ss_2")
	require.Eventually(t, func() bool {
		var dl struct {
			Data []struct {
				EventID string `json:"event_id"`
			}
		}
		d.call(t, http.MethodGet, "/v1/dead-letters?webhook_id="+whID, nil, &dl)
		return len(dl.Data) == 1 && dl.Data[0].EventID == second
	}, 30*time.Second, 20*time.Millisecond, "the event is dead-lettered")
	rc.status.Store(http.StatusOK)

	b.click(`nav a[href="#/dead-letters"]`)
	dead := `#dead-letters-table tr[data-event-id="` + second + `"]`
	b.waitVisible(dead)
	require.Contains(t, b.text(dead), "HTTP 500")
	require.Contains(t, b.text("#next-replay"), "end-of-day replay")
	b.click(dead + " button") // its history
	b.waitVisible("#dead-letters-table tr.detail:not([hidden]) ol.history")
	b.shot("dead-letters")
	b.click(dead + " input.pick")
	b.click("#replay-selected")
	b.waitVisible(`#replay-result [data-replayed="1"]`)
	require.Eventually(t, func() bool { return rc.delivered(second) == 1 }, 30*time.Second, 20*time.Millisecond, "the replay is delivered")
	b.poll(`!document.querySelector('#dead-letters-table tr[data-event-id="` + second + `"]')`)
	b.shot("dead-letters-replayed")

	// The replayed delivery in the webhook's log.
	b.click(`nav a[href="#/webhooks"]`)
	b.click(`#webhooks-table tr[data-webhook-id="` + whID + `"] a`)
	b.waitVisible(`#attempts-table tr[data-event-id="` + second + `"][data-outcome="success"]`)
	b.waitVisible(`#attempts-table tr[data-event-id="` + second + `"][data-outcome="failed"]`)
	b.shot("webhook-detail")

	// Filter the log by outcome: only the failed attempts stay.
	b.setValue("#log-filter", "failed")
	b.poll(`!document.querySelector('#attempts-table tr[data-outcome="success"]') && !!document.querySelector('#attempts-table tr[data-outcome="failed"]')`)
	b.setValue("#log-filter", "")
	okRow := `#attempts-table tr[data-event-id="` + second + `"][data-outcome="success"]`
	b.waitVisible(okRow)

	// Resend one delivery from the log: the receiver gets it again.
	b.click(okRow + " button")
	b.waitVisible("#attempts-table tr.detail:not([hidden]) button.small")
	b.click("#attempts-table tr.detail:not([hidden]) button.small")
	b.poll(`(document.querySelector('#attempts-table tr.detail:not([hidden]) [role=status]')||{}).textContent.startsWith('Queued again')`)
	require.Eventually(t, func() bool { return rc.delivered(second) == 2 }, 30*time.Second, 20*time.Millisecond, "the resent delivery arrives")

	// Disable: what it misses waits; enabling offers to replay it.
	b.click("#toggle-enabled")
	b.poll(`document.querySelector('#toggle-enabled').textContent === 'Enable'`)
	missed := d.publish(t, "ss_3")
	require.Eventually(t, func() bool {
		var dl struct {
			Data []struct {
				EventID string `json:"event_id"`
			}
		}
		d.call(t, http.MethodGet, "/v1/dead-letters?webhook_id="+whID, nil, &dl)
		return len(dl.Data) == 1 && dl.Data[0].EventID == missed
	}, 30*time.Second, 20*time.Millisecond, "a disabled webhook's delivery waits in the dead letters")
	b.click("#toggle-enabled")
	b.waitVisible("#detail-notice .notice button")
	require.Contains(t, b.text("#detail-notice"), "Replay 1 missed delivery")
	b.shot("re-enabled")
	b.click("#detail-notice .notice button")
	b.poll(`document.querySelector('#detail-notice').textContent.includes('Replayed 1')`)
	require.Eventually(t, func() bool { return rc.delivered(missed) == 1 }, 30*time.Second, 20*time.Millisecond)

	// Rotate the secret with a grace period.
	b.click("#rotate-secret")
	b.waitVisible("dialog[open] #grace-period")
	b.click("#confirm-rotate")
	b.waitVisible("dialog[open] input.secret")
	rotated := b.str(`document.querySelector('dialog[open] input.secret').value`)
	require.True(t, strings.HasPrefix(rotated, "whsec_"))
	require.NotEqual(t, secret, rotated)
	b.shot("rotated")
	b.key(kb.Escape) // Escape closes
	b.poll(`!document.querySelector('dialog')`)
	require.Equal(t, "rotate-secret", b.str(`document.activeElement.id`), "focus returns to the button that opened the dialog")
	b.poll(`document.querySelector('main dl.settings').textContent.includes('previous secret keeps signing until')`)

	// Edit: the form comes filled in; a new name and preset are saved.
	b.click("#edit-webhook")
	b.waitVisible("#webhook-form #wh-name")
	require.Equal(t, "HR app <b>prod</b>", b.str(`document.querySelector('#wh-name').value`))
	require.True(t, b.boolean(`document.querySelector('input[value="sync.*"]').checked && document.querySelector('input[value="sync.started"]').disabled`))
	require.Equal(t, "key-of-the-receiver", b.str(`document.querySelector(".header-row input[aria-label='Header value']").value`))
	b.setValue("#wh-name", "HR app (tartan)")
	b.setValue("#wh-preset", "tartan")
	b.click(`input[value="employee.created"]`)
	b.shot("edit-webhook")
	b.click("#save-webhook")
	b.poll(`location.hash === '#/webhooks/` + whID + `' || (document.querySelector('#form-error') || {}).textContent`)
	require.Equal(t, "#/webhooks/"+whID, b.str(`location.hash`), b.str(`(document.querySelector('#form-error') || {}).textContent || ''`))
	b.poll(`document.querySelector('main h1').textContent === 'HR app (tartan)'`)
	var edited struct {
		Events    []string          `json:"events"`
		Signature map[string]string `json:"signature"`
	}
	require.Equal(t, http.StatusOK, d.call(t, http.MethodGet, "/v1/webhooks/"+whID, nil, &edited))
	require.Equal(t, []string{"employee.created", "sync.*"}, edited.Events)
	require.Equal(t, map[string]string{"preset": "tartan"}, edited.Signature)

	// A name that looks like HTML is shown as text; deleting asks first.
	var evil struct{ ID string }
	require.Equal(t, http.StatusCreated, d.call(t, http.MethodPost, "/v1/webhooks", map[string]any{
		"name": `<img src=x onerror="window.__xss=1">`, "url": rc.URL + "/other", "events": []string{"*"}}, &evil))
	b.click(`nav a[href="#/webhooks"]`)
	evilRow := `#webhooks-table tr[data-webhook-id="` + evil.ID + `"]`
	b.waitVisible(evilRow)
	require.Contains(t, b.text(evilRow+" a"), `<img src=x onerror="window.__xss=1">`)
	require.False(t, b.boolean(`window.__xss === 1 || !!document.querySelector('#webhooks-table img')`))
	b.waitVisible(`#webhooks-table tr[data-webhook-id="` + whID + `"] .badge`)
	b.shot("webhooks")
	b.click(evilRow + " a")
	b.waitVisible("#delete-webhook")
	b.click("#delete-webhook")
	b.waitVisible("dialog[open]")
	require.Equal(t, "Cancel", b.str(`document.activeElement.textContent`), "the safe answer has the focus")
	b.click("dialog[open] .actions button") // Cancel
	b.poll(`!document.querySelector('dialog') && document.activeElement.id === 'delete-webhook'`)
	b.click("#delete-webhook")
	b.click("dialog[open] .actions button.danger")
	b.waitVisible("#new-webhook")
	b.poll(`!document.querySelector('#webhooks-table tr[data-webhook-id="` + evil.ID + `"]')`)
	require.Equal(t, http.StatusNotFound, d.call(t, http.MethodGet, "/v1/webhooks/"+evil.ID, nil, nil))

	// The live chart draws the deliveries (senders report every 10 s).
	b.click(`nav a[href="#/live"]`)
	b.waitVisible("#live-chart svg")
	b.poll(`document.querySelectorAll('#live-chart svg g.bar rect.c-2xx').length > 0`)
	b.poll(`document.querySelectorAll('#live-chart svg g.bar rect.c-5xx').length > 0`)
	b.shot("live")

	// A revoked session goes back to sign in; signing out forgets the token.
	b.boolean(`sessionStorage.setItem('hookstream.console.token', 'hs_revoked'); location.hash = '#/webhooks'; true`)
	b.waitVisible("#sign-in")
	require.Contains(t, b.text("#sign-in-status"), "Sign in again")
	b.typeInto("#token", token+"\r")
	b.waitVisible("#new-webhook")
	b.click("#sign-out")
	b.waitVisible("#sign-in")
	require.Equal(t, "null", b.str(`String(sessionStorage.getItem('hookstream.console.token'))`))
	b.noErrors()
}

// TestConsolePhoneWidth: at a phone's width every page fits without
// horizontal scrolling.
func TestConsolePhoneWidth(t *testing.T) {
	t.Parallel()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	d := startDev(t)
	rc := newReceiver(t)
	var first struct{ ID string }
	for i, name := range []string{"HR app production", "Payroll sync (staging)"} {
		var created struct{ ID string }
		code := d.call(t, http.MethodPost, "/v1/webhooks", map[string]any{"name": name,
			"url": rc.URL + "/a/rather/long/path/to/show/how/urls/wrap/" + strings.Repeat("x", 20*i), "events": []string{"sync.*", "employee.*"}}, &created)
		require.Equal(t, http.StatusCreated, code)
		if i == 0 {
			first = created
		}
	}
	d.publish(t, "ss_phone") // a row in the first webhook's delivery log
	b := newBrowser(t, 390, 844)
	b.navigate(d.url + "/console/")
	b.typeInto("#token", token+"\r")
	b.waitVisible("#webhooks-table tbody tr .badge")
	for _, page := range []struct{ nav, wait, name string }{
		{"#/webhooks", "#webhooks-table tbody tr .badge", "phone-webhooks"},
		{"#/webhooks/new", "#webhook-form", "phone-new-webhook"},
		{"#/webhooks/" + first.ID, "#attempts-table tbody tr[data-outcome]", "phone-webhook-detail"},
		{"#/dead-letters", "#next-replay time", "phone-dead-letters"},
		{"#/live", "#live-chart svg", "phone-live"},
		{"#/security", "#reveal-key", "phone-security"},
	} {
		b.boolean(`location.hash = '` + page.nav + `'; true`)
		b.waitVisible(page.wait)
		b.shot(page.name)
		require.True(t, b.boolean(`document.documentElement.scrollWidth <= window.innerWidth`), "%s scrolls sideways at 390 px", page.nav)
	}
	// The form's advanced section, with an event name and a preview, fits too.
	b.boolean(`location.hash = '#/webhooks/new'; true`)
	b.waitVisible("#advanced > summary")
	b.click("#advanced > summary")
	b.setValue("#wh-profile", "tartan")
	b.click("#add-event-name")
	b.click("#preview")
	b.waitVisible("#preview-body")
	b.shot("phone-dialect")
	require.True(t, b.boolean(`document.documentElement.scrollWidth <= window.innerWidth`), "the advanced section scrolls sideways at 390 px")
	b.noErrors()
}

// TestConsoleDemo: `hookstream dev --demo` gives a newcomer something to
// look at: live deliveries to the sample receiver, a failing endpoint with
// its failed attempts and dead letters, and the live chart.
func TestConsoleDemo(t *testing.T) {
	t.Parallel()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	d := startDev(t, "--demo", "--retry-schedule", "100ms,200ms")
	var hooks struct{ Data []struct{ ID, Name string } }
	require.Equal(t, http.StatusOK, d.call(t, http.MethodGet, "/v1/webhooks", nil, &hooks))
	ids := map[string]string{}
	for _, w := range hooks.Data {
		ids[w.Name] = w.ID
	}
	receiver, failing := ids["Demo: sample receiver"], ids["Demo: failing endpoint"]
	require.NotEmpty(t, receiver)
	require.NotEmpty(t, failing)
	require.Eventually(t, func() bool {
		out := d.stdout()
		return strings.Contains(out, "Console: "+d.url+"/console/") && strings.Contains(out, "Demo (--demo):") &&
			strings.Contains(out, "webhook "+failing+", sync.*, always 503")
	}, 10*time.Second, 20*time.Millisecond, "dev says what the demo set up")
	require.Eventually(t, func() bool {
		var dl struct{ Data []struct{ ID string } }
		d.call(t, http.MethodGet, "/v1/dead-letters?webhook_id="+failing, nil, &dl)
		return len(dl.Data) > 0
	}, 30*time.Second, 50*time.Millisecond, "the failing endpoint's deliveries are dead-lettered")

	b := newBrowser(t, 1280, 900)
	b.navigate(d.url + "/console/")
	b.typeInto("#token", token+"\r")
	b.poll(`(document.querySelector('#webhooks-table tr[data-webhook-id="` + receiver + `"]') || {}).textContent?.includes('success')`)
	b.poll(`(document.querySelector('#webhooks-table tr[data-webhook-id="` + failing + `"]') || {}).textContent?.includes('failed')`)
	b.shot("demo-webhooks")

	b.click(`#webhooks-table tr[data-webhook-id="` + failing + `"] a`)
	b.waitVisible(`#attempts-table tr[data-outcome="failed"]`)
	require.Contains(t, b.text("#health-title + dl"), "waiting", "its dead letters are counted")
	b.shot("demo-failing-webhook")

	b.click(`nav a[href="#/dead-letters"]`)
	b.waitVisible(`#dead-letters-table tr[data-webhook-id="` + failing + `"]`)
	require.Contains(t, b.text(`#dead-letters-table tr[data-webhook-id="`+failing+`"]`), "HTTP 503")
	b.shot("demo-dead-letters")

	b.click(`nav a[href="#/live"]`)
	b.poll(`document.querySelectorAll('#live-chart svg g.bar rect.c-2xx').length > 0 && document.querySelectorAll('#live-chart svg g.bar rect.c-5xx').length > 0`)
	b.shot("demo-live")
	b.noErrors()
}
