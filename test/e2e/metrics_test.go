package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podguard/podguard/test/chart"
	"github.com/podguard/podguard/test/harness"
)

// TestMetricsNeedAuthorisation: with --metrics-secure (the chart's default), podguard runs
// as the chart's ServiceAccount with the chart's ClusterRole, and asks the API server
// about every caller of /metrics: a token bound to the chart's metrics-reader ClusterRole
// gets the metrics, a valid token without that binding gets 403 naming its user, and no
// token or a token the API server does not know gets 401. A scraper's decision is kept:
// scraping again makes no TokenReview. No token reaches the log, not even at debug level,
// where refusals are logged.
func TestMetricsNeedAuthorisation(t *testing.T) {
	ctx := t.Context()
	ns := namespace(t)
	// A release name of this test's, so its cluster-wide objects meet no others.
	const release = "podguard-metrics-test"
	rel, err := chart.Render(ctx, chart.Options{ReleaseName: release, Namespace: ns, Values: map[string]any{
		"metrics": map[string]any{"readers": []any{map[string]any{"kind": "ServiceAccount", "name": "prometheus"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// The chart's identity and permissions only: podguard itself runs here as a process.
	var applied []string
	for _, o := range rel.Objects {
		switch o.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding":
			u := o.Unstructured.DeepCopy()
			if err := env.cluster.Client.Create(ctx, u); err != nil {
				t.Fatalf("create %s %s: %v", o.GetKind(), o.GetName(), err)
			}
			if o.GetNamespace() == "" {
				t.Cleanup(func() {
					_ = env.cluster.Client.Delete(t.Context(), u)
				})
			}
			applied = append(applied, o.GetKind()+"/"+o.GetName())
		}
	}
	t.Logf("applied %v", applied)
	for _, name := range []string{"prometheus", "nobody"} {
		if _, err := env.cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	token := func(sa string) string {
		t.Helper()
		token, err := harness.ServiceAccountToken(ctx, env.cs, ns, sa)
		if err != nil {
			t.Fatal(err)
		}
		return token
	}

	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "podguard.kubeconfig")
	if err := harness.WriteServiceAccountKubeconfig(ctx, env.cluster.RestConfig(), ns, release, kubeconfig); err != nil {
		t.Fatal(err)
	}
	pg := harness.StartForTest(t, harness.Options{Dir: dir, Kubeconfig: kubeconfig, Args: []string{"--metrics-secure", "--zap-log-level=debug"}})
	if !strings.HasPrefix(pg.MetricsURL, "https://") {
		t.Fatalf("metrics at %s, want HTTPS", pg.MetricsURL)
	}

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pg.CABundle)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	scrape := func(bearer string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, pg.MetricsURL+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	prometheus, nobody := token("prometheus"), token("nobody")
	cases := map[string]struct {
		bearer string
		code   int
		body   string
	}{
		"a token bound to the metrics-reader ClusterRole": {prometheus, http.StatusOK, "# TYPE podguard_policy_reloads_total counter"},
		"a token without that binding":                    {nobody, http.StatusForbidden, fmt.Sprintf(`Forbidden: user "system:serviceaccount:%s:nobody" may not get /metrics`, ns)},
		"no token":                                        {"", http.StatusUnauthorized, "Unauthorized: send a bearer token"},
		"a token the API server does not know":            {"not-a-token", http.StatusUnauthorized, "Unauthorized: the API server does not accept the token"},
	}
	for desc, c := range cases {
		t.Run(desc, func(t *testing.T) {
			code, body := scrape(c.bearer)
			if code != c.code || !strings.Contains(body, c.body) {
				t.Errorf("GET /metrics: %d %.200q, want %d with %q", code, body, c.code, c.body)
			}
		})
	}
	reviews := tokenReviews(t)
	for range 3 {
		if code, _ := scrape(prometheus); code != http.StatusOK {
			t.Errorf("scraping again: %d, want 200", code)
		}
	}
	if n := tokenReviews(t); n != reviews {
		t.Errorf("scraping again with the same token made %v TokenReviews, want none (the decision is kept for a minute)", n-reviews)
	}

	b, err := os.ReadFile(pg.Log)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{prometheus, nobody, "not-a-token"} {
		if strings.Contains(string(b), tok) {
			t.Errorf("podguard logged a caller's token %.12q...", tok)
		}
	}
	if !strings.Contains(string(b), fmt.Sprintf(`"msg":"metrics caller refused","code":403,"user":"system:serviceaccount:%s:nobody"`, ns)) {
		t.Errorf("the refusal of nobody is not logged at debug level")
	}
	if t.Failed() {
		t.Logf("podguard log:\n%s", b)
	}
}

// tokenReviews is the number of TokenReview requests the API server has served, from its
// own metrics.
func tokenReviews(t *testing.T) float64 {
	t.Helper()
	n, err := harness.TokenReviews(t.Context(), env.cs)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("the API server counts no TokenReview requests")
	}
	return n
}
