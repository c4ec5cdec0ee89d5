// Package egress decides which addresses senders may deliver to. The API
// checks a webhook URL when it is saved; the sender's dialer checks the
// address it actually connects to, so a DNS answer that changes to a private
// address after the check is refused too.
package egress
