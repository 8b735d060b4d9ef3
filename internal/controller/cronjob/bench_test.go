package cronjob

import (
	"testing"
	"time"
)

// BenchmarkScheduleNext measures one Next on schedules that skip a lot
// (a day of the year) and little (every five minutes).
func BenchmarkScheduleNext(b *testing.B) {
	for _, spec := range []string{"*/5 * * * *", "30 4 29 2 *", "0 9 * * mon-fri"} {
		b.Run(spec, func(b *testing.B) {
			sched, err := ParseSchedule(spec)
			if err != nil {
				b.Fatal(err)
			}
			at := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
			b.ReportAllocs()
			for b.Loop() {
				at = sched.Next(at)
				if at.Year() > 2400 {
					at = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
				}
			}
		})
	}
}
