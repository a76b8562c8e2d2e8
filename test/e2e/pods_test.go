package e2e

import (
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// sample reads one of the Pods in test/samples, the same files `make demo` applies.
func sample(t testing.TB, name string) *corev1.Pod {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "samples", name))
	if err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(b, &pod); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &pod
}

// violatingPod is used to probe whether podguard is being called: it breaks image-tag.
func violatingPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metaName(name),
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:latest"}}},
	}
}

func intOrString(port int) intstr.IntOrString { return intstr.FromInt32(int32(port)) }
