package stagecost

import (
	"bufio"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of /proc/stat's counters (USER_HZ, 100 on every
// Linux ccq runs on).
const userHZ = 100

// maxTicks is the largest tick count a time.Duration holds.
const maxTicks = uint64(math.MaxInt64 / int64(time.Second/userHZ))

// machineCPU is the CPU time all processes of the machine have used so
// far, summed over its CPUs (the busy columns of /proc/stat's first line:
// user, nice, system, irq, softirq, steal), and whether it is known.
func machineCPU() (time.Duration, bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, false
	}
	return parseProcStatCPU(sc.Text())
}

// parseProcStatCPU reads the aggregate "cpu" line of /proc/stat.
func parseProcStatCPU(line string) (time.Duration, bool) {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, false
	}
	var ticks uint64
	// user nice system idle iowait irq softirq steal: all but idle and iowait.
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return 0, false
		}
		ticks += v
		if v > maxTicks || ticks > maxTicks {
			return 0, false // beyond a time.Duration: not a real counter
		}
	}
	return time.Duration(ticks) * (time.Second / userHZ), true
}
