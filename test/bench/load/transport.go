package load

import (
	"net/http"
	"time"
)

// NewClientWith makes a client that sends its reviews through rt, for callers that need
// their own connection handling (a connection per review, a source address, tracing).
// A review not answered within timeout fails.
func NewClientWith(url string, rt http.RoundTripper, timeout time.Duration) *Client {
	return &Client{URL: url, hc: &http.Client{Transport: rt, Timeout: timeout}}
}
