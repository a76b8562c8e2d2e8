package harness

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// Namespace is where podguard itself runs; like the chart's release namespace it is never
// intercepted, so podguard can always restart itself.
const Namespace = "podguard-system"

// ConfigName names both webhook configurations.
const ConfigName = "podguard"

// TimeoutSeconds is the webhook timeout: the longest the API server allows, so that a
// busy machine slows the tests without failing them. podguard's --eval-timeout
// (TimeoutSeconds-5) stays below it, so podguard answers with an error before the API
// server gives up on it.
const TimeoutSeconds = 30

// excludedNamespaces are never sent to podguard, so a broken podguard can never stop the
// control plane or podguard's own Pods.
var excludedNamespaces = []string{"kube-system", "kube-public", "kube-node-lease", Namespace}

// workloadRules are the pod controllers whose templates the validating webhook checks.
var workloadRules = []admissionregistrationv1.RuleWithOperations{
	rule([]string{"apps"}, []string{"deployments", "statefulsets", "daemonsets", "replicasets"}, create, update),
	rule([]string{""}, []string{"replicationcontrollers"}, create, update),
	rule([]string{"batch"}, []string{"jobs", "cronjobs"}, create, update),
}

var (
	create = admissionregistrationv1.Create
	update = admissionregistrationv1.Update
)

func rule(groups, resources []string, ops ...admissionregistrationv1.OperationType) admissionregistrationv1.RuleWithOperations {
	scope := admissionregistrationv1.NamespacedScope
	return admissionregistrationv1.RuleWithOperations{
		Operations: ops,
		Rule: admissionregistrationv1.Rule{
			APIGroups: groups, APIVersions: []string{"*"}, Resources: resources, Scope: &scope,
		},
	}
}

// Webhooks returns the validating and mutating configurations for a podguard served at
// url, as the chart registers them.
func Webhooks(url string, caBundle []byte, policy admissionregistrationv1.FailurePolicyType) (*admissionregistrationv1.ValidatingWebhookConfiguration, *admissionregistrationv1.MutatingWebhookConfiguration) {
	none := admissionregistrationv1.SideEffectClassNone
	equivalent := admissionregistrationv1.Equivalent
	ifNeeded := admissionregistrationv1.IfNeededReinvocationPolicy
	timeout := int32(TimeoutSeconds)
	selector := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: excludedNamespaces,
	}}}
	client := func(path string) admissionregistrationv1.WebhookClientConfig {
		u := url + path
		return admissionregistrationv1.WebhookClientConfig{URL: &u, CABundle: caBundle}
	}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: ConfigName},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:         "validate.podguard.io",
			ClientConfig: client("/validate"),
			Rules: append([]admissionregistrationv1.RuleWithOperations{
				rule([]string{""}, []string{"pods"}, create, update),
				rule([]string{""}, []string{"pods/ephemeralcontainers", "pods/resize"}, update),
			}, workloadRules...),
			FailurePolicy:           &policy,
			MatchPolicy:             &equivalent,
			NamespaceSelector:       selector,
			SideEffects:             &none,
			TimeoutSeconds:          &timeout,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: ConfigName},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "mutate.podguard.io",
			ClientConfig:            client("/mutate"),
			Rules:                   []admissionregistrationv1.RuleWithOperations{rule([]string{""}, []string{"pods"}, create)},
			FailurePolicy:           &policy,
			MatchPolicy:             &equivalent,
			NamespaceSelector:       selector,
			SideEffects:             &none,
			TimeoutSeconds:          &timeout,
			AdmissionReviewVersions: []string{"v1"},
			ReinvocationPolicy:      &ifNeeded,
		}},
	}
	return validating, mutating
}

// Register creates or replaces both configurations. The API server picks up webhook
// configurations through an informer, so Register waits until a probe request shows the
// new registration is in force (probe is called until it returns nil).
func Register(ctx context.Context, cs kubernetes.Interface, v *admissionregistrationv1.ValidatingWebhookConfiguration, m *admissionregistrationv1.MutatingWebhookConfiguration, probe func(context.Context) error) error {
	if err := Unregister(ctx, cs, nil); err != nil {
		return err
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, v, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, m, metav1.CreateOptions{}); err != nil {
		return err
	}
	return waitFor(ctx, probe)
}

// GetWebhooks reads the validating and the mutating webhook configuration of that name,
// as a release of the chart writes both.
func GetWebhooks(ctx context.Context, cs kubernetes.Interface, name string) (*admissionregistrationv1.ValidatingWebhookConfiguration, *admissionregistrationv1.MutatingWebhookConfiguration, error) {
	v, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, nil, err
	}
	m, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, nil, err
	}
	return v, m, nil
}

// ServiceAddress is the cluster IP and port (named port) of the Service namespace/name,
// as host:port: what the API server asks the egress proxy for when it calls the webhook.
func ServiceAddress(ctx context.Context, cs kubernetes.Interface, namespace, name, port string) (string, error) {
	svc, err := cs.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	for _, p := range svc.Spec.Ports {
		if p.Name == port {
			return net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(p.Port))), nil
		}
	}
	return "", fmt.Errorf("the Service %s/%s has no port %s", namespace, name, port)
}

// Unregister deletes both configurations and, when probe is given, waits until it passes.
func Unregister(ctx context.Context, cs kubernetes.Interface, probe func(context.Context) error) error {
	err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, ConfigName, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	err = cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, ConfigName, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return waitFor(ctx, probe)
}

func waitFor(ctx context.Context, probe func(context.Context) error) error {
	if probe == nil {
		return nil
	}
	var last error
	// No bound of its own: the API server's informer takes what the machine gives it,
	// and ctx (the test's) is the bound.
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		last = probe(ctx)
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("registration not in force: %v (last probe: %v)", err, last)
	}
	return nil
}
