package random

import (
	"crypto/rand"
	"errors"
	"math/big"
)

// Character classes, as in the official provider.
const (
	lowerChars   = "abcdefghijklmnopqrstuvwxyz"
	upperChars   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	numericChars = "0123456789"
	// defaultSpecialChars is used for special characters unless the program
	// gives overrideSpecial.
	defaultSpecialChars = "!@#$%&*()-_=+[]{}<>:?"
)

// passwordSettings are the checked inputs of a RandomPassword.
type passwordSettings struct {
	Length                                     int
	Lower, Upper, Numeric, Special             bool
	MinLower, MinUpper, MinNumeric, MinSpecial int
	// OverrideSpecial replaces the default special characters when set.
	OverrideSpecial *string
}

func (s passwordSettings) specialChars() string {
	if s.OverrideSpecial != nil {
		return *s.OverrideSpecial
	}
	return defaultSpecialChars
}

// generate returns a new password drawn from crypto/rand.
//
// It first takes the minimum number of characters of each class, then fills
// the rest from every enabled class, and finally shuffles the result so that
// the guaranteed characters are not at fixed positions. A minimum is honoured
// even when its class is otherwise turned off.
func generate(s passwordSettings) (string, error) {
	if s.Length < 1 {
		return "", errors.New("length must be at least 1")
	}
	if s.MinLower+s.MinUpper+s.MinNumeric+s.MinSpecial > s.Length {
		return "", errors.New("length must be at least minLower + minUpper + minNumeric + minSpecial")
	}

	out := make([]byte, 0, s.Length)
	minimums := []struct {
		chars string
		count int
	}{
		{lowerChars, s.MinLower},
		{upperChars, s.MinUpper},
		{numericChars, s.MinNumeric},
		{s.specialChars(), s.MinSpecial},
	}
	for _, m := range minimums {
		if m.count > 0 && m.chars == "" {
			return "", errors.New("minSpecial is above zero but overrideSpecial is empty")
		}
		for range m.count {
			c, err := pick(m.chars)
			if err != nil {
				return "", err
			}
			out = append(out, c)
		}
	}

	pool := ""
	if s.Lower {
		pool += lowerChars
	}
	if s.Upper {
		pool += upperChars
	}
	if s.Numeric {
		pool += numericChars
	}
	if s.Special {
		pool += s.specialChars()
	}
	if len(out) < s.Length && pool == "" {
		return "", errors.New("at least one of lower, upper, numeric and special must be true " +
			"(with a non-empty overrideSpecial for special)")
	}
	for len(out) < s.Length {
		c, err := pick(pool)
		if err != nil {
			return "", err
		}
		out = append(out, c)
	}

	// Fisher-Yates shuffle.
	for i := len(out) - 1; i > 0; i-- {
		j, err := randomIndex(i + 1)
		if err != nil {
			return "", err
		}
		out[i], out[j] = out[j], out[i]
	}
	return string(out), nil
}

func pick(chars string) (byte, error) {
	i, err := randomIndex(len(chars))
	if err != nil {
		return 0, err
	}
	return chars[i], nil
}

func randomIndex(n int) (int, error) {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		return 0, err
	}
	return int(v.Int64()), nil
}
