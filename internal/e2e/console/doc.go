// Package console holds the browser tests of the web console: headless
// Chromium driven through the DevTools protocol against the real hookstream
// binary running `hookstream dev` on an embedded JetStream. They are skipped,
// saying why, where no Chromium is installed (/usr/bin/chromium, or
// $HOOKSTREAM_CHROMIUM) and with -short. Screenshots of each page go under the
// test's temporary directory, or $HOOKSTREAM_CONSOLE_SHOTS when set.
package console
