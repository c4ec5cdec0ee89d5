package console_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestConsoleDialect drives the form's advanced section: choosing the
// Tartan profile sets its signature and shows what it sets; the Preview
// shows Tartan's body and headers for a sync.completed; a transform that
// does not compile is marked with its line and column on Preview and on
// save; a filter and event names show in the preview; the webhook is saved
// with them all.
func TestConsoleDialect(t *testing.T) {
	t.Parallel()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	d := startDev(t)
	rc := newReceiver(t)
	b := newBrowser(t, 1280, 900)
	b.navigate(d.url + "/console/")
	b.typeInto("#token", token+"\r")
	b.waitVisible("#new-webhook")

	b.click("#new-webhook")
	b.waitVisible("#webhook-form #wh-url")
	b.typeInto("#wh-url", rc.URL+"/tartan")
	b.typeInto("#wh-name", "Tartan receiver")
	b.click(`input[value="sync.*"]`)
	require.False(t, b.boolean(`document.querySelector('#advanced').open`), "the advanced section starts closed on a new webhook")
	b.click("#advanced > summary")
	b.waitVisible("#wh-profile")

	// Choosing a profile says what it is and sets its signature.
	b.setValue("#wh-profile", "tartan")
	b.poll(`document.querySelector('#profile-about').textContent.includes('Tartan HyperSync')`)
	about := b.text("#profile-about")
	require.Contains(t, about, "Choosing Tartan sets")
	require.Contains(t, about, "30s,2m,10m", "its retry schedule")
	require.Equal(t, "tartan", b.str(`document.querySelector('#wh-preset').value`), "the profile's signature preset")
	require.Contains(t, b.str(`document.querySelector('#wh-retry').placeholder`), "30s,2m,10m")

	// Preview: Tartan's flat body for the catalog's sync.completed.
	b.setValue("#preview-type", "sync.completed")
	b.click("#preview")
	b.waitVisible("#preview-body")
	body := b.text("#preview-body")
	require.Contains(t, body, `"requestId"`)
	require.Contains(t, body, `"syncSessionId": "ss_1"`)
	require.Equal(t, "sync.completed", b.text("#preview-event-name"))
	require.Contains(t, b.text("#preview-filter"), "Matches")
	headers := b.text("#preview-headers")
	require.Contains(t, headers, "Tartan-Signature")
	require.Contains(t, headers, "••••••", "the signature is masked")
	b.shot("preview-tartan")

	// A transform that does not compile: its line and column, next to the
	// editor and in the preview; "Show in the editor" puts the cursor there.
	b.setValue("#wh-transform", "{a: .event.type,\n  b: ]")
	b.click("#preview")
	b.waitVisible("#preview-result .preview-error")
	require.Contains(t, b.text("#preview-result"), "The transform does not compile")
	require.Contains(t, b.text("#preview-result .preview-error"), "Line 2, column 6")
	require.False(t, b.boolean(`!!document.querySelector('#preview-body')`), "no body shown for a program that does not compile")
	marked := `#wh-transform[aria-invalid="true"]`
	b.waitVisible(marked)
	errSel := `#` + b.str(`document.querySelector('#wh-transform').getAttribute('aria-errormessage')`)
	require.Contains(t, b.text(errSel), "Line 2, column 6")
	require.Equal(t, "2", b.str(`document.querySelector('`+errSel+`').dataset.line`))
	b.shot("preview-compile-error")
	b.click(errSel + " button")
	require.Equal(t, "wh-transform", b.str(`document.activeElement.id`))
	require.Equal(t, "]", b.str(`(() => { const t = document.querySelector('#wh-transform'); return t.value.slice(t.selectionStart, t.selectionEnd); })()`))

	// Saving it is refused the same way.
	b.click("#save-webhook")
	b.poll(`document.querySelector('#form-error').textContent.includes('transform')`)
	require.Contains(t, b.text("#form-error"), "line 2, column 6")
	b.waitVisible(marked)
	errSel = `#` + b.str(`document.querySelector('#wh-transform').getAttribute('aria-errormessage')`)
	require.Contains(t, b.text(errSel), "Line 2, column 6")

	// A filter that does not match, then one that does; event names.
	b.setValue("#wh-transform", "")
	b.setValue("#wh-filter", `.event.data.hrms == "bamboohr"`)
	b.click("#preview")
	b.poll(`(document.querySelector('#preview-filter') || {}).textContent?.includes('No match')`)
	require.False(t, b.boolean(`!!document.querySelector('#wh-transform[aria-invalid]')`), "a preview clears the old marks")
	b.setValue("#wh-filter", `.event.data.hrms == "darwinbox"`)
	b.click("#add-event-name")
	b.setValue(".name-row select", "sync.completed")
	b.setValue(".name-row input", "sync_done")
	b.click("#preview")
	b.poll(`(document.querySelector('#preview-event-name') || {}).textContent === 'sync_done'`)
	require.Contains(t, b.text("#preview-filter"), "Matches")
	require.Contains(t, b.text("#preview-body"), `"event": "sync_done"`, "Tartan's body names the event")

	// A filter that does not compile is marked too.
	b.setValue("#wh-filter", `.event.type ==`)
	b.click("#preview")
	b.waitVisible(`#wh-filter[aria-invalid="true"]`)
	require.Contains(t, b.text("#preview-result"), "The filter does not compile")
	b.setValue("#wh-filter", `.event.data.hrms == "darwinbox"`)

	// Save with a retry schedule of its own.
	b.setValue("#wh-retry", "1s,2s")
	b.click("#save-webhook")
	b.waitVisible("dialog[open] input.secret")
	secret := b.str(`document.querySelector('dialog[open] input.secret').value`)
	require.NotEmpty(t, secret)
	b.click("dialog[open] .actions button")
	b.waitVisible("#reveal-secret")
	whID := strings.TrimPrefix(b.str(`location.hash`), "#/webhooks/")

	var wh struct {
		Profile       string            `json:"profile"`
		Filter        string            `json:"filter"`
		Transform     string            `json:"transform"`
		EventNames    map[string]string `json:"event_names"`
		RetrySchedule *string           `json:"retry_schedule"`
		SigningKey    string            `json:"signing_key"`
		Signature     map[string]string `json:"signature"`
	}
	require.Equal(t, http.StatusOK, d.call(t, http.MethodGet, "/v1/webhooks/"+whID, nil, &wh))
	require.Equal(t, "tartan", wh.Profile)
	require.Equal(t, `.event.data.hrms == "darwinbox"`, wh.Filter)
	require.Empty(t, wh.Transform, "the profile's transform")
	require.Equal(t, map[string]string{"sync.completed": "sync_done"}, wh.EventNames)
	require.NotNil(t, wh.RetrySchedule)
	require.Equal(t, "1s,2s", *wh.RetrySchedule)
	require.Equal(t, "webhook", wh.SigningKey)
	require.Equal(t, map[string]string{"preset": "tartan"}, wh.Signature)
	settings := b.text("main dl.settings")
	require.Contains(t, settings, "tartan")
	require.Contains(t, settings, "sync.completed → sync_done")
	require.Contains(t, settings, `.event.data.hrms == "darwinbox"`)
	b.shot("dialect-webhook")

	// Editing: the form comes with the dialect open and filled in.
	b.click("#edit-webhook")
	b.waitVisible("#wh-profile")
	require.True(t, b.boolean(`document.querySelector('#advanced').open`))
	require.Equal(t, "tartan", b.str(`document.querySelector('#wh-profile').value`))
	require.Equal(t, "1s,2s", b.str(`document.querySelector('#wh-retry').value`))
	require.Equal(t, "sync_done", b.str(`document.querySelector('.name-row input').value`))
	require.True(t, b.boolean(`document.querySelector('input[value="sync.*"]').checked`))
	b.noErrors()
}

