package codec

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/cpu"
)

// TestAVX2Detected checks codec's own AVX2 check against golang.org/x/sys/cpu's, and says
// which versions of scanLines the other tests reach on this machine.
func TestAVX2Detected(t *testing.T) {
	if strings.Contains(os.Getenv("GODEBUG"), "cpu.") {
		t.Skip("GODEBUG changes what golang.org/x/sys/cpu reports, not what hasAVX2 does")
	}
	if hasAVX2 != cpu.X86.HasAVX2 {
		t.Fatalf("hasAVX2 = %v, golang.org/x/sys/cpu says %v", hasAVX2, cpu.X86.HasAVX2)
	}
	if !hasAVX2 {
		t.Log("no AVX2 here: scanFast runs scanLinesSSE2, as scanBaseline does")
	}
}
