package audit

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// violating has bounded labels (the rule ids of the set, four enforcements): never a
	// namespace or an object, whose number has no bound.
	violating = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "podguard_audit_violating_objects",
		Help: "Stored objects that violate a rule, by rule and enforcement, as of the last audit of their namespace.",
	}, []string{"rule", "enforcement"})
	judgedTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "podguard_audit_objects_judged_total",
		Help: "Objects judged by the audit controller (an unchanged object is judged again only on a change of configuration, namespace or LimitRanges).",
	})
)

func init() {
	metrics.Registry.MustRegister(violating, judgedTotal)
}

// setCounts records a namespace's violating objects and sets the gauge to the sums.
func (r *reconciler) setCounts(namespace string, counts map[ruleKey]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(counts) == 0 {
		delete(r.counts, namespace)
	} else {
		r.counts[namespace] = counts
	}
	sums := map[ruleKey]int{}
	for _, c := range r.counts {
		for k, n := range c {
			sums[k] += n
		}
	}
	for k := range r.sums {
		if _, ok := sums[k]; !ok {
			violating.DeleteLabelValues(k.rule, k.enforcement)
		}
	}
	r.sums = sums
	for k, n := range sums {
		violating.WithLabelValues(k.rule, k.enforcement).Set(float64(n))
	}
}
