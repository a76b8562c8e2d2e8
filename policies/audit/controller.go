package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"golang.org/x/time/rate"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/podguard/podguard/policies/engine"
	"github.com/podguard/podguard/policies/report"
)

// judged are the kinds Review judges: those `podguard audit` lists, in this order, and the
// controller watches.
var judged = []struct {
	apiVersion, kind, resource string
	object                     client.Object
	list                       client.ObjectList
}{
	{"v1", "Pod", "pods", &corev1.Pod{}, &corev1.PodList{}},
	{"apps/v1", "Deployment", "deployments", &appsv1.Deployment{}, &appsv1.DeploymentList{}},
	{"apps/v1", "StatefulSet", "statefulsets", &appsv1.StatefulSet{}, &appsv1.StatefulSetList{}},
	{"apps/v1", "DaemonSet", "daemonsets", &appsv1.DaemonSet{}, &appsv1.DaemonSetList{}},
	{"apps/v1", "ReplicaSet", "replicasets", &appsv1.ReplicaSet{}, &appsv1.ReplicaSetList{}},
	{"v1", "ReplicationController", "replicationcontrollers", &corev1.ReplicationController{}, &corev1.ReplicationControllerList{}},
	{"batch/v1", "Job", "jobs", &batchv1.Job{}, &batchv1.JobList{}},
	{"batch/v1", "CronJob", "cronjobs", &batchv1.CronJob{}, &batchv1.CronJobList{}},
}

// Policies is the policy set the controller judges with, swapped on a configuration
// change; each swap re-audits every namespace.
type Policies struct {
	mu      sync.Mutex
	current *engine.Engine
	changed chan event.GenericEvent
}

// NewPolicies returns a set holding e.
func NewPolicies(e *engine.Engine) *Policies {
	return &Policies{current: e, changed: make(chan event.GenericEvent, 1)}
}

// Get returns the set to judge with.
func (p *Policies) Get() *engine.Engine {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.current
}

// Set swaps in a new set and asks for every namespace to be judged again.
func (p *Policies) Set(e *engine.Engine) {
	p.mu.Lock()
	p.current = e
	p.mu.Unlock()
	select {
	case p.changed <- event.GenericEvent{Object: &corev1.Namespace{}}:
	default: // a re-audit is already pending; it will read the new set
	}
}

// Scheme holds the kinds the controller reads and writes.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, openreports.Install} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// CacheOptions keep in memory only what the rules read: the judged kinds without status,
// managed fields or kubectl's copy of the last applied object; Namespaces by name and
// labels; LimitRanges; and podguard's own Reports.
func CacheOptions() cache.Options {
	byObject := map[client.Object]cache.ByObject{
		&corev1.Namespace{}:   {Transform: namespaceOnly},
		&corev1.LimitRange{}:  {Transform: stripMetadata},
		&openreports.Report{}: {Label: labels.SelectorFromSet(labels.Set{"app.kubernetes.io/managed-by": report.ManagedBy})},
	}
	for _, k := range judged {
		byObject[k.object] = cache.ByObject{Transform: stripObject}
	}
	return cache.Options{ByObject: byObject}
}

func stripMetadata(obj any) (any, error) {
	if o, ok := obj.(client.Object); ok {
		o.SetManagedFields(nil)
		if a := o.GetAnnotations(); a != nil {
			delete(a, corev1.LastAppliedConfigAnnotation)
		}
	}
	return obj, nil
}

// stripObject drops what no rule reads: the status of every judged kind, and the pod spec
// of an object made by a controller podguard judges, which Review leaves to that
// controller's verdict (in most clusters, most Pods, ReplicaSets and Jobs).
func stripObject(obj any) (any, error) {
	owned := false
	if o, ok := obj.(client.Object); ok {
		if ref := metav1.GetControllerOfNoCopy(o); ref != nil {
			owned = engine.Supported(engine.Group(ref.APIVersion), ref.Kind)
		}
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		o.Status = corev1.PodStatus{}
		if owned {
			o.Spec = corev1.PodSpec{}
		}
	case *appsv1.Deployment:
		o.Status = appsv1.DeploymentStatus{}
	case *appsv1.StatefulSet:
		o.Status = appsv1.StatefulSetStatus{}
	case *appsv1.DaemonSet:
		o.Status = appsv1.DaemonSetStatus{}
	case *appsv1.ReplicaSet:
		o.Status = appsv1.ReplicaSetStatus{}
		if owned {
			o.Spec.Template = corev1.PodTemplateSpec{}
		}
	case *corev1.ReplicationController:
		o.Status = corev1.ReplicationControllerStatus{}
	case *batchv1.Job:
		o.Status = batchv1.JobStatus{}
		if owned {
			o.Spec.Template = corev1.PodTemplateSpec{}
		}
	case *batchv1.CronJob:
		o.Status = batchv1.CronJobStatus{}
	}
	return stripMetadata(obj)
}

