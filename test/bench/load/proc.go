package load

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ProcStatus reads a kilobyte field (VmRSS, VmHWM) of /proc/<pid>/status, in bytes.
func ProcStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, field+":") {
			continue
		}
		f := strings.Fields(strings.TrimPrefix(line, field+":"))
		if len(f) == 0 {
			break
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		return kb * 1024, err
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// OpenFDs counts the open file descriptors of a process.
func OpenFDs(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents), err
}

// Threads is the Threads: field of /proc/<pid>/status.
func Threads(pid int) (int, error) {
	n, err := ProcStatus(pid, "Threads")
	return int(n / 1024), err
}

// RSSSampler records the highest VmRSS of a process while it runs, and the highest
// RssAnon: the part that is not pages of files, which the kernel cannot reclaim without
// swap.
type RSSSampler struct {
	mu       sync.Mutex
	peak     int64
	peakAnon int64
	cancel   context.CancelFunc
	done     chan struct{}
}

// SampleRSS polls VmRSS and RssAnon every interval until Stop.
func SampleRSS(pid int, interval time.Duration) *RSSSampler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &RSSSampler{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			v, err := ProcStatus(pid, "VmRSS")
			anon, errAnon := ProcStatus(pid, "RssAnon")
			s.mu.Lock()
			if err == nil {
				s.peak = max(s.peak, v)
			}
			if errAnon == nil {
				s.peakAnon = max(s.peakAnon, anon)
			}
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop ends sampling and returns the peak in bytes.
func (s *RSSSampler) Stop() int64 {
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// PeakAnon is the highest RssAnon sampled, in bytes.
func (s *RSSSampler) PeakAnon() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peakAnon
}
