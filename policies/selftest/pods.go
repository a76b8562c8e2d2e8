package selftest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/podguard/podguard/policies/config"
	"github.com/podguard/podguard/policies/engine"
)

// Plan is what the self-test sends and the answers it expects.
type Plan struct {
	Compliant *corev1.Pod
	Violating *corev1.Pod
	// Rule is the rule the violating Pod breaks; Expect holds the violations the engine
	// finds in it, Deny those that refuse it and Warn those that only warn.
	Rule   string
	Expect engine.Decision
}

// Refused says whether the webhook must refuse the violating Pod (else it must admit it
// with warnings).
func (p Plan) Refused() bool { return len(p.Expect.Deny) > 0 }

// NewPlan builds the two Pods for namespace from the engine's configuration and checks
// them with the engine: the compliant one must draw no violation that refuses or warns,
// the violating one must draw at least one. image is the compliant Pod's image; the
// violating one uses its repository with a disallowed tag when it breaks image-tag.
func NewPlan(ctx context.Context, e *engine.Engine, namespace string, nsLabels map[string]string, image string) (Plan, error) {
	cfg := e.Config()
	compliant, err := compliantPod(cfg, namespace, image)
	if err != nil {
		return Plan{}, err
	}
	d, err := evaluate(ctx, e, compliant, nsLabels)
	if err != nil {
		return Plan{}, err
	}
	if found := append(d.Deny, d.Warn...); len(found) > 0 {
		return Plan{}, fmt.Errorf("the Pod built to follow the configuration still breaks it (a custom rule asks for something the self-test cannot know):\n  %s", strings.Join(strs(found), "\n  "))
	}
	var warnOnly *Plan
	for _, b := range breaks(cfg) {
		v := compliant.DeepCopy()
		v.GenerateName = "podguard-selftest-violating-"
		b.apply(v)
		d, err := evaluate(ctx, e, v, nsLabels)
		if err != nil {
			return Plan{}, err
		}
		p := Plan{Compliant: compliant, Violating: v, Rule: b.rule, Expect: d}
		switch {
		case len(d.Deny) > 0:
			return p, nil
		case len(d.Warn) > 0 && warnOnly == nil:
			warnOnly = &p
		}
	}
	if warnOnly != nil {
		return *warnOnly, nil
	}
	return Plan{}, errors.New("no rule the self-test can break (image-tag, liveness-probe, readiness-probe, startup-probe, required-labels) is enforced as deny or warn in this namespace, so a client cannot see podguard's answer")
}

// evaluate judges the Pod as the validating webhook does; a namespace podguard does not
// judge is an error, since the test would prove nothing there.
func evaluate(ctx context.Context, e *engine.Engine, pod *corev1.Pod, nsLabels map[string]string) (engine.Decision, error) {
	raw, err := json.Marshal(pod)
	if err != nil {
		return engine.Decision{}, err
	}
	v, err := e.Review(ctx, engine.Request{
		Operation: engine.Create, Group: "", Version: "v1", Kind: "Pod", Resource: "pods", Namespace: pod.Namespace, Object: engine.BodyOf(raw),
		Cluster: engine.Namespaces{pod.Namespace: {Labels: nsLabels}},
	})
	if err != nil {
		return engine.Decision{}, err
	}
	if v.Skipped != engine.NotSkipped {
		return engine.Decision{}, fmt.Errorf("%s: podguard never judges Pods there, so the test would prove nothing; choose a namespace podguard guards", v.Reason)
	}
	return v.Decision, nil
}

// compliantPod follows every built-in rule that is not off, with its parameters: the
// required labels with values their allowedRegex accepts, requests and limits within the
// minima and maxima (equal, so any limit/request ratio holds), probes with an accepted
// handler, and an image with a tag. It also meets the restricted Pod Security Standard,
// so a namespace that enforces it does not refuse it either.
func compliantPod(cfg *config.Config, namespace, image string) (*corev1.Pod, error) {
	labels, err := requiredLabels(cfg)
	if err != nil {
		return nil, err
	}
	res, err := resources(cfg)
	if err != nil {
		return nil, err
	}
	c := corev1.Container{
		Name:      "app",
		Image:     image,
		Resources: res,
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
	for rule, field := range map[string]**corev1.Probe{
		"liveness-probe": &c.LivenessProbe, "readiness-probe": &c.ReadinessProbe, "startup-probe": &c.StartupProbe,
	} {
		if cfg.Rules[rule] == config.Off {
			continue
		}
		if *field, err = probe(cfg, rule); err != nil {
			return nil, err
		}
	}
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "podguard-selftest-compliant-",
			Namespace:    namespace,
			Labels:       labels,
		},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{c},
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr(int64(0)),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr(true),
				RunAsUser:      ptr(int64(65532)),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
		},
	}, nil
}

// params returns a rule's parameters from the merged configuration.
func params(cfg *config.Config, rule string) map[string]any {
	rules, _ := cfg.Data["rules"].(map[string]any)
	p, _ := rules[rule].(map[string]any)
	return p
}

