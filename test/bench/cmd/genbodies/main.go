// Command genbodies writes the AdmissionReview request bodies of the load benchmark into
// test/bench/bodies. The output is deterministic; the files are committed so that every
// run (and the OPA baseline) sends exactly the same bytes.
//
//	go run ./bench/cmd/genbodies -out bench/bodies
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
)

type obj = map[string]any

func main() {
	out := flag.String("out", "bench/bodies", "directory to write the bodies into")
	flag.Parse()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	bodies := map[string]obj{
		"pod-compliant.json":      review("Pod", "", "v1", "pods", compliantPod()),
		"pod-violating.json":      review("Pod", "", "v1", "pods", violatingPod()),
		"pod-100k.json":           review("Pod", "", "v1", "pods", largePod()),
		"deployment.json":         review("Deployment", "apps", "v1", "deployments", deployment()),
		"pod-needs-defaults.json": review("Pod", "", "v1", "pods", needsDefaultsPod()),
	}
	for name, b := range bodies {
		js, err := json.Marshal(b)
		if err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(*out, name), append(js, '\n'), 0o644); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%-26s %7d bytes\n", name, len(js)+1)
	}
}

// review wraps an object in a CREATE AdmissionReview as the API server sends it.
func review(kind, group, version, resource string, object obj) obj {
	meta := object["metadata"].(obj)
	name, _ := meta["name"].(string)
	gvk := obj{"group": group, "version": version, "kind": kind}
	gvr := obj{"group": group, "version": version, "resource": resource}
	return obj{
		"apiVersion": "admission.k8s.io/v1",
		"kind":       "AdmissionReview",
		"request": obj{
			"uid":             "0d6f3a57-7a3e-4c1e-9d55-3d3f0c6f8a01",
			"kind":            gvk,
			"resource":        gvr,
			"requestKind":     gvk,
			"requestResource": gvr,
			"name":            name,
			"namespace":       "shop",
			"operation":       "CREATE",
			"userInfo": obj{
				"username": "system:serviceaccount:kube-system:replicaset-controller",
				"uid":      "6b2f0f5e-3f0e-4a4f-9c4e-0a4b8e8f1c2d",
				"groups":   []any{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"},
			},
			"object":    object,
			"oldObject": nil,
			"dryRun":    false,
			"options":   obj{"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
		},
	}
}

func probe(path string, port int) obj {
	return obj{
		"httpGet":             obj{"path": path, "port": port, "scheme": "HTTP"},
		"initialDelaySeconds": 5, "timeoutSeconds": 1, "periodSeconds": 10,
		"successThreshold": 1, "failureThreshold": 3,
	}
}

func resources(cpuReq, memReq, cpuLim, memLim string) obj {
	return obj{
		"requests": obj{"cpu": cpuReq, "memory": memReq},
		"limits":   obj{"cpu": cpuLim, "memory": memLim},
	}
}

func securityContext() obj {
	return obj{
		"allowPrivilegeEscalation": false,
		"readOnlyRootFilesystem":   true,
		"runAsNonRoot":             true,
		"capabilities":             obj{"drop": []any{"ALL"}},
		"seccompProfile":           obj{"type": "RuntimeDefault"},
	}
}

// podDefaults are the fields the API server fills in on every stored Pod.
func podDefaults(spec obj) obj {
	spec["restartPolicy"] = "Always"
	spec["terminationGracePeriodSeconds"] = 30
	spec["dnsPolicy"] = "ClusterFirst"
	spec["serviceAccountName"] = "default"
	spec["serviceAccount"] = "default"
	spec["securityContext"] = obj{"runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001}
	spec["schedulerName"] = "default-scheduler"
	spec["tolerations"] = []any{
		obj{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
		obj{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
	}
	spec["priority"] = 0
	spec["enableServiceLinks"] = true
	spec["preemptionPolicy"] = "PreemptLowerPriority"
	return spec
}

func tokenVolume() obj {
	return obj{
		"name": "kube-api-access-x7k2p",
		"projected": obj{
			"defaultMode": 420,
			"sources": []any{
				obj{"serviceAccountToken": obj{"expirationSeconds": 3607, "path": "token"}},
				obj{"configMap": obj{"name": "kube-root-ca.crt", "items": []any{obj{"key": "ca.crt", "path": "ca.crt"}}}},
				obj{"downwardAPI": obj{"items": []any{obj{"path": "namespace", "fieldRef": obj{"apiVersion": "v1", "fieldPath": "metadata.namespace"}}}}},
			},
		},
	}
}

func tokenMount() obj {
	return obj{"name": "kube-api-access-x7k2p", "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
}

func container(name, image string, port int) obj {
	return obj{
		"name":  name,
		"image": image,
		"ports": []any{obj{"name": "http", "containerPort": port, "protocol": "TCP"}},
		"env": []any{
			obj{"name": "LOG_LEVEL", "value": "info"},
			obj{"name": "POD_NAME", "valueFrom": obj{"fieldRef": obj{"apiVersion": "v1", "fieldPath": "metadata.name"}}},
			obj{"name": "DB_PASSWORD", "valueFrom": obj{"secretKeyRef": obj{"name": "checkout-db", "key": "password"}}},
		},
		"resources":                resources("250m", "256Mi", "1", "512Mi"),
		"volumeMounts":             []any{obj{"name": "config", "mountPath": "/etc/checkout", "readOnly": true}, tokenMount()},
		"livenessProbe":            probe("/healthz", port),
		"readinessProbe":           probe("/readyz", port),
		"terminationMessagePath":   "/dev/termination-log",
		"terminationMessagePolicy": "File",
		"imagePullPolicy":          "IfNotPresent",
		"securityContext":          securityContext(),
	}
}

func podMeta(name string) obj {
	return obj{
		"name":         name,
		"generateName": "checkout-7d9c8b6f5d-",
		"namespace":    "shop",
		"labels": obj{
			"app.kubernetes.io/name":    "checkout",
			"app.kubernetes.io/part-of": "shop",
			"app.kubernetes.io/version": "3.14.1",
			"pod-template-hash":         "7d9c8b6f5d",
		},
		"annotations": obj{
			"prometheus.io/scrape": "true",
			"prometheus.io/port":   "9090",
		},
		"ownerReferences": []any{obj{
			"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "checkout-7d9c8b6f5d",
			"uid": "f2b8a1c4-6c2d-4f5e-8a7b-9c0d1e2f3a4b", "controller": true, "blockOwnerDeletion": true,
		}},
	}
}

// compliantPod passes every rule: a typical Pod of a Deployment as the API server stores it.
func compliantPod() obj {
	migrate := obj{
		"name":                     "migrate",
		"image":                    "registry.example.com/shop/checkout-migrate:3.14.1",
		"args":                     []any{"--wait-for-db", "--timeout=60s"},
		"resources":                resources("100m", "64Mi", "500m", "128Mi"),
		"volumeMounts":             []any{tokenMount()},
		"terminationMessagePath":   "/dev/termination-log",
		"terminationMessagePolicy": "File",
		"imagePullPolicy":          "IfNotPresent",
		"securityContext":          securityContext(),
	}
	proxy := container("proxy", "registry.example.com/shop/envoy:1.31.2", 9901)
	proxy["resources"] = resources("50m", "64Mi", "200m", "128Mi")
	return obj{
		"apiVersion": "v1",
		"kind":       "Pod",
		"metadata":   podMeta("checkout-7d9c8b6f5d-x2x7q"),
		"spec": podDefaults(obj{
			"initContainers": []any{migrate},
			"containers":     []any{container("app", "registry.example.com/shop/checkout:3.14.1", 8080), proxy},
			"volumes":        []any{obj{"name": "config", "configMap": obj{"name": "checkout", "defaultMode": 420}}, tokenVolume()},
			"nodeSelector":   obj{"kubernetes.io/os": "linux"},
		}),
	}
}

// violatingPod breaks every rule that is on by default: no labels, no requests or limits,
// no probes (on a container and a native sidecar), an image without a tag and one on latest.
func violatingPod() obj {
	app := obj{"name": "app", "image": "nginx", "ports": []any{obj{"containerPort": 80, "protocol": "TCP"}},
		"terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File", "imagePullPolicy": "Always"}
	sidecar := obj{"name": "log-shipper", "image": "fluent/fluent-bit:latest", "restartPolicy": "Always",
		"terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File", "imagePullPolicy": "Always"}
	return obj{
		"apiVersion": "v1",
		"kind":       "Pod",
		"metadata":   obj{"name": "scratch", "namespace": "shop"},
		"spec": podDefaults(obj{
			"initContainers": []any{sidecar},
			"containers":     []any{app},
			"volumes":        []any{tokenVolume()},
		}),
	}
}

// needsDefaultsPod lacks requests and limits only: the mutating webhook fills them in.
func needsDefaultsPod() obj {
	p := compliantPod()
	for _, c := range p["spec"].(obj)["containers"].([]any) {
		delete(c.(obj), "resources")
	}
	return p
}

// largePod is a compliant Pod of about 100 KB: ten containers with long environments,
// many mounts and ports, as large platform Pods have.
func largePod() obj {
	var containers, volumes []any
	for i := range 10 {
		c := container(fmt.Sprintf("worker-%d", i), fmt.Sprintf("registry.example.com/platform/worker-%d:2.7.%d", i, i), 8080+i)
		env := c["env"].([]any)
		for j := range 82 {
			switch j % 4 {
			case 0:
				env = append(env, obj{"name": fmt.Sprintf("FEATURE_FLAG_%02d_ENABLED", j), "value": "true"})
			case 1:
				env = append(env, obj{"name": fmt.Sprintf("UPSTREAM_%02d_URL", j), "value": fmt.Sprintf("https://upstream-%02d.platform.svc.cluster.local:8443/api/v2", j)})
			case 2:
				env = append(env, obj{"name": fmt.Sprintf("SECRET_%02d", j), "valueFrom": obj{"secretKeyRef": obj{"name": fmt.Sprintf("worker-%d-secrets", i), "key": fmt.Sprintf("secret-%02d", j)}}})
			case 3:
				env = append(env, obj{"name": fmt.Sprintf("SETTING_%02d", j), "valueFrom": obj{"configMapKeyRef": obj{"name": "platform-settings", "key": fmt.Sprintf("setting-%02d", j), "optional": true}}})
			}
		}
		c["env"] = env
		mounts := c["volumeMounts"].([]any)
		for j := range 6 {
			mounts = append(mounts, obj{"name": fmt.Sprintf("data-%d-%d", i, j), "mountPath": fmt.Sprintf("/var/lib/worker/shard-%d", j), "subPath": fmt.Sprintf("worker-%d", i)})
		}
		c["volumeMounts"] = mounts
		c["args"] = []any{"--config=/etc/checkout/worker.yaml", fmt.Sprintf("--shard=%d", i), "--metrics-addr=:9090", "--log-format=json", "--graceful-shutdown=25s"}
		c["livenessProbe"] = obj{"exec": obj{"command": []any{"/bin/worker", "health", "--live"}}, "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3}
		containers = append(containers, c)
		for j := range 6 {
			volumes = append(volumes, obj{"name": fmt.Sprintf("data-%d-%d", i, j), "persistentVolumeClaim": obj{"claimName": fmt.Sprintf("worker-data-%d-%d", i, j)}})
		}
	}
	volumes = append(volumes, obj{"name": "config", "configMap": obj{"name": "checkout", "defaultMode": 420}}, tokenVolume())
	meta := podMeta("platform-workers-5f7c9d8b4-qz8wl")
	meta["labels"].(obj)["app.kubernetes.io/name"] = "platform-workers"
	return obj{
		"apiVersion": "v1",
		"kind":       "Pod",
		"metadata":   meta,
		"spec": podDefaults(obj{
			"containers": containers,
			"volumes":    volumes,
			"affinity": obj{"podAntiAffinity": obj{"preferredDuringSchedulingIgnoredDuringExecution": []any{obj{
				"weight": 100,
				"podAffinityTerm": obj{"topologyKey": "kubernetes.io/hostname",
					"labelSelector": obj{"matchLabels": obj{"app.kubernetes.io/name": "platform-workers"}}},
			}}}},
		}),
	}
}

// deployment is a compliant Deployment as kubectl apply sends it.
func deployment() obj {
	tmplSpec := obj{
		"containers": []any{container("app", "registry.example.com/shop/checkout:3.14.1", 8080)},
		"volumes":    []any{obj{"name": "config", "configMap": obj{"name": "checkout"}}},
	}
	for _, c := range tmplSpec["containers"].([]any) {
		c := c.(obj)
		delete(c, "terminationMessagePath")
		delete(c, "terminationMessagePolicy")
		delete(c, "imagePullPolicy")
		c["volumeMounts"] = []any{obj{"name": "config", "mountPath": "/etc/checkout", "readOnly": true}}
	}
	labels := obj{"app.kubernetes.io/name": "checkout", "app.kubernetes.io/part-of": "shop", "app.kubernetes.io/version": "3.14.1"}
	return obj{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata": obj{
			"name":      "checkout",
			"namespace": "shop",
			"labels":    labels,
		},
		"spec": obj{
			"replicas":             3,
			"revisionHistoryLimit": 10,
			"selector":             obj{"matchLabels": obj{"app.kubernetes.io/name": "checkout"}},
			"strategy":             obj{"type": "RollingUpdate", "rollingUpdate": obj{"maxSurge": "25%", "maxUnavailable": 0}},
			"template": obj{
				"metadata": obj{"labels": labels, "annotations": obj{"prometheus.io/scrape": "true", "prometheus.io/port": "9090"}},
				"spec":     tmplSpec,
			},
		},
	}
}
