package engine_test

import (
	"errors"
	"testing"

	"github.com/podguard/podguard/policies/engine"
)

// TestReviewSkipsAndRefuses: what Review allows without judging, and why, and which
// requests it refuses as unreadable, whoever asks (webhook, eval, audit).
func TestReviewSkipsAndRefuses(t *testing.T) {
	e := load(t, engine.Options{})
	const pod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"app","image":"app:1"}]}}`
	const owned = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"shop","ownerReferences":[` +
		`{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-1","controller":true}]},"spec":{"containers":[{"name":"app"}]}}`
	const ownedByCRD = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"shop","ownerReferences":[` +
		`{"apiVersion":"example.com/v1","kind":"Workflow","name":"w","controller":true}]},"spec":{"containers":[{"name":"app"}]}}`
	const configMap = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}`
	const deployment = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"template":{"spec":{"containers":[{"name":"app"}]}}}}`
	tests := map[string]struct {
		req        engine.Request
		skip       engine.Skip
		reason     string
		objectErr  string // the *engine.ObjectError's message
		judgedDeny bool   // judged, with denials
	}{
		"DELETE": {
			req:  engine.Request{Operation: engine.Delete, Namespace: "shop"},
			skip: engine.SkipOperation, reason: "podguard does not check DELETE",
		},
		"the status subresource": {
			req:  engine.Request{Operation: engine.Update, Resource: "pods", SubResource: "status", Namespace: "shop", Object: engine.BodyString(pod)},
			skip: engine.SkipSubresource, reason: "podguard does not check the status subresource",
		},
		"a kind the request names that podguard does not judge": {
			req:  engine.Request{Operation: engine.Create, Version: "v1", Kind: "ConfigMap", Namespace: "shop", Object: engine.BodyString(configMap)},
			skip: engine.SkipKind, reason: "podguard does not check v1 ConfigMap",
		},
		"a kind the object has that podguard does not judge": {
			req:  engine.Request{Operation: engine.Create, Namespace: "shop", Object: engine.BodyString(configMap)},
			skip: engine.SkipKind, reason: "podguard does not check v1 ConfigMap",
		},
		"an exempt namespace of the request": {
			req:  engine.Request{Operation: engine.Create, Kind: "Pod", Namespace: "kube-system", Object: engine.BodyString(pod)},
			skip: engine.SkipExempt, reason: "namespace kube-system is exempt from podguard (namespaces.exempt: kube-system)",
		},
		"an exempt namespace of the object": {
			req:  engine.Request{Operation: engine.Create, Object: engine.BodyString(`{"kind":"Pod","metadata":{"name":"p","namespace":"kube-public"}}`)},
			skip: engine.SkipExempt, reason: "namespace kube-public is exempt from podguard (namespaces.exempt: kube-public)",
		},
		"a stored Pod made by a ReplicaSet is left to it": {
			req:  engine.Request{Source: engine.Stored, Operation: engine.Create, Namespace: "shop", Object: engine.BodyString(owned)},
			skip: engine.SkipOwned, reason: "made by ReplicaSet web-1, whose pod template is judged",
		},
		"a stored Pod made by a controller podguard does not judge is judged": {
			req:        engine.Request{Source: engine.Stored, Operation: engine.Create, Namespace: "shop", Object: engine.BodyString(ownedByCRD)},
			judgedDeny: true,
		},
		"a Pod arriving from a ReplicaSet is judged": {
			req:        engine.Request{Operation: engine.Create, Namespace: "shop", Object: engine.BodyString(owned)},
			judgedDeny: true,
		},
		"the mutation of a Deployment": {
			req:  engine.Request{Mutate: true, Operation: engine.Create, Namespace: "shop", Object: engine.BodyString(deployment)},
			skip: engine.SkipOperation, reason: "podguard adds defaults only to new Pods",
		},
		"the mutation of an UPDATE": {
			req:  engine.Request{Mutate: true, Operation: engine.Update, Kind: "Pod", Namespace: "shop", Object: engine.BodyString(pod)},
			skip: engine.SkipOperation, reason: "podguard adds defaults only to new Pods",
		},
		"no object": {
			req:       engine.Request{Operation: engine.Create, Kind: "Pod", Namespace: "shop"},
			objectErr: "the request carries no object (request.object is null or missing)",
		},
		"an object of another kind than the request names": {
			req:       engine.Request{Operation: engine.Create, Kind: "Pod", Namespace: "shop", Object: engine.BodyString(configMap)},
			objectErr: "decoding object: v1 ConfigMap is not checked by podguard",
		},
		"an old object that cannot be read": {
			req:       engine.Request{Operation: engine.Update, Kind: "Pod", Namespace: "shop", Object: engine.BodyString(pod), OldObject: engine.BodyString(`{"kind":`)},
			objectErr: "old object: decoding object: ",
		},
	}
	for desc, tc := range tests {
		t.Run(desc, func(t *testing.T) {
			v, err := e.Review(t.Context(), tc.req)
			var bad *engine.ObjectError
			switch {
			case tc.objectErr != "":
				if !errors.As(err, &bad) || len(err.Error()) < len(tc.objectErr) || err.Error()[:len(tc.objectErr)] != tc.objectErr {
					t.Errorf("error %v, want an ObjectError starting %q", err, tc.objectErr)
				}
			case err != nil:
				t.Fatal(err)
			case v.Skipped != tc.skip || v.Reason != tc.reason:
				t.Errorf("skipped %d %q, want %d %q", v.Skipped, v.Reason, tc.skip, tc.reason)
			case tc.judgedDeny && len(v.Decision.Deny) == 0:
				t.Errorf("judged without denials: %+v", v.Decision)
			}
		})
	}
}
