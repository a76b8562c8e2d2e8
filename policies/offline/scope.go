package offline

import "strings"

// clusterScoped are the built-in kinds of Kubernetes 1.37 that live outside namespaces,
// by API group. eval has no API server to ask, so they are listed here; kinds defined by a
// CustomResourceDefinition in the same input are learnt from it.
var clusterScoped = map[string][]string{
	"":                             {"Namespace", "Node", "PersistentVolume", "ComponentStatus"},
	"admissionregistration.k8s.io": {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"},
	"apiextensions.k8s.io":         {"CustomResourceDefinition"},
	"apiregistration.k8s.io":       {"APIService"},
	"internal.apiserver.k8s.io":    {"StorageVersion"},
	"certificates.k8s.io":          {"CertificateSigningRequest", "ClusterTrustBundle"},
	"flowcontrol.apiserver.k8s.io": {"FlowSchema", "PriorityLevelConfiguration"},
	"networking.k8s.io":            {"IngressClass", "IPAddress", "ServiceCIDR"},
	"node.k8s.io":                  {"RuntimeClass"},
	"rbac.authorization.k8s.io":    {"ClusterRole", "ClusterRoleBinding"},
	"resource.k8s.io":              {"DeviceClass", "DeviceTaintRule", "ResourcePoolStatusRequest", "ResourceSlice"},
	"scheduling.k8s.io":            {"PriorityClass"},
	"storage.k8s.io":               {"CSIDriver", "CSINode", "StorageClass", "VolumeAttachment", "VolumeAttributesClass"},
	"storagemigration.k8s.io":      {"StorageVersionMigration"},
}

// scopes tells cluster-scoped kinds from namespaced ones.
type scopes map[string]bool // "group/Kind" of every cluster-scoped kind known

func newScopes(manifests []Manifest) scopes {
	s := scopes{}
	for group, kinds := range clusterScoped {
		for _, k := range kinds {
			s[group+"/"+k] = true
		}
	}
	for _, m := range manifests {
		if m.Object["kind"] != "CustomResourceDefinition" {
			continue
		}
		spec, _ := m.Object["spec"].(map[string]any)
		names, _ := spec["names"].(map[string]any)
		group, _ := spec["group"].(string)
		kind, _ := names["kind"].(string)
		if spec["scope"] == "Cluster" && kind != "" {
			s[group+"/"+kind] = true
		}
	}
	return s
}

// clusterScoped reports whether an object lives outside namespaces.
func (s scopes) clusterScoped(obj map[string]any) bool {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	group := ""
	if i := strings.LastIndex(apiVersion, "/"); i >= 0 {
		group = apiVersion[:i]
	}
	return s[group+"/"+kind]
}
