package webhook

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestMemoryBudgets: the bounds of the request path follow the memory limit (GOMEMLIMIT,
// which the chart sets from the container's limit), and assume the chart's default of
// 512 MiB without one; a body of the largest size always fits the body budget.
func TestMemoryBudgets(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	cases := map[string]struct {
		limit int64
		want  memoryBudgets
	}{
		"no GOMEMLIMIT":     {math.MaxInt64, memoryBudgets{limit: 512 << 20, evaluations: 192 << 20, bodies: 64 << 20, connections: 1024}},
		"GOMEMLIMIT=512MiB": {512 << 20, memoryBudgets{limit: 512 << 20, limitSet: true, evaluations: 192 << 20, bodies: 64 << 20, connections: 1024}},
		"GOMEMLIMIT=2GiB":   {2 << 30, memoryBudgets{limit: 2 << 30, limitSet: true, evaluations: 768 << 20, bodies: 256 << 20, connections: 4096}},
		"GOMEMLIMIT=32MiB":  {32 << 20, memoryBudgets{limit: 32 << 20, limitSet: true, evaluations: 12 << 20, bodies: reviewBytesLimit, connections: 64}},
	}
	for desc, c := range cases {
		t.Run(desc, func(t *testing.T) {
			debug.SetMemoryLimit(c.limit)
			var o Options
			if got := o.memory(); got != c.want {
				t.Errorf("memory() = %+v, want %+v", got, c.want)
			}
			if got := o.withDefaults().MaxConnections; got != c.want.connections {
				t.Errorf("MaxConnections %d by default, want %d", got, c.want.connections)
			}
		})
	}
}
