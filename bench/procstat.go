package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat (proc(5)). It is 100 on
// every Linux architecture Go supports; getconf CLK_TCK reports the same.
const clockTicks = 100

// cpuSeconds returns the user plus system CPU time, in seconds, that process pid and all its
// threads have used so far, from /proc/PID/stat.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: cpu time: %w", err)
	}
	ticks, err := parseStatTicks(b)
	if err != nil {
		return 0, err
	}
	return float64(ticks) / clockTicks, nil
}

// parseStatTicks returns utime+stime (fields 14 and 15 of proc(5)) from the contents of a
// /proc/PID/stat file. Fields are counted after the last ')' because the command name in
// field 2 may itself contain spaces and parentheses.
func parseStatTicks(stat []byte) (uint64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("bench: /proc stat: no command field")
	}
	f := bytes.Fields(stat[i+1:])
	// f[0] is field 3 (state), so field k is f[k-3].
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: /proc stat: %d fields after the command", len(f))
	}
	u, err := strconv.ParseUint(string(f[11]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bench: /proc stat utime: %w", err)
	}
	s, err := strconv.ParseUint(string(f[12]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bench: /proc stat stime: %w", err)
	}
	return u + s, nil
}

// rssBytes returns the resident set size of process pid, from VmRSS in /proc/PID/status.
func rssBytes(pid int) (int64, error) {
	return statusBytes(pid, "VmRSS")
}

// peakRSSBytes returns the largest resident set size process pid has had, from VmHWM in
// /proc/PID/status.
func peakRSSBytes(pid int) (int64, error) {
	return statusBytes(pid, "VmHWM")
}

// statusBytes returns a size field of /proc/PID/status in bytes.
func statusBytes(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: %s: %w", field, err)
	}
	return parseStatusKiB(b, field)
}

// parseStatusKiB returns the size field (VmRSS, VmHWM, …) of a /proc/PID/status file in
// bytes (the file gives kB, meaning KiB).
func parseStatusKiB(status []byte, field string) (int64, error) {
	for line := range bytes.SplitSeq(status, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte(field+":"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("bench: /proc status: malformed %s %q", field, line)
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: /proc status %s: %w", field, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("bench: /proc status: no %s line", field)
}
