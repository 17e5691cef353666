package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Latency summarises a set of durations, in milliseconds.
type Latency struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

func summarize(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) float64 {
		i := int(p*float64(len(s))+0.5) - 1
		return ms(s[min(max(i, 0), len(s)-1)])
	}
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Latency{N: len(s), P50: q(0.50), P99: q(0.99), Max: ms(s[len(s)-1]), Mean: ms(sum / time.Duration(len(s)))}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (l Latency) String() string {
	return fmt.Sprintf("p50 %.2f ms  p99 %.2f ms  max %.2f ms  (n=%d)", l.P50, l.P99, l.Max, l.N)
}

// Machine describes where a run happened, for the report.
type Machine struct {
	CPUs    int    `json:"cpus"`
	CPU     string `json:"cpu"`
	MemMiB  int    `json:"mem_mib"`
	Go      string `json:"go"`
	LoadAvg string `json:"loadavg"`
	When    string `json:"when"`
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), When: time.Now().UTC().Format(time.RFC3339)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if kib := procField("/proc/meminfo", "MemTotal"); kib > 0 {
		m.MemMiB = int(kib >> 10)
	}
	m.LoadAvg = loadAvg()
	return m
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// procField reads a "Name:   123 kB" line of a /proc status file, in KiB.
func procField(path, name string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != name {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			return 0
		}
		n, _ := strconv.ParseInt(fs[0], 10, 64)
		return n
	}
	return 0
}

// Mem is a process's memory at one moment.
type Mem struct {
	RSSKiB      int64  `json:"rss_kib"`
	HWMKiB      int64  `json:"hwm_kib"`
	HeapInuse   uint64 `json:"heap_inuse,omitempty"`
	HeapAlloc   uint64 `json:"heap_alloc,omitempty"`
	Sys         uint64 `json:"sys,omitempty"`
	Goroutines  int    `json:"goroutines,omitempty"`
	StackInuse  uint64 `json:"stack_inuse,omitempty"`
	FromRuntime bool   `json:"from_runtime,omitempty"`
}

// selfMem reads this process's memory after a GC.
func selfMem() Mem {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Mem{
		RSSKiB: procField("/proc/self/status", "VmRSS"), HWMKiB: procField("/proc/self/status", "VmHWM"),
		HeapInuse: ms.HeapInuse, HeapAlloc: ms.HeapAlloc, Sys: ms.Sys, StackInuse: ms.StackInuse,
		Goroutines: runtime.NumGoroutine(), FromRuntime: true,
	}
}

// pidMem reads another process's memory from /proc.
func pidMem(pid int) Mem {
	p := fmt.Sprintf("/proc/%d/status", pid)
	return Mem{RSSKiB: procField(p, "VmRSS"), HWMKiB: procField(p, "VmHWM")}
}

func mib(kib int64) float64 { return float64(kib) / 1024 }
