//go:build !unix

package tokens

import "time"

// processCPU is unavailable here: the paired benchmarks report wall-clock
// ratios only.
func processCPU() time.Duration { return 0 }
