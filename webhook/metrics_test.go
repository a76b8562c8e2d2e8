package webhook

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
)

// scrape returns /metrics: its size and its series (lines that are not comments).
func scrape(t *testing.T, s *testServer) (size int, series []string) {
	t.Helper()
	code, body := get(t, s.metrics+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, line := range strings.Split(body, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			name, _, _ := strings.Cut(line, " ")
			series = append(series, name)
		}
	}
	return len(body), series
}

// TestJunkOperationsAddNoSeries: the operation label takes its values from a fixed set,
// so reviews with operations nobody sends (refused with 400) all count under
// operation="invalid": a thousand distinct ones add no series, and /metrics does not grow
// with what they carry.
func TestJunkOperationsAddNoSeries(t *testing.T) {
	// No reload ticks: a reload adds the series of its result.
	s := startServer(t, t.Context(), Options{ReloadInterval: 1 << 62})
	review := readRequest(t, "pod-create-compliant")
	junk := func(i, size int) []byte {
		op := fmt.Sprintf("JUNK-%d-", i)
		op += strings.Repeat("x", size-len(op))
		return bytes.Replace(review, []byte(`"operation": "CREATE"`), []byte(`"operation": "`+op+`"`), 1)
	}
	if !bytes.Contains(junk(0, 20), []byte("JUNK-0-")) {
		t.Fatal("the fixture has no CREATE operation to replace")
	}
	post := func(path string, body []byte) {
		t.Helper()
		resp := response(normalize(t, s.post(t, path, body)))
		st, _ := resp["status"].(map[string]any)
		if resp["allowed"] != false || st["code"] != float64(400) || !strings.HasPrefix(st["message"].(string), `request.operation "JUNK-`) {
			t.Fatalf("junk operation answered %v, want a 400 naming the operation", resp)
		}
	}

	invalid := []string{
		`podguard_decisions_total{decision="error",operation="invalid",webhook="validate"}`,
		`podguard_decisions_total{decision="error",operation="invalid",webhook="mutate"}`,
	}
	invalidBefore := []float64{metricValue(t, s, invalid[0]), metricValue(t, s, invalid[1])}
	sizeBefore, _ := scrape(t, s)
	// 300 reviews with 10 KB operations: were the operation a label value, each would
	// add a series of 10 KB.
	for i := range 300 {
		post([]string{"/validate", "/mutate"}[i%2], junk(i, 10<<10))
	}
	sizeAfter, series := scrape(t, s)
	t.Logf("/metrics: %d bytes before, %d after 300 junk operations", sizeBefore, sizeAfter)
	if sizeAfter-sizeBefore >= 64<<10 {
		t.Errorf("/metrics grew by %d bytes, want less than 64 KiB", sizeAfter-sizeBefore)
	}
	for i, series := range invalid {
		if v := metricValue(t, s, series); v != invalidBefore[i]+150 {
			t.Errorf("%s = %v, want %v", series, v, invalidBefore[i]+150)
		}
	}

	for i := range 1000 {
		post([]string{"/validate", "/mutate"}[i%2], junk(300+i, 64))
	}
	_, seriesAfter := scrape(t, s)
	if len(seriesAfter) != len(series) {
		t.Errorf("%d series after 1,000 more distinct junk operations, want %d as before", len(seriesAfter), len(series))
	}
}

func TestOperationLabel(t *testing.T) {
	for op, want := range map[string]string{
		"CREATE": "CREATE", "UPDATE": "UPDATE", "DELETE": "DELETE", "CONNECT": "CONNECT",
		"": "invalid", "create": "invalid", "PATCH": "invalid", "CREATE ": "invalid", strings.Repeat("x", 100): "invalid",
	} {
		if got := operationLabel(admissionv1.Operation(op)); got != want {
			t.Errorf("operationLabel(%q) = %q, want %q", op, got, want)
		}
	}
}