// TestConsoleRevealSecret: a webhook's secret and the organisation-wide
// signing key are shown again only after a confirmation; regenerating the
// key asks for a grace period and shows the new one; a webhook moved to the
// organisation-wide key (Bindbee's profile) reveals that key.
func TestConsoleRevealSecret(t *testing.T) {
	t.Parallel()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	d := startDev(t)
	rc := newReceiver(t)
	var created struct{ ID, Secret string }
	require.Equal(t, http.StatusCreated, d.call(t, http.MethodPost, "/v1/webhooks", map[string]any{
		"name": "HR app", "url": rc.URL + "/hooks", "events": []string{"sync.*"}}, &created))
	require.True(t, strings.HasPrefix(created.Secret, "whsec_"))

	b := newBrowser(t, 1280, 900)
	b.navigate(d.url + "/console/#/webhooks/" + created.ID)
	b.typeInto("#token", token+"\r")
	b.waitVisible("#reveal-secret")

	// Reveal asks first; Cancel shows nothing.
	b.click("#reveal-secret")
	b.waitVisible("dialog[open]")
	require.Contains(t, b.text("dialog[open]"), "audit log")
	require.Equal(t, "Cancel", b.str(`document.activeElement.textContent`), "the safe answer has the focus")
	require.False(t, b.boolean(`!!document.querySelector('dialog[open] input.secret')`), "no secret before the confirmation")
	b.click("dialog[open] .actions button") // Cancel
	b.poll(`!document.querySelector('dialog') && document.activeElement.id === 'reveal-secret'`)

	// Confirmed, it shows the secret the webhook was created with.
	b.click("#reveal-secret")
	b.waitVisible("dialog[open] .actions button.primary")
	b.click("dialog[open] .actions button.primary")
	b.waitVisible("dialog[open] input.secret")
	require.Equal(t, created.Secret, b.str(`document.querySelector('dialog[open] input.secret').value`))
	require.Contains(t, b.text("dialog[open]"), "recorded in the audit log")
	b.shot("revealed-secret")
	b.click("dialog[open] .actions button:not(.primary)") // Done
	b.poll(`!document.querySelector('dialog')`)

	// The organisation-wide key: reveal (confirmed), then regenerate.
	b.click(`nav a[href="#/security"]`)
	b.waitVisible("#reveal-key")
	require.Contains(t, b.text("#key-users"), "None yet")
	b.click("#reveal-key")
	b.waitVisible("dialog[open]")
	require.False(t, b.boolean(`!!document.querySelector('dialog[open] input.secret')`))
	b.click("dialog[open] .actions button.primary")
	b.waitVisible("dialog[open] input.secret")
	key := b.str(`document.querySelector('dialog[open] input.secret').value`)
	require.True(t, strings.HasPrefix(key, "whsec_"), key)
	var got struct{ Secret string }
	require.Equal(t, http.StatusOK, d.call(t, http.MethodGet, "/v1/signing-key", nil, &got))
	require.Equal(t, got.Secret, key)
	b.click("dialog[open] .actions button:not(.primary)")
	b.poll(`!document.querySelector('dialog')`)
	require.Contains(t, b.text("#key-facts"), "Regenerated")

	b.click("#regenerate-key")
	b.waitVisible("dialog[open] #grace-period")
	b.click("#confirm-rotate")
	b.waitVisible("dialog[open] input.secret")
	regenerated := b.str(`document.querySelector('dialog[open] input.secret').value`)
	require.True(t, strings.HasPrefix(regenerated, "whsec_"))
	require.NotEqual(t, key, regenerated)
	b.shot("regenerated-key")
	b.click("dialog[open] .actions button:not(.primary)")
	b.poll(`!document.querySelector('dialog')`)
	b.poll(`document.querySelector('#key-facts').textContent.includes('keeps signing until')`)

	// Bindbee's profile moves the webhook to the organisation-wide key: the
	// save shows it, and so does Reveal on the webhook's page.
	b.boolean(`location.hash = '#/webhooks/` + created.ID + `/edit'; true`)
	b.waitVisible("#webhook-form")
	b.click("#advanced > summary")
	b.setValue("#wh-profile", "bindbee")
	require.Equal(t, "tenant", b.str(`document.querySelector('#wh-signing-key').value`))
	require.Equal(t, "bindbee", b.str(`document.querySelector('#wh-preset').value`))
	b.click("#save-webhook")
	b.waitVisible("dialog[open] input.secret")
	require.Equal(t, regenerated, b.str(`document.querySelector('dialog[open] input.secret').value`))
	require.Contains(t, b.text("dialog[open]"), "organisation-wide signing key")
	b.click("dialog[open] .actions button:not(.primary)")
	b.waitVisible("#reveal-secret")
	require.Contains(t, b.text("main dl.settings"), "the organisation-wide signing key")
	b.click("#reveal-secret")
	b.waitVisible("dialog[open] .actions button.primary")
	b.click("dialog[open] .actions button.primary")
	b.waitVisible("dialog[open] input.secret")
	require.Equal(t, regenerated, b.str(`document.querySelector('dialog[open] input.secret').value`))
	b.click("dialog[open] .actions button:not(.primary)")
	b.poll(`!document.querySelector('dialog')`)
	b.click(`nav a[href="#/security"]`)
	b.waitVisible("#reveal-key")
	require.Contains(t, b.text("#key-users"), "HR app")
	b.noErrors()
}
