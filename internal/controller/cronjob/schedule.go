package cronjob

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is a parsed cron schedule.
type Schedule interface {
	// Next returns the first activation time strictly after t, or the
	// zero time when there is none within five years.
	Next(t time.Time) time.Time
}

// starBit marks a day-of-month or day-of-week field written as "*" or
// "?" (without a step above 1): such a field does not restrict the day,
// so the other day field alone decides (see dayMatches).
const starBit = uint64(1) << 63

// field is one of the five fields of a cron schedule.
type field struct {
	name     string
	min, max uint
	names    map[string]uint
}

var (
	minuteField = field{name: "minute", min: 0, max: 59}
	hourField   = field{name: "hour", min: 0, max: 23}
	domField    = field{name: "day of month", min: 1, max: 31}
	monthField  = field{name: "month", min: 1, max: 12, names: map[string]uint{
		"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}}
	dowField = field{name: "day of week", min: 0, max: 6, names: map[string]uint{
		"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}}
)

// descriptors are the named schedules and their five-field meaning.
var descriptors = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

// cronSchedule fires at the minutes whose fields are all set in the
// bitmasks; times are computed in loc, or in the location of the time
// given to Next when loc is nil.
type cronSchedule struct {
	minute, hour, dom, month, dow uint64
	loc                           *time.Location
}

// everySchedule fires at a fixed interval ("@every 90s").
type everySchedule struct {
	every time.Duration
}

// ParseSchedule parses a CronJob schedule the way the CronJob controller
// reads it: five fields (minute hour day-of-month month day-of-week, each
// "*", "?", a value or name, a range "a-b", lists "a,b", and steps
// "/n"), or a descriptor (@yearly, @annually, @monthly, @weekly, @daily,
// @midnight, @hourly, "@every <duration>"), optionally preceded by
// "TZ=<zone> " or "CRON_TZ=<zone> ". When the day-of-month and
// day-of-week fields both restrict the day, a day matching either fires
// (as in Vixie cron). Its errors are the cron library's messages,
// unprefixed: they appear verbatim in the UnparseableSchedule event, as
// upstream shows it.
func ParseSchedule(spec string) (Schedule, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, errors.New("empty spec string")
	}
	var loc *time.Location
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		_, rest, _ := strings.Cut(spec, "=")
		zone, rest, _ := strings.Cut(rest, " ")
		var err error
		if loc, err = time.LoadLocation(zone); err != nil {
			return nil, fmt.Errorf("provided bad location %s: %w", zone, err)
		}
		spec = strings.TrimSpace(rest)
	}
	if strings.HasPrefix(spec, "@") {
		if every, ok := strings.CutPrefix(spec, "@every "); ok {
			d, err := time.ParseDuration(strings.TrimSpace(every))
			if err != nil {
				return nil, fmt.Errorf("failed to parse duration %s: %w", spec, err)
			}
			// Whole seconds, at least one, as the cron library does.
			d = max(d.Truncate(time.Second), time.Second)
			return everySchedule{every: d}, nil
		}
		fields, ok := descriptors[spec]
		if !ok {
			return nil, fmt.Errorf("unrecognized descriptor: %s", spec)
		}
		spec = fields
	}
	parts := strings.Fields(spec)
	if len(parts) != 5 {
		return nil, fmt.Errorf("expected exactly 5 fields, found %d: %s", len(parts), parts)
	}
	s := &cronSchedule{loc: loc}
	for i, target := range []struct {
		bits *uint64
		f    field
	}{{&s.minute, minuteField}, {&s.hour, hourField}, {&s.dom, domField}, {&s.month, monthField}, {&s.dow, dowField}} {
		bits, err := parseField(parts[i], target.f)
		if err != nil {
			return nil, err
		}
		*target.bits = bits
	}
	return s, nil
}

// parseField parses one field: comma-separated ranges.
func parseField(text string, f field) (uint64, error) {
	var bits uint64
	for _, expr := range strings.Split(text, ",") {
		b, err := parseRange(expr, f)
		if err != nil {
			return 0, err
		}
		bits |= b
	}
	return bits, nil
}

// parseRange parses "*", "?", "v", "a-b", each optionally with "/step".
func parseRange(expr string, f field) (uint64, error) {
	rangePart, stepPart, hasStep := strings.Cut(expr, "/")
	if strings.Contains(stepPart, "/") {
		return 0, fmt.Errorf("too many slashes: %s", expr)
	}
	var start, end uint
	var extra uint64
	low, high, isRange := strings.Cut(rangePart, "-")
	if low == "*" || low == "?" {
		if isRange {
			return 0, fmt.Errorf("failed to parse int from %s", rangePart)
		}
		start, end, extra = f.min, f.max, starBit
	} else {
		var err error
		if start, err = parseValue(low, f.names); err != nil {
			return 0, err
		}
		end = start
		if isRange {
			if strings.Contains(high, "-") {
				return 0, fmt.Errorf("too many hyphens: %s", expr)
			}
			if end, err = parseValue(high, f.names); err != nil {
				return 0, err
			}
		}
	}
	step := uint(1)
	if hasStep {
		n, err := parseNumber(stepPart)
		if err != nil {
			return 0, err
		}
		step = n
		// "v/step" runs from v to the end of the field.
		if !isRange && extra == 0 {
			end = f.max
		}
		if step > 1 {
			extra = 0
		}
	}
	switch {
	case start < f.min:
		return 0, fmt.Errorf("beginning of range (%d) below minimum (%d): %s", start, f.min, expr)
	case end > f.max:
		return 0, fmt.Errorf("end of range (%d) above maximum (%d): %s", end, f.max, expr)
	case start > end:
		return 0, fmt.Errorf("beginning of range (%d) beyond end of range (%d): %s", start, end, expr)
	case step == 0:
		return 0, fmt.Errorf("step of range should be a positive number: %s", expr)
	}
	var bits uint64
	for v := start; v <= end; v += step {
		bits |= 1 << v
	}
	return bits | extra, nil
}

func parseValue(text string, names map[string]uint) (uint, error) {
	if v, ok := names[strings.ToLower(text)]; ok {
		return v, nil
	}
	return parseNumber(text)
}

func parseNumber(text string) (uint, error) {
	n, err := strconv.Atoi(text)
	if err != nil {
		return 0, fmt.Errorf("failed to parse int from %s: %w", text, err)
	}
	if n < 0 {
		return 0, fmt.Errorf("negative number (%d) not allowed: %s", n, text)
	}
	return uint(n), nil
}

// Next implements Schedule. It walks forward field by field (month, day,
// hour, minute), jumping to the start of the next unit whenever a field
// does not match.
func (s *cronSchedule) Next(t time.Time) time.Time {
	loc := s.loc
	if loc == nil {
		loc = t.Location()
	}
	origLoc := t.Location()
	t = t.In(loc)
	// Activation times are whole minutes, strictly after t.
	t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), 0, 0, loc)
	t = forward(t, t.Add(time.Minute))
	limit := t.Year() + 5
	for t.Year() <= limit {
		switch {
		case !has(s.month, uint(t.Month())):
			t = forward(t, time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, loc))
		case !s.dayMatches(t):
			t = forward(t, time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc))
		case !has(s.hour, uint(t.Hour())):
			t = forward(t, time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, loc))
		case !has(s.minute, uint(t.Minute())):
			t = forward(t, time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute()+1, 0, 0, loc))
		default:
			return t.In(origLoc)
		}
	}
	return time.Time{}
}

// forward returns next, unless a daylight-saving fold made it not later
// than t (a wall-clock time that occurs twice resolves to its first
// occurrence); then it returns t plus one minute.
func forward(t, next time.Time) time.Time {
	if next.After(t) {
		return next
	}
	return t.Add(time.Minute)
}

func (s *cronSchedule) dayMatches(t time.Time) bool {
	domMatch := has(s.dom, uint(t.Day()))
	dowMatch := has(s.dow, uint(t.Weekday()))
	if s.dom&starBit != 0 || s.dow&starBit != 0 {
		return domMatch && dowMatch
	}
	return domMatch || dowMatch
}

func has(bits uint64, v uint) bool {
	return bits&(1<<v) != 0
}

// Next implements Schedule: t plus the interval, on a whole second.
func (s everySchedule) Next(t time.Time) time.Time {
	return t.Add(s.every - time.Duration(t.Nanosecond()))
}
