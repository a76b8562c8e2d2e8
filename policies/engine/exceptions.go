package engine

import (
	"strings"
	"time"
)

// Excepted is the enforcement of a violation that an exception of the configuration
// covers: the object is not refused or warned about for it, but it is still reported.
const Excepted = "excepted"

// except moves the violations that an exception in force covers from d's lists to
// d.Excepted, each marked with the exception that covers it.
func (e *Engine) except(o *Object, d *Decision, now time.Time) {
	if len(e.cfg.Exceptions) == 0 {
		return
	}
	owners := o.makers()
	for _, list := range []*[]Violation{&d.Deny, &d.Warn, &d.Audit} {
		kept := (*list)[:0]
		for _, v := range *list {
			covered := false
			for i := range e.cfg.Exceptions {
				x := &e.cfg.Exceptions[i]
				if x.Covers(now, v.Rule, o.Namespace, v.Container, o.Kind, o.Name, owners...) {
					v.Enforcement, v.Exception = Excepted, x.String()
					d.Excepted = append(d.Excepted, v)
					covered = true
					break
				}
			}
			if !covered {
				kept = append(kept, v)
			}
		}
		*list = kept
	}
	sortViolations(d.Excepted)
}

// makers are the kinds and names of what made the object, which an exception on them
// covers: its controller, and the controller's own for the names Kubernetes gives (a
// Deployment's ReplicaSet is <deployment>-<hash>, a CronJob's Job <cronjob>-<time>).
func (o *Object) makers() [][2]string {
	_, kind, name := o.Owner()
	if kind == "" {
		return nil
	}
	out := [][2]string{{kind, name}}
	parent := map[string]string{"ReplicaSet": "Deployment", "Job": "CronJob"}[kind]
	if i := strings.LastIndexByte(name, '-'); parent != "" && i > 0 {
		out = append(out, [2]string{parent, name[:i]})
	}
	return out
}
