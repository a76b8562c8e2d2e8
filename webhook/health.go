package webhook

import (
	"fmt"
	"net/http"
	"strings"
)

type namedCheck struct {
	name  string
	check func() error
}

// readiness answers /readyz: 200 with the revision being served when every check
// passes, 503 listing the failing checks otherwise.
type readiness struct {
	checks   []namedCheck
	revision func() string
}

func (r *readiness) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	var failed []string
	for _, c := range r.checks {
		if err := c.check(); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", c.name, err))
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if len(failed) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready\n%s\nrevision: %s\n", strings.Join(failed, "\n"), r.revision())
		return
	}
	fmt.Fprintf(w, "ok\nrevision: %s\n", r.revision())
}
