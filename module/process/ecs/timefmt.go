package ecs

import "time"

// appendTime appends t in UTC as time.RFC3339Nano formats it (the fraction
// without trailing zeros, none for a whole second), in about a third of
// the time: a document carries up to eight timestamps. Times outside
// 1970–9999 take the time package's path.
func appendTime(b []byte, t time.Time) []byte {
	sec := t.Unix()
	if sec < 0 || sec >= maxFastUnix {
		return t.UTC().AppendFormat(b, time.RFC3339Nano)
	}
	days, s := uint64(sec)/86400, uint64(sec)%86400
	y, m, d := civil(days)
	// Filled in place and appended once: byte-wise appends cost a
	// capacity check each.
	var a [30]byte
	copy(a[0:], pairs[2*(y/100):][:2])
	copy(a[2:], pairs[2*(y%100):][:2])
	a[4] = '-'
	copy(a[5:], pairs[2*m:][:2])
	a[7] = '-'
	copy(a[8:], pairs[2*d:][:2])
	a[10] = 'T'
	copy(a[11:], pairs[2*(s/3600):][:2])
	a[13] = ':'
	copy(a[14:], pairs[2*(s/60%60):][:2])
	a[16] = ':'
	copy(a[17:], pairs[2*(s%60):][:2])
	n := 19
	if ns := uint64(t.Nanosecond()); ns != 0 {
		a[19] = '.'
		a[20] = byte('0' + ns/1e8)
		ns %= 1e8
		copy(a[21:], pairs[2*(ns/1e6):][:2])
		copy(a[23:], pairs[2*(ns/1e4%100):][:2])
		copy(a[25:], pairs[2*(ns/100%100):][:2])
		copy(a[27:], pairs[2*(ns%100):][:2])
		n = 29
		for a[n-1] == '0' {
			n--
		}
	}
	a[n] = 'Z'
	return append(b, a[:n+1]...)
}

// maxFastUnix is 10000-01-01T00:00:00Z: appendTime writes four-digit years.
const maxFastUnix = 253402300800

// pairs holds "00" to "99", two bytes each.
const pairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// civil converts days since 1970-01-01 to a proleptic Gregorian date:
// Howard Hinnant's civil_from_days, on 400-year eras.
func civil(days uint64) (year, month, day uint64) {
	z := days + 719468 // days since 0000-03-01
	era := z / 146097
	doe := z - era*146097                                  // day of era, [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // year of era, [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // day of the year from March 1, [0, 365]
	mp := (5*doy + 2) / 153                                // month from March, [0, 11]
	day = doy - (153*mp+2)/5 + 1
	month = mp + 3
	if month > 12 {
		month -= 12
	}
	year = yoe + era*400
	if month <= 2 {
		year++
	}
	return year, month, day
}
