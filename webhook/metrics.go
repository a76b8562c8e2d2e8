package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Every label value comes from a fixed set or from the policy set (rule ids and
// enforcements), never from a request as sent: a client that can reach the port must not
// be able to add series, which live as long as the process.
var (
	decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podguard_decisions_total",
		Help: "Admission requests answered, by webhook (validate, mutate), operation (CREATE, UPDATE, DELETE, CONNECT, or invalid for anything else) and decision (allow, warn, deny, patched, skip, error).",
	}, []string{"webhook", "operation", "decision"})
	violations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podguard_violations_total",
		Help: "Rule violations found by the validating webhook, by rule and enforcement.",
	}, []string{"webhook", "rule", "enforcement"})
	evalDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "podguard_evaluation_duration_seconds",
		Help:    "Time to decode and evaluate one admission request, by webhook.",
		Buckets: []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2},
	}, []string{"webhook"})
	slotWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "podguard_evaluation_slot_wait_seconds",
		Help:    "Time a review waited for room in the evaluation gate (--max-evaluations and the evaluation memory), 0 when there was room.",
		Buckets: []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2},
	})
	openConnections = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "podguard_webhook_connections",
		Help: "Connections open on the webhook port, against --max-connections.",
	})
	closedConnections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podguard_webhook_connections_closed_total",
		Help: "Connections podguard closed before their first request, by reason: room (closed for a connection arriving when every slot was taken), per-source (closed, or refused, for its address's bound, --max-connections-per-source).",
	}, []string{"reason"})
	requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podguard_webhook_requests_total",
		Help: "Calls to the webhook endpoints, by webhook (validate, mutate) and the status code of the answer (200, 400, 403, 413, 500, 503, other).",
	}, []string{"webhook", "code"})
	requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "podguard_webhook_request_duration_seconds",
		Help:    "Time from a call's headers to its answer, body and gate wait included, by webhook.",
		Buckets: []float64{0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10},
	}, []string{"webhook"})
	requestsInFlight = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "podguard_webhook_requests_in_flight",
		Help: "Calls being answered, by webhook.",
	}, []string{"webhook"})
	bufferedBytes = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "podguard_request_body_buffer_bytes",
		Help: "Memory held by review bodies beyond the first 32 KiB of each, against the body memory budget.",
	})
	evaluationBytes = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "podguard_evaluation_memory_bytes",
		Help: "Estimated memory of the reviews being decoded and judged, against the evaluation memory budget.",
	})
)

func init() {
	registry.MustRegister(decisions, violations, evalDuration, slotWait, openConnections, closedConnections,
		requests, requestDuration, requestsInFlight, bufferedBytes, evaluationBytes)
}

// registry is controller-runtime's, which /metrics serves.
var registry = metrics.Registry

// operationLabel is the operation label of a request: one of the four operations, or
// "invalid" for anything else a client sent.
func operationLabel(op admissionv1.Operation) string {
	switch op {
	case admissionv1.Create, admissionv1.Update, admissionv1.Delete, admissionv1.Connect:
		return string(op)
	}
	return "invalid"
}
