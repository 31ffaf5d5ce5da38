package render

import (
	"fmt"
	"strconv"
	"strings"
)

// PortPattern returns a regular expression, for nginx's PCRE and Go's RE2 alike, that
// matches exactly the decimal ports from min to max. Both must have the same number of
// digits, as provider ports do (five), so the pattern never matches a port outside the
// range that the provider hands out.
func PortPattern(min, max int) (string, error) {
	lo, hi := strconv.Itoa(min), strconv.Itoa(max)
	if min < 0 || min > max || len(lo) != len(hi) {
		return "", fmt.Errorf("port range %d-%d must be non-empty with bounds of the same number of digits", min, max)
	}
	parts := rangePatterns(lo, hi)
	if len(parts) == 1 {
		return parts[0], nil
	}
	return "(?:" + strings.Join(parts, "|") + ")", nil
}

// rangePatterns returns patterns whose union matches the numbers from lo to hi, two
// digit strings of equal length.
func rangePatterns(lo, hi string) []string {
	if lo == hi {
		return []string{lo}
	}
	rest := len(lo) - 1
	if rest == 0 {
		return []string{digitClass(lo[0], hi[0])}
	}
	if lo[0] == hi[0] {
		var out []string
		for _, p := range rangePatterns(lo[1:], hi[1:]) {
			out = append(out, lo[:1]+p)
		}
		return out
	}
	zeros, nines := strings.Repeat("0", rest), strings.Repeat("9", rest)
	if lo[1:] == zeros && hi[1:] == nines {
		return []string{digitClass(lo[0], hi[0]) + anyDigits(rest)}
	}

	var out []string
	first, last := lo[0], hi[0]
	if lo[1:] != zeros {
		for _, p := range rangePatterns(lo[1:], nines) {
			out = append(out, lo[:1]+p)
		}
		first++
	}
	if hi[1:] != nines {
		last--
	}
	if first <= last {
		out = append(out, digitClass(first, last)+anyDigits(rest))
	}
	if hi[1:] != nines {
		for _, p := range rangePatterns(zeros, hi[1:]) {
			out = append(out, hi[:1]+p)
		}
	}
	return out
}

func digitClass(from, to byte) string {
	if from == to {
		return string(from)
	}
	return "[" + string(from) + "-" + string(to) + "]"
}

func anyDigits(n int) string {
	if n == 1 {
		return "[0-9]"
	}
	return "[0-9]{" + strconv.Itoa(n) + "}"
}
