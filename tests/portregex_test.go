package tests

import (
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"stf-farm/components/render"
)

func TestPortPatternMatchesExactRange(t *testing.T) {
	ranges := [][2]int{
		{15000, 15500}, {10000, 65535}, {15000, 15000}, {12345, 12346}, {19999, 20000},
		{10001, 99998}, {15090, 15111}, {40000, 49999}, {55555, 56789},
	}
	for _, r := range ranges {
		pattern, err := render.PortPattern(r[0], r[1])
		require.NoError(t, err)
		re := regexp.MustCompile("^" + pattern + "$")
		for port := 10000; port <= 99999; port++ {
			want := port >= r[0] && port <= r[1]
			if re.MatchString(strconv.Itoa(port)) != want {
				assert.Failf(t, "wrong match", "pattern %s for %d-%d: port %d matched=%v", pattern, r[0], r[1], port, !want)
				break
			}
		}
	}
}

func TestPortPatternRejectsBadRange(t *testing.T) {
	_, err := render.PortPattern(15500, 15000)
	assert.Error(t, err, "an empty range")
	_, err = render.PortPattern(9000, 15000)
	assert.Error(t, err, "bounds of different lengths")
}

func TestPortPatternIsCompact(t *testing.T) {
	pattern, err := render.PortPattern(15000, 15500)
	require.NoError(t, err)
	assert.Equal(t, "(?:15[0-4][0-9]{2}|15500)", pattern)
}