func namespaceOnly(obj any) (any, error) {
	if ns, ok := obj.(*corev1.Namespace); ok {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns.Name, UID: ns.UID, ResourceVersion: ns.ResourceVersion, Labels: ns.Labels}}, nil
	}
	return obj, nil
}

// ControllerOptions tune the controller.
type ControllerOptions struct {
	// Rate bounds the objects judged per second (not those whose verdict is remembered);
	// 0 means 1000.
	Rate float64
	// Delay gathers the events of a namespace for this long before it is judged again, so a
	// burst of changes costs one pass; 0 means one second.
	Delay time.Duration
	// FieldOwner names the writer of the reports (the replica's identity).
	FieldOwner string
}

// AddController registers the audit controller with mgr (whose cache must use
// CacheOptions and whose scheme Scheme). It reconciles namespaces: every judged object in
// the namespace, with the namespace's labels and LimitRanges, decided by engine.Review as
// `podguard audit` decides it, into the namespace's Report. Only the elected leader runs
// it.
func AddController(mgr manager.Manager, p *Policies, o ControllerOptions) error {
	if o.Rate == 0 {
		o.Rate = 1000
	}
	if o.Delay == 0 {
		o.Delay = time.Second
	}
	if o.FieldOwner == "" {
		o.FieldOwner = "podguard-audit"
	}
	r := &reconciler{
		client:   mgr.GetClient(),
		policies: p,
		limiter:  rate.NewLimiter(rate.Limit(o.Rate), max(1, int(o.Rate))),
		owner:    o.FieldOwner,
		memo:     map[string]*namespaceMemo{},
		counts:   map[string]map[ruleKey]int{},
	}
	delayed := func(ns func(client.Object) string) handler.TypedEventHandler[client.Object, reconcile.Request] {
		return handler.TypedFuncs[client.Object, reconcile.Request]{
			CreateFunc: func(_ context.Context, e event.TypedCreateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				q.AddAfter(request(ns(e.Object)), o.Delay)
			},
			UpdateFunc: func(_ context.Context, e event.TypedUpdateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				q.AddAfter(request(ns(e.ObjectNew)), o.Delay)
			},
			DeleteFunc: func(_ context.Context, e event.TypedDeleteEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				q.AddAfter(request(ns(e.Object)), o.Delay)
			},
		}
	}
	inNamespace := func(o client.Object) string { return o.GetNamespace() }
	b := builder.ControllerManagedBy(mgr).
		Named("podguard-audit").
		WithOptions(controller.Options{MaxConcurrentReconciles: 2}).
		Watches(&corev1.Namespace{}, delayed(func(o client.Object) string { return o.GetName() })).
		Watches(&corev1.LimitRange{}, delayed(inNamespace)).
		Watches(&openreports.Report{}, delayed(inNamespace)).
		WatchesRawSource(source.Channel(p.changed, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
			var list corev1.NamespaceList
			if err := mgr.GetCache().List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
				log.FromContext(ctx).Error(err, "listing namespaces to judge them again")
				return nil
			}
			out := make([]reconcile.Request, len(list.Items))
			for i, ns := range list.Items {
				out[i] = request(ns.Name)
			}
			return out
		})))
	for _, k := range judged {
		b = b.Watches(k.object, delayed(inNamespace))
	}
	return b.Complete(r)
}

func request(namespace string) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Name: namespace}}
}

type reconciler struct {
	client   client.Client
	policies *Policies
	limiter  *rate.Limiter
	owner    string

	mu sync.Mutex
	// memo keeps each namespace's verdicts, so an event judges only what changed.
	memo map[string]*namespaceMemo
	// counts are the violating objects of each namespace by rule and enforcement; their
	// sums are the metric.
	counts map[string]map[ruleKey]int
	sums   map[ruleKey]int
}

type namespaceMemo struct {
	// key is the revision of the policy set, the namespace's and its LimitRanges'
	// resourceVersions: any change judges every object again.
	key     string
	objects map[types.UID]memoEntry
}

type memoEntry struct {
	resourceVersion string
	object          report.Object
	violations      []ruleKey
}

type ruleKey struct{ rule, enforcement string }

