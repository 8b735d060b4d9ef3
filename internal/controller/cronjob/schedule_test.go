package cronjob

import (
	"strings"
	"testing"
	"time"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return v
}

func TestScheduleNext(t *testing.T) {
	tests := []struct {
		name string
		spec string
		from string
		want []string // successive activations
	}{
		{name: "every minute", spec: "* * * * *", from: "2024-03-01T10:00:30Z",
			want: []string{"2024-03-01T10:01:00Z", "2024-03-01T10:02:00Z"}},
		{name: "strictly after an activation", spec: "*/15 * * * *", from: "2024-03-01T10:15:00Z",
			want: []string{"2024-03-01T10:30:00Z", "2024-03-01T10:45:00Z", "2024-03-01T11:00:00Z"}},
		{name: "hourly descriptor", spec: "@hourly", from: "2024-03-01T10:59:59Z",
			want: []string{"2024-03-01T11:00:00Z", "2024-03-01T12:00:00Z"}},
		{name: "daily descriptor rolls over the month", spec: "@daily", from: "2024-02-29T12:00:00Z",
			want: []string{"2024-03-01T00:00:00Z"}},
		{name: "weekly is sundays", spec: "@weekly", from: "2024-03-01T00:00:00Z",
			want: []string{"2024-03-03T00:00:00Z", "2024-03-10T00:00:00Z"}},
		{name: "monthly", spec: "@monthly", from: "2024-01-31T00:00:00Z",
			want: []string{"2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"}},
		{name: "yearly", spec: "@yearly", from: "2024-06-01T00:00:00Z",
			want: []string{"2025-01-01T00:00:00Z"}},
		{name: "ranges lists and names", spec: "30 9-10 * jan,mar mon-wed", from: "2024-02-01T00:00:00Z",
			want: []string{"2024-03-04T09:30:00Z", "2024-03-04T10:30:00Z", "2024-03-05T09:30:00Z"}},
		{name: "value with step runs to the end of the field", spec: "50/5 * * * *", from: "2024-03-01T10:00:00Z",
			want: []string{"2024-03-01T10:50:00Z", "2024-03-01T10:55:00Z", "2024-03-01T11:50:00Z"}},
		{name: "day of month or day of week when both are restricted", spec: "0 0 13 * 5", from: "2024-09-01T00:00:00Z",
			want: []string{"2024-09-06T00:00:00Z", "2024-09-13T00:00:00Z", "2024-09-20T00:00:00Z", "2024-09-27T00:00:00Z", "2024-10-04T00:00:00Z"}},
		{name: "day of month and a star day of week", spec: "0 0 31 * *", from: "2024-04-01T00:00:00Z",
			want: []string{"2024-05-31T00:00:00Z", "2024-07-31T00:00:00Z"}},
		{name: "february 29", spec: "0 0 29 2 *", from: "2024-03-01T00:00:00Z",
			want: []string{"2028-02-29T00:00:00Z"}},
		{name: "TZ prefix", spec: "TZ=Asia/Tokyo 0 9 * * *", from: "2024-03-01T00:00:00Z",
			want: []string{"2024-03-02T00:00:00Z"}},
		{name: "every", spec: "@every 90s", from: "2024-03-01T00:00:00.5Z",
			want: []string{"2024-03-01T00:01:30Z", "2024-03-01T00:03:00Z"}},
		{name: "spring forward gap is skipped", spec: "TZ=America/New_York 30 2 * * *", from: "2024-03-09T12:00:00Z",
			want: []string{"2024-03-11T06:30:00Z"}},
		{name: "fall back hour runs once per wall clock", spec: "TZ=America/New_York 0 * * * *", from: "2024-11-03T04:30:00Z",
			want: []string{"2024-11-03T05:00:00Z", "2024-11-03T07:00:00Z"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sched, err := ParseSchedule(tc.spec)
			if err != nil {
				t.Fatalf("ParseSchedule(%q): %v", tc.spec, err)
			}
			at := mustTime(t, tc.from)
			if tc.name == "every" {
				at = time.Date(2024, 3, 1, 0, 0, 0, 5e8, time.UTC)
			}
			for i, want := range tc.want {
				at = sched.Next(at)
				if w := mustTime(t, want); !at.Equal(w) {
					t.Fatalf("activation %d: got %s, want %s", i+1, at.UTC().Format(time.RFC3339), want)
				}
			}
		})
	}
}

func TestParseScheduleErrors(t *testing.T) {
	tests := []struct {
		spec    string
		wantErr string
	}{
		{"", "empty spec string"},
		{"* * * *", "expected exactly 5 fields, found 4"},
		{"60 * * * *", "end of range (60) above maximum (59)"},
		{"* * 0 * *", "beginning of range (0) below minimum (1)"},
		{"5-1 * * * *", "beginning of range (5) beyond end of range (1)"},
		{"*/0 * * * *", "step of range should be a positive number"},
		{"a * * * *", "failed to parse int from a"},
		{"1-2-3 * * * *", "too many hyphens"},
		{"*/2/3 * * * *", "too many slashes"},
		{"@fortnightly", "unrecognized descriptor: @fortnightly"},
		{"TZ=Mars/Olympus * * * * *", "provided bad location Mars/Olympus"},
		{"* * * * 7", "end of range (7) above maximum (6)"},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			_, err := ParseSchedule(tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("ParseSchedule(%q) error = %v, want one containing %q", tc.spec, err, tc.wantErr)
			}
		})
	}
}