func stringList(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func requiredLabels(cfg *config.Config) (map[string]string, error) {
	labels := map[string]string{"app.kubernetes.io/name": "podguard-selftest"}
	if cfg.Rules["required-labels"] == config.Off {
		return labels, nil
	}
	var keys []string
	patterns := map[string][]string{}
	list, _ := params(cfg, "required-labels")["labels"].([]any)
	for _, x := range list {
		l, _ := x.(map[string]any)
		key, _ := l["key"].(string)
		if !slices.Contains(keys, key) {
			keys = append(keys, key)
		}
		if re, ok := l["allowedRegex"].(string); ok {
			patterns[key] = append(patterns[key], re)
		}
	}
	for _, key := range keys {
		v, err := labelValue(key, patterns[key])
		if err != nil {
			return nil, err
		}
		labels[key] = v
	}
	return labels, nil
}

// defaultAmount is what the self-test asks for when no minimum or maximum says otherwise:
// little, since nothing runs.
func defaultAmount(name string) string {
	switch {
	case name == "cpu":
		return "10m"
	case name == "memory":
		return "32Mi"
	case name == "ephemeral-storage":
		return "64Mi"
	case strings.HasPrefix(name, "hugepages-"):
		return strings.TrimPrefix(name, "hugepages-") // one page
	}
	return "1" // extended resources are whole numbers
}

// resources sets, for every resource either resource rule lists or bounds, a request
// equal to the limit: within both rules' minima and maxima, and a ratio of 1.
func resources(cfg *config.Config) (corev1.ResourceRequirements, error) {
	var names []string
	lo, hi := map[string]resource.Quantity{}, map[string]resource.Quantity{}
	add := func(n string) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, rule := range []string{"resources-requests", "resources-limits"} {
		if cfg.Rules[rule] == config.Off {
			continue
		}
		p := params(cfg, rule)
		for _, n := range stringList(p["resources"]) {
			add(n)
		}
		for bound, keep := range map[string]func(a, b resource.Quantity) bool{
			"min": func(a, b resource.Quantity) bool { return a.Cmp(b) > 0 },
			"max": func(a, b resource.Quantity) bool { return a.Cmp(b) < 0 },
		} {
			m, _ := p[bound].(map[string]any)
			for n, v := range m {
				q, err := quantity(v)
				if err != nil {
					return corev1.ResourceRequirements{}, fmt.Errorf("rules.%s.%s.%s: %w", rule, bound, n, err)
				}
				add(n)
				target := lo
				if bound == "max" {
					target = hi
				}
				if old, ok := target[n]; !ok || keep(q, old) {
					target[n] = q
				}
			}
		}
	}
	if len(names) == 0 {
		names = []string{"cpu", "memory"}
	}
	slices.Sort(names)
	list := corev1.ResourceList{}
	for _, n := range names {
		q := resource.MustParse(defaultAmount(n))
		if l, ok := lo[n]; ok && q.Cmp(l) < 0 {
			q = l
		}
		if h, ok := hi[n]; ok && q.Cmp(h) > 0 {
			q = h
		}
		if l, ok := lo[n]; ok && q.Cmp(l) < 0 {
			h := hi[n]
			return corev1.ResourceRequirements{}, fmt.Errorf("%s: the configured minimum %s is above the maximum %s", n, l.String(), h.String())
		}
		list[corev1.ResourceName(n)] = q
	}
	return corev1.ResourceRequirements{Requests: list, Limits: list.DeepCopy()}, nil
}

func quantity(v any) (resource.Quantity, error) {
	switch x := v.(type) {
	case string:
		return resource.ParseQuantity(x)
	case float64:
		return resource.ParseQuantity(strconv.FormatFloat(x, 'f', -1, 64))
	}
	return resource.Quantity{}, fmt.Errorf("%v is not a quantity", v)
}

// probe returns a probe with the first handler the rule accepts, in order of preference.
func probe(cfg *config.Config, rule string) (*corev1.Probe, error) {
	accepted := stringList(params(cfg, rule)["handlers"])
	port := intstr.FromInt32(8080)
	for _, h := range []struct {
		name    string
		handler corev1.ProbeHandler
	}{
		{"tcpSocket", corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: port}}},
		{"httpGet", corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: port}}},
		{"exec", corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"/podguard", "version"}}}},
		{"grpc", corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 8080}}},
	} {
		if len(accepted) == 0 || slices.Contains(accepted, h.name) {
			return &corev1.Probe{ProbeHandler: h.handler}, nil
		}
	}
	return nil, fmt.Errorf("rules.%s.handlers %v names no probe handler the self-test knows", rule, accepted)
}

// breakage is one way to break one rule that podguard's mutation cannot repair.
type breakage struct {
	rule  string
	apply func(*corev1.Pod)
}

func breaks(cfg *config.Config) []breakage {
	var out []breakage
	on := func(rule string) bool { return cfg.Rules[rule] != "" && cfg.Rules[rule] != config.Off }
	if on("image-tag") {
		tags := stringList(params(cfg, "image-tag")["disallowedTags"])
		out = append(out, breakage{"image-tag", func(p *corev1.Pod) {
			img := repository(p.Spec.Containers[0].Image)
			if len(tags) > 0 {
				img += ":" + tags[0]
			}
			p.Spec.Containers[0].Image = img
		}})
	}
	for _, b := range []breakage{
		{"liveness-probe", func(p *corev1.Pod) { p.Spec.Containers[0].LivenessProbe = nil }},
		{"readiness-probe", func(p *corev1.Pod) { p.Spec.Containers[0].ReadinessProbe = nil }},
		{"startup-probe", func(p *corev1.Pod) { p.Spec.Containers[0].StartupProbe = nil }},
		{"required-labels", func(p *corev1.Pod) { p.Labels = nil }},
	} {
		if on(b.rule) {
			out = append(out, b)
		}
	}
	return out
}

// repository strips the digest and the tag from an image reference.
func repository(image string) string {
	image, _, _ = strings.Cut(image, "@")
	slash := strings.LastIndex(image, "/")
	if colon := strings.LastIndex(image, ":"); colon > slash {
		image = image[:colon]
	}
	return image
}

func strs(vs []engine.Violation) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.String()
	}
	return out
}

func ptr[T any](v T) *T { return &v }
