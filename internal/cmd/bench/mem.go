package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// memSampler records the peak memory of the run. The Go runtime's own counters are
// sampled because they fall again after a collection; Azurite is a separate node
// process, whose peak the kernel keeps (VmHWM), so it is read once at the end.
type memSampler struct {
	mu                      sync.Mutex
	heapSys, sys, heapInuse uint64
	azPid                   int
	azHWM, azRSS            int64 // bytes
	done                    chan struct{}
	once                    sync.Once
	wg                      sync.WaitGroup
}

func startMemSampler() *memSampler {
	s := &memSampler{done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-s.done:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *memSampler) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.heapSys = max(s.heapSys, ms.HeapSys)
	s.sys = max(s.sys, ms.Sys)
	s.heapInuse = max(s.heapInuse, ms.HeapInuse)
	if s.azPid > 0 {
		if v, ok := procStatus(s.azPid, "VmRSS"); ok {
			s.azRSS = max(s.azRSS, v)
		}
		if v, ok := procStatus(s.azPid, "VmHWM"); ok {
			s.azHWM = max(s.azHWM, v)
		}
	}
}

// watchAzurite finds the emulator among this process's children: testenv keeps its
// process handle to itself, but /proc knows whose child it is.
func (s *memSampler) watchAzurite() {
	pid := findChild("azurite")
	s.mu.Lock()
	s.azPid = pid
	s.mu.Unlock()
}

// stop takes a last sample (Azurite must still be running) and ends sampling.
func (s *memSampler) stop() {
	s.once.Do(func() {
		close(s.done)
		s.wg.Wait()
		s.sample()
	})
}

// memoryFigures reports the peaks. Azurite's peak comes from /proc; where that is not
// available, RUSAGE_CHILDREN after the emulator was reaped says the same.
func (b *bench) memoryFigures() {
	s := b.mem
	s.mu.Lock()
	defer s.mu.Unlock()
	const mib = 1 << 20
	b.add(Figure{Group: "memory", Name: "Go heap, peak (HeapSys)", Value: float64(s.heapSys) / mib, Unit: "MiB",
		Note: fmt.Sprintf("peak in use %.0f MiB; sampled every 100 ms", float64(s.heapInuse)/mib)})
	b.add(Figure{Group: "memory", Name: "Go runtime memory, peak (Sys)", Value: float64(s.sys) / mib, Unit: "MiB"})
	if rss, ok := maxRSS(false); ok {
		b.add(Figure{Group: "memory", Name: "bench process max RSS (getrusage)", Value: float64(rss) / mib, Unit: "MiB",
			Note: "engine + HTTP server + clients, in one process; Azurite not included"})
	}
	switch {
	case s.azHWM > 0:
		b.add(Figure{Group: "memory", Name: "Azurite max RSS (VmHWM)", Value: float64(s.azHWM) / mib, Unit: "MiB",
			Note: fmt.Sprintf("node process %d", s.azPid)})
	default:
		if rss, ok := maxRSS(true); ok && rss > 0 {
			b.add(Figure{Group: "memory", Name: "Azurite max RSS (getrusage children)", Value: float64(rss) / mib, Unit: "MiB",
				Note: "largest reaped child: the emulator"})
		}
	}
}

// findChild returns the pid of a child of this process whose command line contains
// word, or 0.
func findChild(word string) int {
	me := os.Getpid()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if pp, ok := procStatus(pid, "PPid"); !ok || int(pp) != me {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmd), word) {
			return pid
		}
	}
	return 0
}

// procStatus reads one numeric field of /proc/<pid>/status; sizes (kB) come back in bytes.
func procStatus(pid int, field string) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || name != field {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0, false
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, false
		}
		if len(f) > 1 && f[1] == "kB" {
			n *= 1024
		}
		return n, true
	}
	return 0, false
}
