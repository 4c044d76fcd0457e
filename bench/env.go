package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// environment returns the rows of the report's environment table.
func environment(stunnelBin, popwireBin string) [][2]string {
	rows := [][2]string{
		{"date", time.Now().UTC().Format("2006-01-02 15:04 UTC")},
		{"CPU", cpuModel()},
		{"cores", fmt.Sprint(runtime.NumCPU())},
		{"kernel", readTrim("/proc/sys/kernel/osrelease")},
		{"load average at start", loadAverage()},
		{"Go", runtime.Version()},
		{"stunnel", stunnelVersion(stunnelBin)},
	}
	if popwireBin != "" {
		out, _ := exec.Command(popwireBin, "--version").CombinedOutput()
		rows = append(rows, [2]string{"popwire", strings.TrimSpace(string(out))})
	}
	return rows
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	return parseCPUModel(b)
}

// parseCPUModel returns the value of the first "model name" line of a /proc/cpuinfo text, or
// "unknown".
func parseCPUModel(cpuinfo []byte) string {
	for line := range bytes.SplitSeq(cpuinfo, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && string(bytes.TrimSpace(k)) == "model name" {
			return string(bytes.TrimSpace(v))
		}
	}
	return "unknown"
}

// loadAverage returns the 1, 5 and 15 minute load averages from /proc/loadavg.
func loadAverage() string {
	f := strings.Fields(readTrim("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// readTrim returns a file's contents without surrounding space, or "unknown".
func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
