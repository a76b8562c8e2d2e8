package main

import (
	"fmt"
	"io"
	"time"

	"github.com/podguard/podguard/policies/config"
)

// warnExpired names each exception of the configuration that has expired: it no longer
// covers anything, so what it covered is judged again, and the team should know why.
func warnExpired(w io.Writer, command string, cfg *config.Config, now time.Time) {
	for _, x := range cfg.ExpiredExceptions(now) {
		fmt.Fprintf(w, "podguard %s: warning: exceptions[%d] (rules %v, namespace %s, name %s) expired at %s and no longer applies: %s\n",
			command, x.Index, x.Rules, x.Namespace, x.Name, x.Expires.UTC().Format(time.RFC3339), x.Reason)
	}
}
