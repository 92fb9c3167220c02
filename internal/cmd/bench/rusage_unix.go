//go:build unix

package main

import (
	"runtime"
	"syscall"
)

// maxRSS is the peak resident set of this process, or of its largest reaped child,
// in bytes.
func maxRSS(children bool) (int64, bool) {
	who := syscall.RUSAGE_SELF
	if children {
		who = syscall.RUSAGE_CHILDREN
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0, false
	}
	n := int64(ru.Maxrss)
	if runtime.GOOS != "darwin" && runtime.GOOS != "ios" {
		n *= 1024 // kilobytes everywhere but Apple's systems
	}
	return n, true
}