// Reconcile judges one namespace and writes, updates or deletes its Report.
func (r *reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	name := req.Name
	e := r.policies.Get()
	if e == nil {
		return reconcile.Result{}, errors.New("no policy set is loaded")
	}
	var ns corev1.Namespace
	if err := r.client.Get(ctx, client.ObjectKey{Name: name}, &ns); err != nil {
		if !apierrors.IsNotFound(err) {
			return reconcile.Result{}, err
		}
		r.forget(name)
		return reconcile.Result{}, nil
	}
	var ranges corev1.LimitRangeList
	if err := r.client.List(ctx, &ranges, client.InNamespace(name)); err != nil {
		return reconcile.Result{}, err
	}
	key := e.Revision() + "/" + ns.ResourceVersion
	for _, lr := range ranges.Items {
		key += "/" + lr.ResourceVersion
	}
	cluster := engine.Namespaces{name: {Labels: ns.Labels, LimitRanges: ranges.Items}}
	r.mu.Lock()
	old := r.memo[name]
	r.mu.Unlock()
	if old == nil || old.key != key {
		old = &namespaceMemo{}
	}
	next := &namespaceMemo{key: key, objects: map[types.UID]memoEntry{}}
	at := time.Now()
	for _, k := range judged {
		list := k.list.DeepCopyObject().(client.ObjectList)
		if err := r.client.List(ctx, list, client.InNamespace(name), client.UnsafeDisableDeepCopy); err != nil {
			return reconcile.Result{}, err
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return reconcile.Result{}, err
		}
		for _, item := range items {
			obj := item.(client.Object)
			if m, ok := old.objects[obj.GetUID()]; ok && m.resourceVersion == obj.GetResourceVersion() {
				next.objects[obj.GetUID()] = m
				continue
			}
			if err := r.limiter.Wait(ctx); err != nil {
				return reconcile.Result{}, err
			}
			next.objects[obj.GetUID()] = r.judge(ctx, e, cluster, k.apiVersion, k.kind, obj, at)
		}
	}
	objects := make([]report.Object, 0, len(next.objects))
	counts := map[ruleKey]int{}
	for _, m := range next.objects {
		objects = append(objects, m.object)
		for _, v := range m.violations {
			counts[v]++
		}
	}
	r.mu.Lock()
	r.memo[name] = next
	r.mu.Unlock()
	if err := r.write(ctx, name, report.New(name, objects)); err != nil {
		return reconcile.Result{}, err
	}
	r.setCounts(name, counts)
	return reconcile.Result{}, nil
}

// judge decides one object with engine.Review, as `podguard audit` does.
func (r *reconciler) judge(ctx context.Context, e *engine.Engine, cluster engine.Cluster, apiVersion, kind string, obj client.Object, at time.Time) memoEntry {
	ref := corev1.ObjectReference{APIVersion: apiVersion, Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID()}
	raw, err := objectJSON(apiVersion, kind, obj)
	var v engine.Verdict
	if err == nil {
		v, err = e.Review(ctx, engine.Request{Source: engine.Stored, Operation: engine.Create, Namespace: obj.GetNamespace(), Object: engine.BodyOf(raw), Cluster: cluster})
	}
	judgedTotal.Inc()
	m := memoEntry{resourceVersion: obj.GetResourceVersion(), object: report.Judge(report.Entry{Ref: ref, Verdict: v, Err: err}, at)}
	if err != nil || v.Skipped != engine.NotSkipped {
		return m
	}
	seen := map[ruleKey]bool{}
	for _, x := range v.Decision.All() {
		k := ruleKey{x.Rule, x.Enforcement}
		if !seen[k] {
			seen[k] = true
			m.violations = append(m.violations, k)
		}
	}
	return m
}

// objectJSON is the object as the API server serves it: objects in the cache carry no
// apiVersion and kind, which Review reads first.
func objectJSON(apiVersion, kind string, obj client.Object) ([]byte, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	if obj.GetObjectKind().GroupVersionKind().Kind != "" || !bytes.HasPrefix(b, []byte("{")) {
		return b, nil
	}
	head := fmt.Sprintf(`{"apiVersion":%q,"kind":%q,`, apiVersion, kind)
	return append([]byte(head), b[1:]...), nil
}

// write makes the namespace's Report say what want says: created, updated when its
// results or summary change, deleted when there is nothing to report.
func (r *reconciler) write(ctx context.Context, namespace string, want *openreports.Report) error {
	var have openreports.Report
	err := r.client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: report.Name}, &have)
	switch {
	case apierrors.IsNotFound(err):
		if want == nil {
			return nil
		}
		err = r.client.Create(ctx, want, client.FieldOwner(r.owner))
		if apierrors.IsAlreadyExists(err) || apierrors.IsNotFound(err) {
			// Created since the cache was read, or the namespace is going away: judged
			// again on the next event.
			return nil
		}
		return err
	case err != nil:
		return err
	case want == nil:
		return client.IgnoreNotFound(r.client.Delete(ctx, &have, client.Preconditions{UID: &have.UID}))
	case report.Equal(&have, want):
		return nil
	}
	want.ResourceVersion = have.ResourceVersion
	want.UID = have.UID
	return r.client.Update(ctx, want, client.FieldOwner(r.owner))
}

func (r *reconciler) forget(namespace string) {
	r.mu.Lock()
	delete(r.memo, namespace)
	r.mu.Unlock()
	r.setCounts(namespace, nil)
}
