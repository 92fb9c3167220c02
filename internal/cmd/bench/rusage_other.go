//go:build !unix

package main

// maxRSS is not available without getrusage; the figure is left out.
func maxRSS(children bool) (int64, bool) { return 0, false }
