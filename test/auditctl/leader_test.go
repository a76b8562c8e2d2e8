package auditctl

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// writers are the field managers that wrote the namespace's Report.
func writers(ctx context.Context, namespace string) (map[string]bool, error) {
	var r openreports.Report
	if err := env.reports.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "podguard"}, &r); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	out := map[string]bool{}
	for _, m := range r.ManagedFields {
		out[m.Manager] = true
	}
	return out, nil
}

func lease(ctx context.Context) (*coordinationv1.Lease, error) {
	return env.Clientset.CoordinationV1().Leases("default").Get(ctx, "podguard-audit", metav1.GetOptions{})
}

// TestOneReplicaWrites runs two replicas: only the elected one writes reports; killed, the
// other takes the Lease once it expires (within the lease duration and two retry polls of
// the last renewal) and writes from then on.
func TestOneReplicaWrites(t *testing.T) {
	ctx := t.Context()
	const leaseDuration = 4 * time.Second
	const retryPeriod = leaseDuration / 5 // as podguard audit --watch derives it
	createNamespace(t, "audit-le")
	pods := env.Clientset.CoreV1().Pods("audit-le")
	if _, err := pods.Create(ctx, pod("first", true), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(t.TempDir(), "config.yaml")
	writeConfig(t, config, "{}\n")
	replicas := map[string]*controller{
		"replica-a": startController(t, "replica-a", config, leaseDuration),
		"replica-b": startController(t, "replica-b", config, leaseDuration),
	}
	rules := []string{"image-tag", "liveness-probe", "readiness-probe"}
	waitReport(t, "audit-le", violations("Pod/first", "fail", "deny", rules...), true)
	l, err := lease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leader := *l.Spec.HolderIdentity
	other := map[string]string{"replica-a": "replica-b", "replica-b": "replica-a"}[leader]
	if other == "" {
		t.Fatalf("lease held by %q, not by a replica", leader)
	}
	w, err := writers(ctx, "audit-le")
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != 1 || !w[leader] {
		t.Fatalf("report written by %v, want the leader %s alone", w, leader)
	}

	replicas[leader].kill()
	// The leader's last renewal, now that it renews no more.
	l, err = lease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lastRenew := l.Spec.RenewTime.Time
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		l, err = lease(ctx)
		return err == nil && *l.Spec.HolderIdentity == other, err
	})
	if err != nil {
		t.Fatalf("the lease stayed with %s after it was killed: %v", leader, err)
	}
	// Times in the Lease are the replicas' own clocks, on this one machine. client-go's
	// follower polls every retry period with up to 120% jitter: it sees the last renewal
	// at most one poll late, and the expiry one poll after the lease duration has passed
	// since; a second of margin for the microsecond times and the write.
	poll := retryPeriod * 22 / 10
	if took, bound := l.Spec.AcquireTime.Sub(lastRenew), leaseDuration+2*poll+time.Second; took > bound {
		t.Errorf("%s took the lease %v after %s last renewed it, want at most %v (lease duration %v, two polls of %v)", other, took, leader, bound, leaseDuration, poll)
	} else {
		t.Logf("%s took the lease %v after %s last renewed it (lease duration %v)", other, took, leader, leaseDuration)
	}
	if _, err := pods.Create(ctx, pod("second", true), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitReport(t, "audit-le", append(violations("Pod/first", "fail", "deny", rules...), violations("Pod/second", "fail", "deny", rules...)...), true)
	if w, err = writers(ctx, "audit-le"); err != nil {
		t.Fatal(err)
	}
	if !w[other] {
		t.Errorf("report written by %v after the take-over, want %s among them", w, other)
	}
}
