package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/podguard/podguard/policies/engine"
	"github.com/podguard/podguard/policies/report"
)

// Exit codes of `podguard audit`.
const (
	ExitClean      = 0 // nothing violates the policies
	ExitViolations = 1 // at least one object violates a rule
	ExitError      = 2 // bad flags, unreachable cluster, broken policies
)

// Finding is one violation of one stored object.
type Finding struct {
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	engine.Violation
}

// Write writes the findings as a table (grouped by namespace and rule) or, with format
// "json", as {namespace: {rule: [findings]}}.
func Write(w io.Writer, findings []Finding, format string) error {
	if format == "json" {
		return writeJSON(w, findings)
	}
	return writeTable(w, findings)
}

// Run judges every stored Pod and workload (Judge) and lists their violations, ordered by
// namespace, rule and object.
func Run(ctx context.Context, e *engine.Engine, dc dynamic.Interface, namespace string) ([]Finding, error) {
	entries, err := Judge(ctx, e, dc, namespace)
	if err != nil {
		return nil, err
	}
	var out []Finding
	for _, x := range entries {
		if x.Verdict.Skipped != engine.NotSkipped {
			continue
		}
		for _, v := range x.Verdict.Decision.All() {
			out = append(out, Finding{Namespace: x.Ref.Namespace, Kind: x.Ref.Kind, Name: x.Ref.Name, Violation: v})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Kind+"/"+a.Name < b.Kind+"/"+b.Name
	})
	return out, nil
}

// Judge judges every stored Pod and workload the way admission would today: a Pod as
// stored, a workload by its template with the namespace's LimitRanges and podguard's
// defaults applied. Objects made by a controller podguard judges are left to that
// controller (their verdict is SkipOwned), so a Deployment's problem is listed once, not
// once per Pod.
func Judge(ctx context.Context, e *engine.Engine, dc dynamic.Interface, namespace string) ([]report.Entry, error) {
	ranges, err := limitRanges(ctx, dc, namespace)
	if err != nil {
		return nil, err
	}
	namespaces, err := namespaceLabels(ctx, dc)
	if err != nil {
		return nil, err
	}
	for name, lr := range ranges {
		ns := namespaces[name]
		ns.LimitRanges = lr
		namespaces[name] = ns
	}
	var out []report.Entry
	for _, k := range judged {
		gvr := schema.FromAPIVersionAndKind(k.apiVersion, k.kind).GroupVersion().WithResource(k.resource)
		list, err := dc.Resource(gvr).Namespace(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", gvr.Resource, err)
		}
		for _, item := range list.Items {
			raw, err := item.MarshalJSON()
			if err != nil {
				return nil, err
			}
			v, err := e.Review(ctx, engine.Request{Source: engine.Stored, Operation: engine.Create, Namespace: item.GetNamespace(), Object: engine.BodyOf(raw), Cluster: namespaces})
			if err != nil {
				return nil, fmt.Errorf("%s %s/%s: %w", item.GetKind(), item.GetNamespace(), item.GetName(), err)
			}
			ref := corev1.ObjectReference{APIVersion: item.GetAPIVersion(), Kind: item.GetKind(), Namespace: item.GetNamespace(), Name: item.GetName(), UID: item.GetUID()}
			out = append(out, report.Entry{Ref: ref, Verdict: v})
		}
	}
	return out, nil
}

func namespaceLabels(ctx context.Context, dc dynamic.Interface) (engine.Namespaces, error) {
	list, err := dc.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing namespaces: %w", err)
	}
	out := engine.Namespaces{}
	for _, item := range list.Items {
		out[item.GetName()] = engine.Namespace{Labels: item.GetLabels()}
	}
	return out, nil
}

func limitRanges(ctx context.Context, dc dynamic.Interface, namespace string) (map[string][]corev1.LimitRange, error) {
	list, err := dc.Resource(schema.GroupVersionResource{Version: "v1", Resource: "limitranges"}).Namespace(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing limitranges: %w", err)
	}
	out := map[string][]corev1.LimitRange{}
	for _, item := range list.Items {
		var lr corev1.LimitRange
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(item.Object, &lr); err != nil {
			return nil, err
		}
		out[lr.Namespace] = append(out[lr.Namespace], lr)
	}
	return out, nil
}

// writeTable prints the findings grouped by namespace and rule.
func writeTable(w io.Writer, findings []Finding) error {
	if len(findings) == 0 {
		_, err := fmt.Fprintln(w, "No Pod or workload violates the policies.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tRULE\tENFORCEMENT\tOBJECT\tVIOLATION")
	objects := map[string]bool{}
	for _, f := range findings {
		msg := f.Message + " (" + f.Field + ")"
		if f.Container != "" {
			msg = fmt.Sprintf("container %q: %s", f.Container, msg)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s/%s\t%s\n", f.Namespace, f.Rule, f.Enforcement, f.Kind, f.Name, msg)
		objects[f.Namespace+"/"+f.Kind+"/"+f.Name] = true
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d violations in %d objects. By rule: %s\n", len(findings), len(objects), byRule(findings))
	return err
}

func byRule(findings []Finding) string {
	counts := map[string]int{}
	for _, f := range findings {
		counts[f.Rule+" ("+f.Enforcement+")"]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, counts[k])
	}
	return strings.Join(parts, ", ")
}

// writeJSON writes {namespace: {rule: [findings]}}.
func writeJSON(w io.Writer, findings []Finding) error {
	grouped := map[string]map[string][]Finding{}
	for _, f := range findings {
		if grouped[f.Namespace] == nil {
			grouped[f.Namespace] = map[string][]Finding{}
		}
		grouped[f.Namespace][f.Rule] = append(grouped[f.Namespace][f.Rule], f)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"namespaces": grouped, "total": len(findings)})
}
